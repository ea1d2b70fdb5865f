//! `stages` after a `query` in one spec, through `spindle run`: the stages see the query's
//! whole result, only their output is committed, and every way it can end (a failing
//! stage, an output over an input, a signal, a kill) leaves the output as it was and
//! nothing beside it.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Three csv files of clicks in `dir/clicks`, and the clicks.
fn clicks_in(dir: &Path) -> (PathBuf, Vec<Click>) {
    let data = dir.join("clicks");
    std::fs::create_dir(&data).unwrap();
    let mut all = Vec::new();
    for i in 0..3 {
        let rows = clicks(2000, i + 1);
        write_csv(&data.join(format!("part-{i}.csv")), &rows, true);
        all.extend(rows);
    }
    (data, all)
}

/// Hits and bytes per user by the query, then `stages` (YAML list items) over its
/// result, into jsonl at `out` (replacing what is there).
fn spec(data: &Path, stages: &str, out: &Path) -> String {
    format!(
        "name: by-user-then\n\
         inputs:\n  clicks: {{ path: \"{}\", format: csv }}\n\
         split_size: 16 KiB\n\
         query: |\n  SELECT user, sum(bytes) AS bytes, count(*) AS hits\n  \
         FROM clicks WHERE status = 200 GROUP BY user\n\
         stages:\n{stages}\
         output: {{ path: \"{}\", format: jsonl, mode: overwrite }}\n",
        data.display(),
        out.display()
    )
}

/// Rows through a program of the user's, then into one file.
const THROUGH_A_COMMAND: &str = "  - command: { run: cat, format: jsonl }\n  - coalesce: 1\n";

fn files_and_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn stages_after_a_query_see_its_whole_result_and_only_theirs_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (data, rows) = clicks_in(dir.path());
    let out = dir.path().join("out");
    let run = run_spec(
        dir.path(),
        &spec(&data, THROUGH_A_COMMAND, &out),
        &["--workers", "2"],
    );
    run.assert_ok();
    let expected = expected_by_user(&rows);
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected);
    assert_eq!(part_files(&out).len(), 1, "coalesce: 1 wrote one file");
    let entries: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with("part-") && n != "_SUCCESS")
        .collect();
    assert!(
        entries.is_empty(),
        "the query's result was published: {entries:?}"
    );
    assert_eq!(beside_output(dir.path()), vec!["out"]);
    let s = &run.summary;
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["input_files"], 3, "what was read is the query's: {s}");
    let csv_bytes: u64 = files_and_bytes(&data)
        .iter()
        .map(|f| f.1.len() as u64)
        .sum();
    assert_eq!(s["bytes_read"], csv_bytes, "{s}");
    assert_eq!(s["rows_out"], expected.len() as u64, "{s}");
    assert_eq!(s["output_files"], 1, "{s}");
    assert_eq!(s["workers"], 2, "{s}");
}

#[test]
fn a_failing_stage_after_the_query_commits_nothing_and_keeps_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = clicks_in(dir.path());
    let out = dir.path().join("out");
    run_spec(dir.path(), &spec(&data, THROUGH_A_COMMAND, &out), &[]).assert_ok();
    let before = files_and_bytes(&out);
    let failing = "  - command: { run: \"echo broken >&2; exit 3\", format: jsonl }\n";
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec(&data, failing, &out), &["--workers", "2"]);
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert_eq!(run.summary["status"], "failed", "{}", run.summary);
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("exit") && error.contains("broken"),
        "{}",
        run.summary
    );
    // The task is named by what it read, the query's result, not by a path in the
    // output's staging.
    assert!(
        error.contains("scan of the query's result, task-") && !error.contains(".spindle-"),
        "{}",
        run.summary
    );
    assert_eq!(files_and_bytes(&out), before, "the previous output changed");
    assert_eq!(beside_output(dir.path()), vec!["out"]);
}

#[test]
fn an_output_over_the_query_input_is_refused_before_any_work_with_stages_too() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = clicks_in(dir.path());
    let before = files_and_bytes(&data);
    for target in [data.clone(), dir.path().to_path_buf()] {
        let run = run_spec(dir.path(), &spec(&data, THROUGH_A_COMMAND, &target), &[]);
        assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
        assert!(
            run.stderr().contains("key `output.path`"),
            "{}",
            run.stderr()
        );
        assert_eq!(files_and_bytes(&data), before, "the input changed");
    }
    assert!(beside_output(dir.path()).is_empty());
}

/// Starts `spindle run` of `spec` and returns once its stages are running (the query's
/// result is in the staging directory), with the staging directory.
fn running_stages(dir: &Path, spec: &str) -> (std::process::Child, PathBuf) {
    let spec_path = dir.join("slow.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&spec_path)
        .args(["--quiet", "--workers", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let staging = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("query-result").is_dir());
        // A stage worker (`spindle worker`, not `spindle query-worker`) has started.
        let stage_workers = child_pids(child.id(), "\0worker\0");
        if let (Some(staging), false) = (staging, stage_workers.is_empty()) {
            return (child, staging);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before its stages: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no stages after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SLOW_STAGE: &str = "  - command: { run: \"sleep 60; cat\", format: jsonl }\n";

#[test]
fn a_signal_during_the_stages_ends_the_run_at_once_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = clicks_in(dir.path());
    let out = dir.path().join("out");
    let (child, _) = running_stages(dir.path(), &spec(&data, SLOW_STAGE, &out));
    let signalled = Instant::now();
    assert!(signal(child.id(), 15));
    let o = child.wait_with_output().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    assert!(!out.exists(), "an output appeared");
    assert!(
        beside_output(dir.path()).is_empty(),
        "{:?}",
        beside_output(dir.path())
    );
}

#[test]
fn a_run_killed_during_its_stages_is_cleared_by_the_next_run_on_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let (data, rows) = clicks_in(dir.path());
    let out = dir.path().join("out");
    let (mut child, staging) = running_stages(dir.path(), &spec(&data, SLOW_STAGE, &out));
    assert!(signal(child.id(), 9));
    child.wait().unwrap();
    assert!(
        staging.join("query-result").is_dir(),
        "the kill left nothing to clear"
    );
    assert!(!out.exists(), "an output appeared");
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec(&data, THROUGH_A_COMMAND, &out), &[]);
    run.assert_ok();
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&rows));
    assert_eq!(beside_output(dir.path()), vec!["out"]);
}

/// A spec file of a query with stages over clicks in `dir`, and its output (never
/// written by the callers).
fn spec_file(dir: &Path) -> (PathBuf, PathBuf) {
    let (data, _) = clicks_in(dir);
    let spec_path = dir.join("job.yaml");
    let out = dir.join("out");
    std::fs::write(&spec_path, spec(&data, THROUGH_A_COMMAND, &out)).unwrap();
    (spec_path, out)
}

#[test]
fn explain_shows_the_query_then_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    let (spec_path, out) = spec_file(dir.path());
    let o = explain(&spec_path, &["--workers", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    let query_at = shown.find("AggregateExec").expect("the query's plan");
    let stages_at = shown.find("Then the stages").expect("the stages after it");
    assert!(query_at < stages_at, "{shown}");
    assert!(shown[stages_at..].contains("(command)"), "{shown}");
    assert!(!out.exists());
}

/// The example the README points at runs on the sample data, its awk stage adding a
/// column to every row of the query's result.
#[test]
fn the_revenue_report_example_runs_and_its_command_adds_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string("conf/examples/revenue-report.yaml").unwrap();
    let out = dir.path().join("report");
    let spec = example.replace(
        "/tmp/spindle-out/revenue-report",
        &out.display().to_string(),
    );
    assert_ne!(spec, example, "the example's output path moved");
    let spec_path = dir.path().join("report.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    // Its input paths are relative to the repository's root.
    let o = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .arg(&spec_path)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let parts = part_files(&out);
    assert_eq!(parts.len(), 1);
    let csv = std::fs::read_to_string(&parts[0]).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("country,hits,bytes,bytes_per_hit"));
    let rows: Vec<Vec<i64>> = lines
        .map(|l| l.split(',').skip(1).map(|n| n.parse().unwrap()).collect())
        .collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r[2], r[1] / r[0], "{csv}");
    }
}

/// A query that returns no rows still gives its stages its columns: a command stage sees
/// the header, and the output is the header alone.
#[test]
fn an_empty_query_result_reaches_the_stages_with_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = clicks_in(dir.path());
    let out = dir.path().join("out");
    let stages = "  - command: { run: cat, format: csv }\n  - coalesce: 1\n";
    let spec = spec(&data, stages, &out)
        .replace("status = 200", "status = 999")
        .replace("format: jsonl, mode", "format: csv, mode");
    let run = run_spec(dir.path(), &spec, &["--workers", "2"]);
    run.assert_ok();
    assert_eq!(run.summary["rows_out"], 0, "{}", run.summary);
    let parts = part_files(&out);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(
        std::fs::read_to_string(&parts[0]).unwrap(),
        "user,bytes,hits\n"
    );
    assert_eq!(beside_output(dir.path()), vec!["out"]);
}

/// A stage naming a column the query does not put out is refused when the query is
/// planned: before any work by `run` (exit 2, the stage named, nothing written), and by
/// `explain`.
#[test]
fn a_stage_naming_a_column_the_query_lacks_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = clicks_in(dir.path());
    let out = dir.path().join("out");
    let stages = "  - sql: \"SELECT user, url FROM input\"\n";
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec(&data, stages, &out), &["--workers", "2"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let err = run.stderr();
    assert!(
        err.contains("key `stages`: stage 1 (sql)") && err.contains("url"),
        "{err}"
    );
    assert!(!out.exists());
    assert!(
        beside_output(dir.path()).is_empty(),
        "{:?}",
        beside_output(dir.path())
    );
    let o = explain(&dir.path().join("job.yaml"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("key `stages`: stage 1 (sql)"),
        "{}",
        text(&o)
    );
}
