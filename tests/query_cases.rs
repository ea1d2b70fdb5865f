//! Query jobs end to end, case by case beyond TPC-H's 22 (which have no window function,
//! no UNION and no empty table): window functions, a global ORDER BY with LIMIT read back
//! in order, a skewed join key broadcast and shuffled, empty inputs, UNION, DISTINCT and
//! a full outer join. Each through `spindle run` on 3 workers in small splits, over the
//! TPC-H tables at scale factor 0.01, each answer equal to DuckDB's on the same files.

mod common;
use common::tpch::{data, duckdb_answer, query_spec_over, same_rows, tables};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `query` over `tables` with `keys` added to the spec, and returns DuckDB's answer
/// (csv) and the output directory of spindle's.
fn both_answer(
    dir: &Path,
    tables: &[(&str, PathBuf)],
    query: &str,
    keys: &str,
) -> (PathBuf, PathBuf) {
    let out = dir.join("out");
    let spec = query_spec_over("case", tables, query, &out, keys);
    let run = run_spec(dir, &spec, &["--workers", "3"]);
    run.assert_ok();
    assert_eq!(run.summary["status"], "succeeded", "{}", run.summary);
    let expected = dir.join("duckdb.csv");
    duckdb_answer(tables, query, &expected);
    (expected, out)
}

/// `query`'s rows from spindle equal DuckDB's, in any order.
fn same_as_duckdb(query: &str, keys: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (expected, out) = both_answer(dir.path(), &tables(), query, keys);
    if let Err(e) = same_rows(&expected, &out) {
        panic!("{query}\n{e}");
    }
}

/// The lines of csv files after their headers, files in name order.
fn lines_in_order(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines().skip(1).map(String::from).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn window_functions_match_duckdb() {
    // Partitioned windows: one per customer.
    same_as_duckdb(
        "SELECT o_custkey, o_orderkey,\n\
         row_number() OVER (PARTITION BY o_custkey ORDER BY o_totalprice DESC, o_orderkey) AS rn,\n\
         count(*) OVER (PARTITION BY o_custkey) AS orders_of_customer,\n\
         sum(o_totalprice) OVER (PARTITION BY o_custkey) AS total\n\
         FROM orders WHERE o_custkey <= 300",
        "",
    );
    // One window over every row: rank and a running sum in a global order.
    same_as_duckdb(
        "SELECT l_orderkey, l_linenumber,\n\
         rank() OVER (ORDER BY l_quantity DESC, l_orderkey, l_linenumber) AS r,\n\
         sum(l_quantity) OVER (ORDER BY l_orderkey, l_linenumber) AS running\n\
         FROM lineitem WHERE l_shipdate < DATE '1992-06-01'",
        "",
    );
}

#[test]
fn a_global_order_by_with_limit_comes_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT l_orderkey, l_linenumber, l_quantity FROM lineitem\n\
                 ORDER BY l_extendedprice DESC, l_orderkey, l_linenumber LIMIT 25";
    let (expected, out) = both_answer(dir.path(), &tables(), query, "");
    let spindle = lines_in_order(&part_files(&out));
    let duckdb = lines_in_order(&[expected]);
    assert_eq!(spindle.len(), 25, "{spindle:?}");
    // Integers print alike in both engines; the quantity is a decimal.
    let keys = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|r| r.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(keys(&spindle), keys(&duckdb));
}

/// Over half of lineitem's rows join on one part: shuffled by the key, one task gets
/// them all; broadcast, the part table goes to every task. Both answers are DuckDB's.
#[test]
fn a_skewed_join_key_is_exact_broadcast_and_shuffled() {
    let query = "WITH f AS (\n\
                   SELECT CASE WHEN l_linenumber <= 3 THEN 1 ELSE l_partkey END AS k,\n\
                          l_quantity AS q FROM lineitem)\n\
                 SELECT p.p_brand, count(*) AS n, sum(f.q) AS qty\n\
                 FROM f JOIN part p ON f.k = p.p_partkey GROUP BY p.p_brand";
    for (keys, exchange, strategy) in [
        ("", "NetworkBroadcastExec", "joins: broadcast inner"),
        (
            "broadcast_limit: 0\n",
            "NetworkShuffleExec",
            "joins: partitioned inner",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let spec = query_spec_over("skew", &tables(), query, &dir.path().join("x"), keys);
        let spec_path = dir.path().join("plan.yaml");
        std::fs::write(&spec_path, spec).unwrap();
        let explain = Command::new(BIN)
            .args(["explain", "--workers", "3"])
            .arg(&spec_path)
            .output()
            .unwrap();
        assert!(explain.status.success(), "{}", text(&explain));
        let plan = String::from_utf8_lossy(&explain.stdout);
        assert!(
            plan.contains(exchange),
            "with {keys:?}, no {exchange}:\n{plan}"
        );
        assert!(
            plan.contains(strategy),
            "with {keys:?}, no {strategy}:\n{plan}"
        );
        same_as_duckdb(query, keys);
    }
}

#[test]
fn empty_inputs_give_empty_or_zero_answers() {
    let dir = tempfile::tempdir().unwrap();
    // An orders table with its columns and no rows, written by DuckDB.
    let empty = dir.path().join("orders-empty");
    std::fs::create_dir(&empty).unwrap();
    let made = Command::new(common::tpch::python())
        .arg("-c")
        .arg(format!(
            "import duckdb\nduckdb.execute(\"COPY (SELECT * FROM read_parquet('{}') WHERE false) \
             TO '{}' (FORMAT parquet)\")",
            data().join("orders/*.parquet").display(),
            empty.join("part-0.parquet").display()
        ))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let over = [("customer", data().join("customer")), ("orders", empty)];
    for query in [
        "SELECT count(*) AS n, sum(o_totalprice) AS total FROM orders",
        "SELECT c_mktsegment, count(o_orderkey) AS n FROM customer\n\
         LEFT JOIN orders ON c_custkey = o_custkey GROUP BY c_mktsegment",
        "SELECT c_name, o_orderkey FROM customer JOIN orders ON c_custkey = o_custkey",
    ] {
        let run_dir = tempfile::tempdir().unwrap();
        let (expected, out) = both_answer(run_dir.path(), &over, query, "");
        if let Err(e) = same_rows(&expected, &out) {
            panic!("{query}\n{e}");
        }
    }
}

#[test]
fn union_distinct_and_a_full_outer_join_match_duckdb() {
    same_as_duckdb(
        "SELECT n_name AS name FROM nation WHERE n_regionkey = 1\n\
         UNION SELECT r_name FROM region",
        "",
    );
    same_as_duckdb(
        "SELECT l_returnflag AS flag, count(*) AS n FROM (\n\
           SELECT l_returnflag FROM lineitem\n\
           UNION ALL SELECT o_orderstatus FROM orders) t GROUP BY l_returnflag",
        "",
    );
    same_as_duckdb("SELECT DISTINCT l_shipmode, l_returnflag FROM lineitem", "");
    // Half the customers and most orders are cut away, so each side keeps rows the other
    // lacks: customers with no order left, orders of customers cut away.
    same_as_duckdb(
        "SELECT count(*) AS n, count(c.c_custkey) AS customers, count(o.o_orderkey) AS orders\n\
         FROM (SELECT * FROM customer WHERE c_custkey % 2 = 0) c FULL OUTER JOIN\n\
           (SELECT * FROM orders WHERE o_totalprice > 200000) o ON c.c_custkey = o.o_custkey",
        "",
    );
}
