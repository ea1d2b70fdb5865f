//! TPC-H for query-job tests: `scripts/tpch.py` (DuckDB's generator and answers) run by
//! the Python scripts/test.sh installs.

use std::path::{Path, PathBuf};

pub const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

/// A Python with duckdb and duckdb-extension-tpch; a missing one fails the test loudly.
pub fn python() -> PathBuf {
    let var = "SPINDLE_TEST_TPCH_PYTHON";
    PathBuf::from(std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: scripts/test.sh installs duckdb into target/tools and sets it")
    }))
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tpch.py")
}

/// A count over pairs of lineitem rows: a few seconds of work for two workers at scale
/// factor 0.01, long enough to lose one of them mid-query.
pub const SECONDS_OF_PAIRS: &str = "SELECT count(*) AS n FROM lineitem a, \
    (SELECT l_comment FROM lineitem WHERE l_linenumber <= 4) b WHERE a.l_comment < b.l_comment";

/// [`SECONDS_OF_PAIRS`] as DuckDB answers it over the parquet files of `lineitem_dir`.
pub fn pairs_by_duckdb(lineitem_dir: &Path) -> String {
    let duckdb = format!(
        "import duckdb\nduckdb.execute('SET enable_progress_bar=false')\n\
         t = \"read_parquet('{}')\"\n\
         print(duckdb.sql(f\"SELECT count(*) FROM {{t}} a, (SELECT l_comment FROM {{t}} \
         WHERE l_linenumber <= 4) b WHERE a.l_comment < b.l_comment\").fetchone()[0])",
        lineitem_dir.join("*.parquet").display()
    );
    let expected = std::process::Command::new(python())
        .arg("-c")
        .arg(&duckdb)
        .output()
        .unwrap();
    assert!(
        expected.status.success(),
        "{}",
        String::from_utf8_lossy(&expected.stderr)
    );
    String::from_utf8_lossy(&expected.stdout).trim().to_string()
}
