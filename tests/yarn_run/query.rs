//! Query jobs over HDFS: TPC-H tables uploaded to the MiniDFSCluster once, query jobs
//! reading `hdfs:///` inputs and committing `hdfs:///` output, by `spindle run` and by
//! `spindle submit` (the application master coordinating worker containers), each answer
//! equal to DuckDB's on the same files.

use super::*;
use common::tpch::{generate, pairs_by_duckdb, same_rows, SECONDS_OF_PAIRS, TABLES};
use std::path::PathBuf;

/// Where the tables are on HDFS.
const BASE: &str = "/it/tpch";

/// TPC-H at scale factor 0.01 in three files a table, generated (with DuckDB's answers)
/// into a local directory and uploaded under [`BASE`], once for all these tests.
fn tpch_on_hdfs() -> &'static Path {
    static DATA: OnceLock<tempfile::TempDir> = OnceLock::new();
    DATA.get_or_init(|| {
        let local = tempfile::tempdir().unwrap();
        let data = local.path();
        generate(data, 3);
        for table in TABLES {
            for entry in std::fs::read_dir(data.join(table)).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                put(
                    &format!("{BASE}/{table}/{name}"),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
        local
    })
    .path()
}

fn tpch_query(n: u32) -> String {
    std::fs::read_to_string(tpch_on_hdfs().join(format!("queries/q{n:02}.sql"))).unwrap()
}

/// A query job over every TPC-H table on HDFS (uploaded first, if need be), writing csv
/// to `out` on HDFS.
fn query_spec(name: &str, query: &str, out: &str) -> String {
    tpch_on_hdfs();
    let mut spec = format!("name: {name}\ninputs:\n");
    for t in TABLES {
        spec.push_str(&format!(
            "  {t}: {{ path: \"hdfs://{BASE}/{t}\", format: parquet }}\n"
        ));
    }
    spec.push_str("split_size: 128 KiB\nquery: |\n");
    for line in query.lines() {
        spec.push_str(&format!("  {line}\n"));
    }
    spec.push_str(&format!(
        "output: {{ path: \"hdfs://{out}\", format: csv }}\n"
    ));
    spec
}

/// The summary the master of `app` recorded beside its spec in the staging directory.
fn recorded_summary(app: &str) -> serde_json::Value {
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let recorded = get(&format!("/user/{user}/.spindle/{app}/summary.json"));
    serde_json::from_slice(&recorded.expect("summary.json")).unwrap()
}

/// Writes `spec` into `dir` and returns its path.
fn spec_file(dir: &Path, name: &str, spec: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

/// Fetches the `part-*` files of `out` into a new local directory under `dir`.
fn fetch_parts(dir: &Path, out: &str) -> PathBuf {
    let fetched = dir.join(out.trim_start_matches('/').replace('/', "_"));
    std::fs::create_dir(&fetched).unwrap();
    let parts: Vec<String> = ls(out)
        .into_iter()
        .filter(|f| f.starts_with("part-"))
        .collect();
    assert!(!parts.is_empty(), "nothing in {out}: {:?}", ls(out));
    for name in parts {
        std::fs::write(fetched.join(&name), get(&format!("{out}/{name}")).unwrap()).unwrap();
    }
    fetched
}

/// Compares the answer of TPC-H query `n` in `out` on HDFS with DuckDB's.
fn assert_duckdbs_answer(n: u32, dir: &Path, out: &str) {
    let fetched = fetch_parts(dir, out);
    let expected = tpch_on_hdfs().join(format!("answers/q{n:02}.csv"));
    if let Err(e) = same_rows(&expected, &fetched) {
        panic!("q{n:02}: {e}");
    }
}

#[test]
fn query_jobs_read_and_write_hdfs_with_duckdbs_answers() {
    let local = tempfile::tempdir().unwrap();
    // Joins of five tables, a semi-join with a subquery, grouping, global order and limit.
    for n in [3u32, 5, 18] {
        let out = format!("{BASE}-out/q{n:02}");
        let spec = query_spec(&format!("tpch-q{n:02}"), &tpch_query(n), &out);
        let spec = spec_file(local.path(), &format!("q{n:02}"), &spec);
        let started = Instant::now();
        let run = spindle(&["run", &spec, "--workers", "3", "--quiet"]);
        assert!(run.status.success(), "q{n:02}: {}", text(&run));
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "q{n:02} took {:?}",
            started.elapsed()
        );
        assert_duckdbs_answer(n, local.path(), &out);
    }
}

/// q3 on two worker containers, q18 on one: with one, its stages still run in the
/// worker's container, not all in the application master's.
#[test]
fn submitted_query_jobs_run_on_worker_containers_with_duckdbs_answers() {
    let local = tempfile::tempdir().unwrap();
    for (n, workers) in [(3u32, 2u64), (18, 1)] {
        let out = format!("{BASE}-yarn/q{n:02}");
        let spec = query_spec(&format!("tpch-q{n:02}"), &tpch_query(n), &out);
        let spec = spec_file(local.path(), &format!("q{n:02}"), &spec);
        let started = Instant::now();
        let o = spindle(&[
            "submit",
            &spec,
            "--wait",
            "--json",
            "--workers",
            &workers.to_string(),
            "--am-memory-mb",
            "256",
        ]);
        assert!(o.status.success(), "q{n:02}: {}", text(&o));
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "q{n:02} took {:?}",
            started.elapsed()
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let summary = &report["summary"];
        assert_eq!(summary["status"], "succeeded", "{report}");
        assert_eq!(summary["workers"], workers, "{report}");
        assert_eq!(summary["workers_lost"], 0, "{report}");
        // The master's final stage is one task; the workers' stages are the rest.
        assert!(summary["tasks"].as_u64().unwrap() > 1, "{report}");
        assert!(summary["rows_out"].as_u64().unwrap() > 0, "{report}");
        assert!(
            summary["rows_in"].as_u64().unwrap() >= 60_000,
            "the scans read lineitem at least: {report}"
        );
        assert_duckdbs_answer(n, local.path(), &out);
    }
}

#[test]
fn a_query_with_a_wrong_column_is_refused_before_any_application() {
    let local = tempfile::tempdir().unwrap();
    let spec = query_spec(
        "wrong",
        "SELECT l_nonesuch FROM lineitem",
        &format!("{BASE}-wrong"),
    );
    let spec = spec_file(local.path(), "wrong", &spec);
    let started = Instant::now();
    let o = spindle(&["submit", &spec, "--wait"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("l_nonesuch"), "{}", text(&o));
    assert!(!text(&o).contains("application_"), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_killed_query_worker_container_is_replaced_and_the_answer_is_exact() {
    lost_worker_is_replaced("killed", 9, 3, "", "ended: ");
}

/// A stopped process's container still runs and its connections stay open: only its
/// heartbeat key, unchanged past `workers.heartbeat_timeout`, says it is lost.
#[test]
fn a_stopped_query_worker_container_is_replaced_and_the_answer_is_exact() {
    lost_worker_is_replaced(
        "stopped",
        19,
        2,
        "workers: { heartbeat_timeout: 3s }\n",
        "was silent for 3s (workers.heartbeat_timeout)",
    );
}

/// Submits the slow pairs query on `count` worker containers, sends `sig` to one
/// worker's process mid-query, and checks the application still succeeds with DuckDB's
/// answer, one worker lost and replaced (the query running again on the others
/// meanwhile, which replay the scans they had finished), for the reason `why` (in the
/// master's log), and no worker left once it ends.
fn lost_worker_is_replaced(name: &str, sig: i32, count: usize, workers: &str, why: &str) {
    let local = tempfile::tempdir().unwrap();
    let out = format!("{BASE}-pairs-{name}");
    let spec = query_spec("pairs", SECONDS_OF_PAIRS, &out) + workers;
    let spec = spec_file(local.path(), name, &spec);
    let n = count.to_string();
    let o = spindle(&["submit", &spec, "--workers", &n, "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let started = Instant::now();
    let mut workers = vec![];
    while workers.len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the query workers of {app} never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
        workers = spindle_processes(&app, "query-worker");
    }
    // Each worker said where it serves in the application's store.
    let o = spindle(&["kv", "get", "spindle.query.workers/0", "--app", &app]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(':'),
        "{}",
        text(&o)
    );
    // The master says in the store how far the query is, for `submit --wait` to show.
    let mut said = String::new();
    while !said.starts_with("query running: ") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{app} published no progress; the store last said {said:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        let o = spindle(&["kv", "get", "spindle.progress", "--app", &app]);
        said = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    assert!(said.contains(&format!("on {count} workers")), "{said}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(status(&app)["state"], "RUNNING", "ended before the kill");
    assert!(signal(workers[0].1 as u32, sig), "signal {sig} failed");
    let s = wait_for(&app, "the end", |s| s["state"] != "RUNNING");
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "took {:?}",
        started.elapsed()
    );
    let summary = recorded_summary(&app);
    assert_eq!(summary["workers_lost"], 1, "{summary}");
    assert_eq!(summary["retries"], 1, "{summary}");
    assert_eq!(summary["workers"], count + 1, "{summary}");
    // YARN stops the workers with the application.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spindle_processes(&app, "query-worker").is_empty() {
        assert!(Instant::now() < deadline, "query workers outlived {app}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The master's log says why the worker was replaced.
    let o = spindle(&["logs", &app]);
    assert!(o.status.success(), "{}", text(&o));
    let logs = String::from_utf8_lossy(&o.stdout);
    let replaced = logs
        .lines()
        .find(|l| l.contains("replacing it and running the query again"))
        .unwrap_or_else(|| panic!("no replacement in the logs of {app}:\n{logs}"));
    assert!(replaced.contains(why), "{replaced}");
    // It ran again at once on the worker left, not after the replacement's container.
    assert!(
        logs.contains("the query runs again on the workers left while its replacements start"),
        "{logs}"
    );
    // There the workers left replayed the scans they had finished instead of reading
    // them again: the rerun is cut into as many tasks as before (the workers left named
    // as often), and each task goes back to the worker that ran it.
    assert!(
        logs.contains("replayed kept results of a leaf stage's task"),
        "{logs}"
    );
    let expected = pairs_by_duckdb(&tpch_on_hdfs().join("lineitem"));
    let fetched = fetch_parts(local.path(), &out);
    let got = std::fs::read_to_string(fetched.join("part-00000.csv")).unwrap();
    assert_eq!(got, format!("n\n{expected}\n"));
    // The rows in count the replayed scans' rows too: as many as a run with no loss
    // (here a local run over the same HDFS files).
    let clean_out = local.path().join("clean");
    let clean = query_spec("pairs", SECONDS_OF_PAIRS, &out)
        .replace(&format!("hdfs://{out}"), clean_out.to_str().unwrap());
    let clean = spec_file(local.path(), &format!("{name}-clean"), &clean);
    let o = spindle(&["run", &clean, "--workers", "2", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let whole: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(whole["rows_in"].as_u64().unwrap() > 0, "{whole}");
    assert_eq!(summary["rows_in"], whole["rows_in"], "{summary}");
}

/// q03's query, then `stages` over its result, into csv at `out` on HDFS.
fn query_then_stages(name: &str, stages: &str, out: &str) -> String {
    let spec = query_spec(name, &tpch_query(3), out);
    let (head, output) = spec.split_at(spec.find("output:").unwrap());
    let output = output.replace("format: csv }", "format: csv, mode: overwrite }");
    format!("{head}stages:\n{stages}{output}")
}

/// The query runs on its worker containers, which go; the stages run on new ones over
/// its whole result; only their one file is committed, with DuckDB's answer, and nothing
/// is left beside the output. Then a stage that fails fails the application within its
/// bounds, saying why in YARN's diagnostics, and leaves that output as it was.
#[test]
fn submitted_stages_after_a_query_commit_duckdbs_answer_and_a_failing_one_nothing() {
    let local = tempfile::tempdir().unwrap();
    let out = format!("{BASE}-then/q03");
    let stages = "  - command: { run: cat, format: csv }\n  - coalesce: 1\n";
    // Encrypted: the stages' workers too, not only the query's.
    let spec = query_then_stages("q03-then", stages, &out) + "encrypt: true\n";
    let spec = spec_file(local.path(), "q03-then", &spec);
    let submit = |spec: &str| {
        let started = Instant::now();
        let o = spindle(&[
            "submit",
            spec,
            "--wait",
            "--json",
            "--workers",
            "2",
            "--am-memory-mb",
            "256",
        ]);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(240),
            "took {took:?}: {}",
            text(&o)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        (o, report)
    };
    let (o, report) = submit(&spec);
    assert!(o.status.success(), "{}", text(&o));
    let summary = &report["summary"];
    assert_eq!(summary["status"], "succeeded", "{report}");
    assert_eq!(summary["workers_lost"], 0, "{report}");
    assert_eq!(summary["output_files"], 1, "{report}");
    assert_eq!(summary["encrypted"], true, "{report}");
    assert!(
        summary["rows_in"].as_u64().unwrap() >= 60_000,
        "the query's rows: {report}"
    );
    let mut names = ls(&out);
    names.sort();
    assert_eq!(names, vec!["_SUCCESS", "part-00000.csv"]);
    let beside = format!("{BASE}-then");
    assert_eq!(ls(&beside), vec!["q03"], "nothing beside the output");
    assert_duckdbs_answer(3, local.path(), &out);

    let before: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| (n.clone(), get(&format!("{out}/{n}")).unwrap()))
        .collect();
    let failing = "  - command: { run: \"echo broken >&2; exit 3\", format: csv }\n";
    let spec = query_then_stages("q03-fails", failing, &out);
    let spec = spec_file(local.path(), "q03-fails", &spec);
    let (o, report) = submit(&spec);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(report["final_status"], "FAILED", "{report}");
    let diagnostics = report["diagnostics"].as_str().unwrap_or_default();
    assert!(
        diagnostics.contains("exit") && diagnostics.contains("broken"),
        "{report}"
    );
    let after: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| (n.clone(), get(&format!("{out}/{n}")).unwrap_or_default()))
        .collect();
    assert_eq!(after, before, "the previous output changed");
    let mut left = ls(&out);
    left.sort();
    assert_eq!(left, names);
    assert_eq!(ls(&beside), vec!["q03"], "nothing beside the output");
}

/// Submits q03 then a slow `cat` stage into `out`, and waits until a stage worker
/// container runs (one is enough: on a busy cluster the second may be granted only after
/// the first has finished) and the query's workers have gone; returns the application and
/// its stage workers.
fn submit_until_stages_run(name: &str, out: &str) -> (String, Vec<(u32, i32)>, Instant) {
    let local = tempfile::tempdir().unwrap();
    let stages = "  - command: { run: \"sleep 8; cat\", format: csv }\n  - coalesce: 1\n";
    let spec = spec_file(local.path(), name, &query_then_stages(name, stages, out));
    let o = spindle(&["submit", &spec, "--workers", "2", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the stage workers of {app} never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
        let workers = worker_pids(&app);
        if !workers.is_empty() {
            // The query's workers are released when the query ends, before the stages.
            let seen = Instant::now();
            while !spindle_processes(&app, "query-worker").is_empty() {
                assert!(
                    seen.elapsed() < Duration::from_secs(10),
                    "the query's workers stayed"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            let workers = worker_pids(&app);
            if !workers.is_empty() {
                return (app, workers, started);
            }
        }
    }
}

/// A stage worker's container killed mid-stage is replaced (by the stage job's own
/// number, never taken for one of the query's) and the answer is still DuckDB's.
#[test]
fn a_killed_stage_worker_after_a_submitted_query_is_replaced_and_the_answer_is_exact() {
    let local = tempfile::tempdir().unwrap();
    let out = format!("{BASE}-then-lost/q03");
    let (app, workers, started) = submit_until_stages_run("q03-lost", &out);
    assert!(signal(workers[0].1 as u32, 9), "SIGKILL failed");
    let s = wait_for(&app, "the end", |s| s["state"] != "RUNNING");
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "took {:?}",
        started.elapsed()
    );
    let summary = recorded_summary(&app);
    assert_eq!(summary["workers_lost"], 1, "{summary}");
    assert_duckdbs_answer(3, local.path(), &out);
    assert_eq!(
        ls(&format!("{BASE}-then-lost")),
        vec!["q03"],
        "nothing beside the output"
    );
}

/// `spindle kill` while the stages run ends the application at once, and neither the
/// query's result nor the stages' output is left anywhere.
#[test]
fn kill_during_the_stages_after_a_submitted_query_leaves_nothing() {
    let out = format!("{BASE}-then-killed/q03");
    let (app, _, _) = submit_until_stages_run("q03-killed", &out);
    let killed_at = Instant::now();
    let o = spindle(&["kill", &app]);
    assert!(o.status.success(), "{}", text(&o));
    let s = wait_for(&app, "KILLED", |s| s["state"] == "KILLED");
    assert_eq!(s["final_status"], "KILLED", "{s}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(30),
        "took {:?}",
        killed_at.elapsed()
    );
    assert!(ls(&out).is_empty(), "{:?}", ls(&out));
    let beside = ls(&format!("{BASE}-then-killed"));
    assert!(
        beside.iter().all(|n| n == "q03"),
        "left beside the output: {beside:?}"
    );
}

/// The master killed while the stages run: with `--max-attempts 2` the next attempt runs
/// the query and its stages again and commits DuckDB's answer, and the first attempt's
/// staging (the query's result in it) is gone from beside the output.
#[test]
fn a_master_killed_during_the_stages_after_a_query_is_followed_by_an_attempt_that_commits() {
    let local = tempfile::tempdir().unwrap();
    let out = format!("{BASE}-then-am/q03");
    let stages = "  - command: { run: \"sleep 5; cat\", format: csv }\n  - coalesce: 1\n";
    let spec = spec_file(
        local.path(),
        "q03-am",
        &query_then_stages("q03-am", stages, &out),
    );
    let o = spindle(&[
        "submit",
        &spec,
        "--workers",
        "2",
        "--am-memory-mb",
        "256",
        "--max-attempts",
        "2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let started = Instant::now();
    while worker_pids(&app).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the stage workers of {app} never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let masters = spindle_processes(&app, "appmaster");
    assert_eq!(masters.len(), 1, "one application master");
    let staged: Vec<String> = ls(&format!("{BASE}-then-am"))
        .into_iter()
        .filter(|n| n != "q03")
        .collect();
    assert!(
        !staged.is_empty(),
        "the first attempt stages beside the output"
    );
    assert!(signal(masters[0].1 as u32, 9), "SIGKILL failed");
    let killed_at = Instant::now();
    let s = wait_for(&app, "the end", |s| {
        s["state"] != "RUNNING" && s["state"] != "ACCEPTED"
    });
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(240),
        "took {:?}",
        killed_at.elapsed()
    );
    assert_duckdbs_answer(3, local.path(), &out);
    assert_eq!(ls(&out), vec!["_SUCCESS", "part-00000.csv"]);
    assert_eq!(
        ls(&format!("{BASE}-then-am")),
        vec!["q03"],
        "the first attempt's staging is left beside the output"
    );
}
