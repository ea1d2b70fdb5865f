//! Query jobs (`inputs` + `query`) end to end through `spindle run`: the 22 TPC-H queries
//! with several workers and small splits, each answer equal to DuckDB's on the same data;
//! the staged plan; errors before any work; an output that would overwrite an input.

mod common;
use common::tpch::{data as tpch, pairs_by_duckdb, query_spec_with, same_rows, SECONDS_OF_PAIRS};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A query job over the TPC-H tables, writing csv to `out`.
fn query_spec(name: &str, query: &str, out: &Path) -> String {
    query_spec_with(name, query, out, "")
}

fn tpch_query(n: u32) -> String {
    std::fs::read_to_string(tpch().join(format!("queries/q{n:02}.sql"))).unwrap()
}

#[test]
fn all_22_tpch_queries_match_duckdb() {
    all_22_match_duckdb("");
}

/// At this scale factor most join sides are under the default `broadcast_limit`; with
/// it off, joins shuffle both sides, as joins of large tables do.
#[test]
fn all_22_tpch_queries_match_duckdb_with_joins_shuffled() {
    all_22_match_duckdb("broadcast_limit: 0\n");
}

fn all_22_match_duckdb(keys: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for n in 1..=22 {
        let out = dir.path().join(format!("q{n:02}"));
        let spec = query_spec_with(&format!("tpch-q{n:02}"), &tpch_query(n), &out, keys);
        let run = run_spec(dir.path(), &spec, &["--workers", "3"]);
        if !run.ok() {
            wrong.push(format!("q{n:02} failed:\n{}", run.stderr()));
            continue;
        }
        assert_eq!(
            run.summary["status"], "succeeded",
            "q{n:02}: {}",
            run.summary
        );
        if let Err(e) = same_as_duckdb(n, &out) {
            wrong.push(e);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 22 wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Whether `out` holds DuckDB's answer to TPC-H query `n`; if not, what differs.
fn same_as_duckdb(n: u32, out: &Path) -> Result<(), String> {
    same_rows(&tpch().join(format!("answers/q{n:02}.csv")), out)
}

/// With one worker, the query's stages still run on it, not all in the coordinator (on
/// YARN, the application master's container), and the answer is exact.
#[test]
fn one_worker_runs_the_stages_of_a_join_and_the_answer_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q05");
    let spec = query_spec("q05", &tpch_query(5), &out);
    let run = run_spec(dir.path(), &spec, &["--workers", "1"]);
    run.assert_ok();
    assert_eq!(run.summary["workers"], 1, "{}", run.summary);
    // The coordinator alone would be one task; the worker's stages add more.
    let tasks = run.summary["tasks"].as_u64().unwrap();
    assert!(tasks > 1, "{}", run.summary);
    same_as_duckdb(5, &out).unwrap();
}

#[test]
fn an_encrypted_query_gives_the_same_answer_and_counts_its_rows_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q03");
    let spec = query_spec("q03", &tpch_query(3), &out).replacen(
        "\ninputs:",
        "\nencrypt: true\ninputs:",
        1,
    );
    let run = run_spec(dir.path(), &spec, &["--workers", "2"]);
    run.assert_ok();
    assert_eq!(run.summary["encrypted"], true, "{}", run.summary);
    same_as_duckdb(3, &out).unwrap();
    // q3 scans customer (1,500 rows at SF 0.01) with a filter pushed into the scan, so
    // the scans produce fewer rows than the tables hold, but some.
    let rows_in = run.summary["rows_in"].as_u64().unwrap();
    assert!(rows_in > 1000 && rows_in < 90_000, "{}", run.summary);
    // Local files have no block locations: every scan task, and every byte of the three
    // tables q3 reads, has no preference (the summary used to count none of them).
    let table_bytes: u64 = ["customer", "orders", "lineitem"]
        .iter()
        .flat_map(|t| std::fs::read_dir(tpch().join(t)).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let locality = &run.summary["locality"];
    assert!(
        locality["no_preference"].as_u64().unwrap() >= 3,
        "{locality}"
    );
    assert_eq!(locality["no_preference_bytes"], table_bytes, "{locality}");
    assert_eq!(locality["data_local"], 0, "{locality}");
}

#[test]
fn explain_shows_the_stages_of_a_join() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("q03.yaml");
    let out = dir.path().join("out");
    std::fs::write(&spec_path, query_spec("q03", &tpch_query(3), &out)).unwrap();
    let o = Command::new(BIN)
        .args(["explain", "--workers", "3", "--json"])
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["kind"], "query");
    let stages = doc["stages"].as_u64().unwrap();
    let tasks = doc["tasks"].as_u64().unwrap();
    assert!(stages >= 2, "a three-way join planned in one stage: {doc}");
    assert!(tasks > stages, "every stage has one task: {doc}");
    // Every byte of the three tables q3 reads is scanned once, by one stage or another.
    let estimates = doc["estimates"].as_array().unwrap();
    assert_eq!(estimates.len() as u64, stages, "{doc}");
    let scanned: u64 = estimates
        .iter()
        .map(|e| e["scan_bytes"].as_u64().unwrap())
        .sum();
    let files = ["customer", "orders", "lineitem"].iter().flat_map(|t| {
        std::fs::read_dir(tpch().join(t))
            .unwrap()
            .map(|f| f.unwrap().metadata().unwrap().len())
    });
    assert_eq!(scanned, files.sum::<u64>(), "{doc}");
    // q3 joins three tables; each join is named with how it runs.
    let joins: Vec<&str> = estimates
        .iter()
        .flat_map(|e| e["joins"].as_array().unwrap())
        .map(|j| j.as_str().unwrap())
        .collect();
    assert_eq!(joins.len(), 2, "{doc}");
    assert!(joins.iter().all(|j| j.ends_with(" inner")), "{doc}");
    // Parquet's statistics give DataFusion row counts to carry up from some scan.
    assert!(
        estimates
            .iter()
            .any(|e| e["rows"]["value"].as_u64() > Some(0)),
        "{doc}"
    );
    let plan = doc["plan"].as_str().unwrap();
    assert!(
        plan.contains("Estimates (") && plan.contains("scans "),
        "{plan}"
    );
    assert!(!out.exists(), "explain wrote output");
}

#[test]
fn a_bad_query_is_refused_naming_line_and_column_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let query = "SELECT n_name,\n       n_nope\nFROM nation";
    let run = run_spec(dir.path(), &query_spec("bad", query, &out), &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let err = run.stderr();
    assert!(
        err.contains("key `query`") && err.contains("n_nope"),
        "{err}"
    );
    assert!(!out.exists(), "a refused job touched its output");
    let text = "SELECT n_name\nFROM nation WHERE n_name = = 'x'";
    let run = run_spec(dir.path(), &query_spec("bad", text, &out), &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(
        run.stderr().contains("Line: 2, Column: 28"),
        "{}",
        run.stderr()
    );
    let ddl = "CREATE TABLE t AS SELECT * FROM nation";
    let run = run_spec(dir.path(), &query_spec("ddl", ddl, &out), &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(!out.exists());
}

#[test]
fn an_output_over_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nation");
    std::fs::create_dir(&data).unwrap();
    let source = tpch().join("nation/part-0.parquet");
    std::fs::copy(&source, data.join("part-0.parquet")).unwrap();
    for target in [data.clone(), dir.path().to_path_buf()] {
        let spec = format!(
            "name: overlap\ninputs:\n  nation: {{ path: \"{}\", format: parquet }}\n\
             query: SELECT * FROM nation\n\
             output: {{ path: \"{}\", format: parquet, mode: overwrite }}\n",
            data.display(),
            target.display()
        );
        let run = run_spec(dir.path(), &spec, &[]);
        assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
        assert!(
            run.stderr().contains("key `output.path`"),
            "{}",
            run.stderr()
        );
        assert_eq!(
            std::fs::read(data.join("part-0.parquet")).unwrap(),
            std::fs::read(&source).unwrap(),
            "the input changed"
        );
    }
}

#[test]
fn a_query_that_fails_while_running_commits_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let query = "SELECT CAST(n_name AS INT) AS n FROM nation";
    let started = std::time::Instant::now();
    let run = run_spec(dir.path(), &query_spec("cast", query, &out), &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(run.summary["status"], "failed", "{}", run.summary);
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(error.contains("Cast error"), "{}", run.summary);
    assert!(run.stderr().contains("failed"), "{}", run.stderr());
    assert_eq!(beside_output(dir.path()), Vec::<String>::new());
}

#[test]
fn a_query_past_its_memory_fails_saying_which_key_to_raise() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let query = "SELECT count(*) FROM lineitem a JOIN lineitem b ON a.l_comment = b.l_comment";
    let spec = query_spec("join", query, &out).replacen(
        "\ninputs:",
        "\nworkers: { memory: 1 MiB }\ninputs:",
        1,
    );
    let started = std::time::Instant::now();
    let run = run_spec(dir.path(), &spec, &["--workers", "2"]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Resources exhausted") && error.contains("raise `workers.memory`"),
        "{}",
        run.summary
    );
    // At this scale one side is under `broadcast_limit`: it was built whole, and the
    // message says how to have it shuffled instead.
    assert!(error.contains("lower `broadcast_limit`"), "{}", run.summary);
    assert_eq!(beside_output(dir.path()), Vec::<String>::new());
    // The same join with room for its build side succeeds.
    let roomy = spec.replace("memory: 1 MiB", "memory: 256 MiB");
    run_spec(dir.path(), &roomy, &["--workers", "2"]).assert_ok();
}

/// A query over billions of rows: it runs until stopped.
fn endless_query(out: &Path) -> String {
    let query = "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_comment <> b.l_comment";
    query_spec("slow", query, out)
}

#[test]
fn a_query_past_its_timeout_is_stopped_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = endless_query(&out).replacen("\ninputs:", "\ntimeout: 2s\ninputs:", 1);
    let started = std::time::Instant::now();
    let run = run_spec(dir.path(), &spec, &[]);
    let took = started.elapsed();
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert!(
        took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(15),
        "stopped after {took:?}"
    );
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("longer than its timeout (2s)"),
        "{}",
        run.summary
    );
    assert_eq!(beside_output(dir.path()), Vec::<String>::new());
}

#[test]
fn a_killed_query_ends_at_once_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec_path = dir.path().join("slow.yaml");
    std::fs::write(&spec_path, endless_query(&out)).unwrap();
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&spec_path)
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the query ended by itself"
    );
    let workers = child_pids(child.id(), "query-worker");
    assert!(!workers.is_empty(), "no query workers under the run");
    let killed = std::time::Instant::now();
    assert!(signal(child.id(), 15));
    let o = child.wait_with_output().unwrap();
    assert!(
        killed.elapsed() < std::time::Duration::from_secs(10),
        "took {:?} to stop",
        killed.elapsed()
    );
    while !workers.iter().all(|&w| process_ended(w)) {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(10),
            "query workers outlived the run"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("killed"),
        "{}",
        text(&o)
    );
    assert_eq!(beside_output(dir.path()), Vec::<String>::new());
}

/// `spindle run` of `spec` with two workers, returned once both worker processes are up:
/// the run, the workers' pids, and where the run writes its summary.
fn run_on_two_workers(dir: &Path, spec: &str) -> (std::process::Child, Vec<i32>, PathBuf) {
    let spec_path = dir.join("spec.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let summary = dir.join("summary.json");
    let child = Command::new(BIN)
        .arg("run")
        .arg(&spec_path)
        .args(["--workers", "2", "--quiet", "--summary-json"])
        .arg(&summary)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut workers = vec![];
    while workers.len() < 2 && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        workers = child_pids(child.id(), "query-worker");
    }
    assert_eq!(workers.len(), 2, "the query workers did not start");
    (child, workers, summary)
}

#[test]
fn a_lost_worker_past_max_restarts_fails_the_query_at_once_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec =
        endless_query(&out).replacen("\ninputs:", "\nworkers: { max_restarts: 0 }\ninputs:", 1);
    let (mut child, workers, summary) = run_on_two_workers(dir.path(), &spec);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the query ended by itself"
    );
    let killed = std::time::Instant::now();
    assert!(signal(workers[0] as u32, 9));
    let o = child.wait_with_output().unwrap();
    assert!(
        killed.elapsed() < std::time::Duration::from_secs(15),
        "took {:?} to fail",
        killed.elapsed()
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let error = summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("(pid {})", workers[0]))
            && error.contains("signal: 9")
            && error.contains("(workers.max_restarts is 0)"),
        "{summary}"
    );
    assert!(
        process_ended(workers[1]) || {
            std::thread::sleep(std::time::Duration::from_secs(2));
            process_ended(workers[1])
        }
    );
    assert_eq!(beside_output(dir.path()), Vec::<String>::new());
}

/// Seconds of work on two workers, with an answer DuckDB gives independently.
#[test]
fn a_query_whose_worker_dies_runs_again_on_a_replacement_and_is_exact() {
    survives_a_worker_signalled(9);
}

#[test]
fn a_query_whose_worker_stops_answering_kills_it_and_runs_again_exact() {
    survives_a_worker_signalled(19); // SIGSTOP: alive, but silent
}

/// Runs a query of a few seconds on two workers, sends `sig` to one of them a second
/// in, and checks the query still gives DuckDB's answer, on a replacement worker.
fn survives_a_worker_signalled(sig: i32) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = query_spec("pairs", SECONDS_OF_PAIRS, &out).replacen(
        "\ninputs:",
        "\nworkers: { heartbeat_timeout: 3s }\ninputs:",
        1,
    );
    let started = std::time::Instant::now();
    let (mut child, workers, summary) = run_on_two_workers(dir.path(), &spec);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the query ended before the signal; make it slower"
    );
    assert!(signal(workers[0] as u32, sig));
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    assert!(process_ended(workers[0]), "the lost worker is gone");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["workers_lost"], 1, "{summary}");
    assert_eq!(summary["retries"], 1, "{summary}");
    assert_eq!(summary["workers"], 3, "{summary}");
    let expected = pairs_by_duckdb(&tpch().join("lineitem"));
    let got = std::fs::read_to_string(out.join("part-00000.csv")).unwrap();
    assert_eq!(got, format!("n\n{expected}\n"));
    // The scans the surviving worker ran before the loss were not run again (its log
    // says so, as a worker's log does by default).
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains("replayed kept results of a leaf stage's task"),
        "{said}"
    );
    // The rows in count the replayed scans' rows too: the same as a run with no loss.
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    let elsewhere = spec.replace(out.to_str().unwrap(), clean.join("out").to_str().unwrap());
    let whole = run_spec(&clean, &elsewhere, &["--workers", "2"]);
    whole.assert_ok();
    assert!(
        whole.summary["rows_in"].as_u64().unwrap() > 0,
        "{}",
        whole.summary
    );
    assert_eq!(summary["rows_in"], whole.summary["rows_in"], "{summary}");
}
