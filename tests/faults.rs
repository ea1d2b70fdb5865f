//! Faults provoked on real `spindle run` jobs: each ends in recovery with the exact
//! result or in a clear failure, and each test bounds how long that took.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A group-by over three workers that split the input into many small scans.
fn group_by_job(dir: &Path, name: &str, extra: &str, stages_after: &str) -> (String, Vec<Click>) {
    let input = dir.join("in.csv");
    let rows = clicks(3000, 21);
    write_csv(&input, &rows, true);
    let out = dir.join("out");
    let spec = format!(
        r#"name: {name}
workers: {{ instances: 3, memory: 256 MiB, heartbeat_timeout: 2s }}
{extra}
input: {{ path: "{input}", format: csv, split_size: 16 KiB }}
stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: {{ by: [user], partitions: 6 }}
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
{stages_after}
output: {{ path: "{out}", format: jsonl }}
"#,
        input = input.display(),
        out = out.display(),
    );
    (spec, rows)
}

/// A job of one 10-row csv file through `stages`, with `top` (top-level keys) added; its
/// spec and its output directory.
fn small_job(dir: &Path, name: &str, top: &str, stages: &str) -> (String, std::path::PathBuf) {
    let input = dir.join("a.csv");
    write_csv(&input, &clicks(10, 5), true);
    let out = dir.join("out");
    let spec = format!(
        "name: {name}\n{top}workers: {{ instances: 1 }}\ninput: {{ path: \"{}\", format: csv }}\nstages:\n{stages}output: {{ path: \"{}\" }}\n",
        input.display(),
        out.display()
    );
    (spec, out)
}

/// Processes whose command line holds `marker`: what a killed command left behind.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rfind(')')
            .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_worker_frozen_mid_shuffle_is_replaced_and_the_result_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("froze");
    // After the shuffle, the first reducer to run freezes its own worker (the parent of
    // the command's shell) with SIGSTOP: it holds map results its peers need, and it
    // neither answers nor closes a connection.
    let freeze = format!(
        "  - command: \"if mkdir {} 2>/dev/null; then kill -STOP $PPID; fi; cat\"",
        marker.display()
    );
    let (spec, rows) = group_by_job(dir.path(), "frozen", "", &freeze);
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec, &[]);
    let took = started.elapsed();
    run.assert_ok();
    assert!(marker.exists(), "a worker was frozen");
    assert_eq!(
        by_user(&read_jsonl_rows(&dir.path().join("out"))),
        expected_by_user(&rows)
    );
    assert!(
        run.summary["workers_lost"].as_u64().unwrap() >= 1,
        "{}",
        run.summary
    );
    // two seconds of silence, a replacement, recomputing: far less than a minute
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn a_stuck_command_is_killed_with_its_children_retried_then_fails_naming_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // the shell starts a child that would outlive it if only the shell were killed
    let (spec, out) = small_job(
        dir.path(),
        "stuck",
        "task_timeout: 2s\nmax_task_attempts: 2\n",
        "  - command: \"sleep 100007 & sleep 100008; cat\"\n",
    );
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec, &[]);
    let took = started.elapsed();
    assert!(!run.ok());
    let err = run.stderr();
    assert!(err.contains("task 0"), "{err}");
    assert!(err.contains("ran past its task_timeout of 2s"), "{err}");
    assert!(err.contains("2 attempts"), "{err}");
    assert!(no_visible_output(&out));
    // two attempts of two seconds and a backoff between
    assert!(took < Duration::from_secs(30), "took {took:?}");
    std::thread::sleep(Duration::from_millis(300));
    for marker in ["sleep 100007", "sleep 100008"] {
        assert!(
            processes_with(marker).is_empty(),
            "`{marker}` outlived its task"
        );
    }
}

#[test]
fn a_stages_own_timeout_bounds_it_within_a_longer_job_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = small_job(
        dir.path(),
        "stage-timeout",
        "task_timeout: 1h\nmax_task_attempts: 1\n",
        "  - sql: \"SELECT user FROM input\"\n  - command: \"sleep 100009\"\n    task_timeout: 1s\n",
    );
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec, &[]);
    assert!(!run.ok());
    let err = run.stderr();
    assert!(
        err.contains("stage 2 (command) ran past its task_timeout of 1s"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    assert!(processes_with("sleep 100009").is_empty());
}

#[test]
fn a_missing_program_fails_at_once_without_burning_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = small_job(
        dir.path(),
        "missing",
        "max_task_attempts: 4\n",
        "  - command: \"no-such-program-for-spindle --flag\"\n",
    );
    let started = Instant::now();
    let run = run_spec(dir.path(), &spec, &[]);
    assert!(!run.ok());
    let err = run.stderr();
    assert!(err.contains("exited with status 127"), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert_eq!(run.summary["retries"], 0, "{}", run.summary);
    assert_eq!(run.summary["task_attempts"], 1, "{}", run.summary);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn out_of_range_liveness_settings_are_spec_errors_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("task_timeout: 0s\n", "task_timeout"),
        ("task_timeout: 8d\n", "task_timeout"),
        ("task_timeout: soon\n", "task_timeout"),
        (
            "workers: { heartbeat_timeout: 2h }\n",
            "workers.heartbeat_timeout",
        ),
    ] {
        let spec = format!(
            "name: bounds\n{extra}input: {{ path: /nonexistent, format: csv }}\noutput: {{ path: /nonexistent-out }}\n"
        );
        let started = Instant::now();
        let run = run_spec(dir.path(), &spec, &[]);
        assert_eq!(
            run.output.status.code(),
            Some(2),
            "{extra}: {}",
            run.stderr()
        );
        let err = run.stderr();
        assert!(
            err.contains(&format!("key `{key}`")) && err.contains("line 2"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
