//! TPC-H for query-job tests: `scripts/tpch.py` (DuckDB's generator and answers) run by
//! the Python scripts/test.sh installs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// TPC-H at scale factor 0.01 (lineitem and orders in 4 files each), its queries and
/// DuckDB's answers, made once per test process.
pub fn data() -> &'static Path {
    static DATA: OnceLock<tempfile::TempDir> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), 4);
        dir
    })
    .path()
}

/// TPC-H at scale factor 0.01 into `dir` (lineitem and orders in `files` files each),
/// with its queries and DuckDB's answers.
pub fn generate(dir: &Path, files: u32) {
    let out = Command::new(python())
        .arg(script())
        .args(["gen", "--sf", "0.01", "--files", &files.to_string()])
        .arg(dir)
        .output()
        .expect("run scripts/tpch.py");
    assert!(out.status.success(), "tpch.py gen: {}", super::text(&out));
}

/// A query job over the TPC-H tables with `keys` (whole lines of YAML) added, in small
/// splits, writing csv to `out`.
pub fn query_spec_with(name: &str, query: &str, out: &Path, keys: &str) -> String {
    query_spec_over(name, &tables(), query, out, keys)
}

/// The TPC-H tables of [`data`], each a directory of parquet files.
pub fn tables() -> Vec<(&'static str, PathBuf)> {
    TABLES.iter().map(|t| (*t, data().join(t))).collect()
}

/// A query job over `tables` (each a directory of parquet files) with `keys` added, in
/// small splits, writing csv to `out`.
pub fn query_spec_over(
    name: &str,
    tables: &[(&str, PathBuf)],
    query: &str,
    out: &Path,
    keys: &str,
) -> String {
    let mut spec = format!("name: {name}\n{keys}inputs:\n");
    for (t, dir) in tables {
        spec.push_str(&format!(
            "  {t}: {{ path: \"{}\", format: parquet }}\n",
            dir.display()
        ));
    }
    spec.push_str("split_size: 256 KiB\nquery: |\n");
    for line in query.lines() {
        spec.push_str(&format!("  {line}\n"));
    }
    spec.push_str(&format!(
        "output: {{ path: \"{}\", format: csv }}\n",
        out.display()
    ));
    spec
}

/// DuckDB's answer to `query` over `tables` (each a directory of parquet files), as csv
/// with a header at `out`.
pub fn duckdb_answer(tables: &[(&str, PathBuf)], query: &str, out: &Path) {
    let mut program = String::from("import duckdb, sys\ncon = duckdb.connect()\n");
    for (t, dir) in tables {
        program.push_str(&format!(
            "con.execute(\"CREATE VIEW {t} AS SELECT * FROM read_parquet('{}')\")\n",
            dir.join("*.parquet").display()
        ));
    }
    program.push_str(
        "con.execute(\"COPY (\" + sys.argv[1] + \") TO '\" + sys.argv[2] + \"' (HEADER)\")\n",
    );
    let run = Command::new(python())
        .arg("-c")
        .arg(&program)
        .arg(query)
        .arg(out)
        .output()
        .unwrap();
    assert!(run.status.success(), "duckdb: {}", super::text(&run));
}

/// Whether the csv files in `actual_dir` hold the rows of the csv `expected`, in any
/// order (`scripts/tpch.py compare`: numbers to 1e-6); if not, what differs.
pub fn same_rows(expected: &Path, actual_dir: &Path) -> Result<(), String> {
    let compared = Command::new(python())
        .arg(script())
        .arg("compare")
        .arg(expected)
        .arg(actual_dir)
        .output()
        .unwrap();
    match compared.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&compared.stdout).to_string()),
    }
}

/// A count over pairs of lineitem rows: a few seconds of work for two workers at scale
/// factor 0.01, long enough to lose one of them mid-query.
pub const SECONDS_OF_PAIRS: &str = "SELECT count(*) AS n FROM lineitem a, \
    (SELECT l_comment FROM lineitem WHERE l_linenumber <= 4) b WHERE a.l_comment < b.l_comment";

/// [`SECONDS_OF_PAIRS`] as DuckDB answers it over the parquet files of `lineitem_dir`.
pub fn pairs_by_duckdb(lineitem_dir: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let answer = dir.path().join("pairs.csv");
    let lineitem = [("lineitem", lineitem_dir.to_path_buf())];
    duckdb_answer(&lineitem, SECONDS_OF_PAIRS, &answer);
    let text = std::fs::read_to_string(&answer).unwrap();
    text.lines()
        .nth(1)
        .expect("a count under the header")
        .to_string()
}
