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
