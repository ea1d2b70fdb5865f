//! `command` stages end to end: partitions a program prints nothing for, schemas declared
//! or unified across partitions, per-task scratch directories, and the job's secret kept
//! out of programs' environments and out of error messages.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// Two input files: the command drops every row of the second (user `cy`).
fn write_inputs(dir: &Path) -> String {
    let data = dir.join("in");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("a.jsonl"),
        "{\"user\":\"ana\",\"n\":1}\n{\"user\":\"bo\",\"n\":2}\n{\"user\":\"ana\",\"n\":3}\n",
    )
    .unwrap();
    std::fs::write(data.join("b.jsonl"), "{\"user\":\"cy\",\"n\":4}\n").unwrap();
    format!("{}/*.jsonl", data.display())
}

fn spec(input: &str, stages: &str, out: &Path, out_format: &str) -> String {
    format!(
        "name: cmd\nworkers: {{ instances: 2, memory: 256 MiB }}\nmax_task_attempts: 1\n\
         input: {{path: \"{input}\", format: jsonl}}\nstages:\n{stages}\n\
         output: {{path: \"{}\", format: {out_format}}}\n",
        out.display()
    )
}

/// grep exits 1 when it matches nothing, which is fine here.
const GREP: &str = r#"grep -v '\"cy\"' || [ $? -eq 1 ]"#;

fn sorted_rows(out: &Path) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = read_jsonl_rows(out)
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn group_by_after(command: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = write_inputs(dir.path());
    let out = dir.path().join("out");
    let stages = format!(
        "  - command: {command}\n  - sql: \"SELECT user, count(*) AS n FROM input GROUP BY user\""
    );
    let run = run_spec(dir.path(), &spec(&input, &stages, &out, "jsonl"), &[]);
    run.assert_ok();
    assert_eq!(
        sorted_rows(&out),
        vec![("ana".to_string(), 2), ("bo".to_string(), 1)]
    );
    assert_eq!(run.summary["rows_out"], 2);
}

#[test]
fn a_command_with_no_output_for_one_partition_then_group_by_with_a_declared_schema() {
    group_by_after(&format!(
        "{{run: \"{GREP}\", format: jsonl, schema: [{{name: user, type: utf8}}, {{name: n, type: int64}}]}}"
    ));
}

#[test]
fn a_command_with_no_output_for_one_partition_then_group_by_with_an_inferred_schema() {
    group_by_after(&format!("\"{GREP}\""));
}

#[test]
fn a_last_command_writes_every_partition_with_one_schema() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_inputs(dir.path());
    let out = dir.path().join("out");
    let stages = format!("  - command: \"{GREP}\"");
    let run = run_spec(dir.path(), &spec(&input, &stages, &out, "csv"), &[]);
    run.assert_ok();
    let files: Vec<String> = part_files(&out)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    // The input's columns come in name order; the command passes them on.
    assert_eq!(files, vec!["n,user\n1,ana\n2,bo\n3,ana\n", "n,user\n"]);
}

#[test]
fn partitions_that_disagree_on_a_type_fail_the_job_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_inputs(dir.path());
    let out = dir.path().join("out");
    let stages = "  - command: \"sed 's/\\\"n\\\":4/\\\"n\\\":\\\"four\\\"/'\"\n  - sql: \"SELECT user FROM input\"";
    let run = run_spec(dir.path(), &spec(&input, stages, &out, "jsonl"), &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert_eq!(
        run.summary["error"],
        "stage 1 (command): column `n` is Int64 in one partition and Utf8 in partition 1; \
         declare the command's `schema:` to read every partition the same way"
    );
    assert!(no_visible_output(&out));
}

/// `spindle run` with a would-be secret in its own environment, which nothing it starts
/// may pass on, and with no other variable named like a secret.
fn run_with_canary(dir: &Path, spec: &str) -> (bool, String, serde_json::Value) {
    let spec_path = dir.join("job.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let summary_path = dir.join("summary.json");
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg(&spec_path)
        .arg("--summary-json")
        .arg(&summary_path)
        .arg("--quiet");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().contains("SECRET") {
            cmd.env_remove(name);
        }
    }
    let output = cmd
        .env("SPINDLE_SECRET", "canary-4f1d")
        .output()
        .expect("spawn spindle");
    let summary = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
        summary,
    )
}

/// A 64-character hex word: what a job's secret looks like.
fn has_secret_like_word(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() >= 64)
}

#[test]
fn a_command_sees_no_secret_in_its_environment_or_its_workers() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_inputs(dir.path());
    let out = dir.path().join("out");
    // $PPID is the worker that started `sh -c`.
    let probe = r#"cat >/dev/null
      vars=$(env | grep -c SECRET)
      worker_vars=$(tr '\0' '\n' < /proc/$PPID/environ | grep -c SECRET)
      worker_cmd=$(tr '\0' ' ' < /proc/$PPID/cmdline)
      printf '{"vars":%s,"worker_vars":%s,"worker_cmd":"%s"}\n' "$vars" "$worker_vars" "$worker_cmd""#;
    let stages = format!("  - command: |\n      {probe}");
    let (ok, stderr, _) = run_with_canary(dir.path(), &spec(&input, &stages, &out, "jsonl"));
    assert!(ok, "{stderr}");
    let rows = read_jsonl_rows(&out);
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["vars"], 0, "{r:?}");
        assert_eq!(r["worker_vars"], 0, "{r:?}");
        let cmd = r["worker_cmd"].as_str().unwrap();
        assert!(
            cmd.starts_with(&format!("{BIN} worker --master 127.0.0.1:")),
            "{cmd}"
        );
        assert!(cmd.trim_end().ends_with("--secret-stdin"), "{cmd}");
        assert!(!has_secret_like_word(cmd), "{cmd}");
    }
}

#[test]
fn a_failing_command_that_prints_its_environment_reveals_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_inputs(dir.path());
    let out = dir.path().join("out");
    let stages = "  - command: \"cat >/dev/null; env >&2; echo ENV-END >&2; exit 3\"";
    let (ok, stderr, summary) = run_with_canary(dir.path(), &spec(&input, stages, &out, "jsonl"));
    assert!(!ok);
    let error = summary["error"].as_str().unwrap();
    assert!(
        error.contains("exited with status 3; stderr: ")
            && error.ends_with("ENV-END (failed 1 attempts)"),
        "{error}"
    );
    for text in [error, stderr.as_str()] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("canary-4f1d"), "{text}");
        assert!(!has_secret_like_word(text), "{text}");
    }
}

#[test]
fn each_command_task_runs_in_its_own_scratch_dir() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_inputs(dir.path());
    let out = dir.path().join("out");
    let stages = r#"  - command: "cat >/dev/null; touch scratch-file; printf '{\"cwd\":\"%s\"}\\n' \"$(pwd)\"""#;
    let run = run_spec(dir.path(), &spec(&input, stages, &out, "jsonl"), &[]);
    run.assert_ok();
    let mut cwds: Vec<String> = read_jsonl_rows(&out)
        .iter()
        .map(|r| r["cwd"].as_str().unwrap().to_string())
        .collect();
    cwds.sort();
    cwds.dedup();
    assert_eq!(cwds.len(), 2, "{cwds:?}");
    for cwd in &cwds {
        let path = Path::new(cwd);
        assert_eq!(path.file_name().unwrap(), "work", "{cwd}");
        let task = path.parent().unwrap();
        let name = task.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with("task-") && name.ends_with("-1"),
            "{cwd}: one per task attempt"
        );
        assert_eq!(
            task.parent().unwrap().file_name().unwrap(),
            "tasks",
            "{cwd}"
        );
        assert!(!task.exists(), "{cwd} is removed after the task");
    }
}
