//! `spindle run` end to end: real worker processes, real files, every output row checked
//! against an independent computation.

mod common;
use common::*;
use std::time::{Duration, Instant};

const GROUP_BY: &str = r#"
stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: { by: [user], partitions: 4 }
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
"#;

/// A test job: input and output, with a default split size (1 MiB), no stages, and csv
/// output unless said otherwise.
struct Job {
    name: &'static str,
    input: String,
    format: &'static str,
    split: &'static str,
    stages: &'static str,
    out: String,
    out_format: &'static str,
}

impl Job {
    fn new(
        name: &'static str,
        input: impl std::fmt::Display,
        format: &'static str,
        out: &std::path::Path,
    ) -> Job {
        Job {
            name,
            input: input.to_string(),
            format,
            split: "1 MiB",
            stages: "",
            out: out.display().to_string(),
            out_format: "csv",
        }
    }
    fn split(mut self, split: &'static str) -> Job {
        self.split = split;
        self
    }
    fn stages(mut self, stages: &'static str) -> Job {
        self.stages = stages;
        self
    }
    fn output_format(mut self, format: &'static str) -> Job {
        self.out_format = format;
        self
    }
    fn yaml(&self) -> String {
        let Job {
            name,
            input,
            format,
            split,
            stages,
            out,
            out_format,
        } = self;
        format!(
            "name: {name}\nworkers: {{ instances: 3, memory: 256 MiB }}\ninput:\n  path: \"{input}\"\n  format: {format}\n  split_size: {split}\n{stages}\noutput:\n  path: \"{out}\"\n  format: {out_format}\n"
        )
    }
}

#[test]
fn csv_group_by_over_awkward_files_matches_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in");
    std::fs::create_dir_all(&data).unwrap();
    let a = clicks(700, 1);
    let b = clicks(500, 2);
    let c = clicks(3, 3);
    write_csv(&data.join("a.csv"), &a, true);
    write_csv(&data.join("b.csv"), &b, false); // no trailing newline
    write_csv(&data.join("c.csv"), &c, true);
    std::fs::write(data.join("empty.csv"), "").unwrap();
    let all: Vec<Click> = [a, b, c].concat();
    let out = dir.path().join("out");
    // 300-byte splits put many boundaries inside records and quoted fields.
    let s = Job::new(
        "csv-groupby",
        format!("{}/*.csv", data.display()),
        "csv",
        &out,
    )
    .split("300 B")
    .stages(GROUP_BY)
    .output_format("jsonl")
    .yaml();
    let run = run_spec(dir.path(), &s, &["--workers", "3"]);
    run.assert_ok();
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&all));
    assert!(out.join("_SUCCESS").exists());
    assert!(
        !out.join("_temporary").exists(),
        "staging must be gone after commit"
    );
    assert_eq!(part_files(&out).len(), 4, "one file per shuffle partition");
    let sm = &run.summary;
    assert_eq!(sm["status"], "succeeded");
    assert_eq!(sm["rows_in"], all.len() as u64);
    assert_eq!(sm["rows_out"], expected_by_user(&all).len() as u64);
    assert_eq!(sm["input_files"], 4);
    let loc = &sm["locality"];
    assert!(loc["data_local"].as_u64().unwrap() > 50, "{loc}");
    assert!(loc["data_local_bytes"].as_u64().unwrap() > 0, "{loc}");
    assert_eq!(loc["off_switch"], 0);
    assert_eq!(loc["off_switch_bytes"], 0);
}

#[test]
fn jsonl_to_parquet_with_coalesce() {
    use arrow::array::Array;
    let dir = tempfile::tempdir().unwrap();
    let rows = clicks(2000, 9);
    let input = dir.path().join("clicks.jsonl");
    write_jsonl(&input, &rows);
    let out = dir.path().join("out");
    let stages = "stages:\n  - sql: \"SELECT user, url, bytes FROM input WHERE status = 500\"\n  - coalesce: 1\n";
    let s = Job::new("jsonl-parquet", input.display(), "jsonl", &out)
        .split("8 KiB")
        .stages(stages)
        .output_format("parquet")
        .yaml();
    let run = run_spec(dir.path(), &s, &["--workers", "2"]);
    run.assert_ok();
    let files = part_files(&out);
    assert_eq!(files.len(), 1);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&files[0]).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut got = vec![];
    for batch in reader {
        let batch = batch.unwrap();
        let users = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        let urls = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        let bytes = batch
            .column(2)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        for i in 0..batch.num_rows() {
            got.push((
                users.value(i).to_string(),
                urls.value(i).to_string(),
                bytes.is_valid(i).then(|| bytes.value(i)),
            ));
        }
    }
    let mut want: Vec<_> = rows
        .iter()
        .filter(|c| c.status == 500)
        .map(|c| (c.user.clone(), c.url.clone(), c.bytes))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn parquet_row_groups_to_csv() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let input = dir.path().join("in.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&input).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("k{}", i % 10)).collect();
    let vals: Vec<Option<i64>> = (0..1000)
        .map(|i| if i % 7 == 0 { None } else { Some(i) })
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(keys.clone())),
            Arc::new(Int64Array::from(vals.clone())),
        ],
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let out = dir.path().join("out");
    let stages = "stages:\n  - sql: \"SELECT k, count(v) AS n FROM input GROUP BY k\"\n  - shuffle: { by: [k], partitions: 2 }\n  - sql: \"SELECT k, sum(n) AS n FROM input GROUP BY k\"\n";
    // 1 byte splits: one split per row group (10 of them)
    let s = Job::new("pq", input.display(), "parquet", &out)
        .split("1 B")
        .stages(stages)
        .yaml();
    let run = run_spec(dir.path(), &s, &["--workers", "2"]);
    run.assert_ok();
    assert_eq!(run.summary["tasks"], 10 + 2);
    let mut got = std::collections::BTreeMap::new();
    for f in part_files(&out) {
        let text = std::fs::read_to_string(f).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("k,n"));
        for l in lines {
            let (k, n) = l.split_once(',').unwrap();
            got.insert(k.to_string(), n.parse::<i64>().unwrap());
        }
    }
    let mut want = std::collections::BTreeMap::new();
    for (k, v) in keys.iter().zip(&vals) {
        *want.entry(k.clone()).or_insert(0) += v.is_some() as i64;
    }
    assert_eq!(got, want);
}

#[test]
fn text_lines_stream_through_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!(
            "line {i} {}\n",
            if i % 3 == 0 { "secret" } else { "ünïcode" }
        ));
    }
    std::fs::write(&input, &text).unwrap();
    let out = dir.path().join("out");
    let stages = "stages:\n  - command: \"grep -v secret\"\n  - sql: \"SELECT upper(line) AS line FROM input\"\n";
    let s = Job::new("text-cmd", input.display(), "text", &out)
        .split("1 KiB")
        .stages(stages)
        .output_format("jsonl")
        .yaml();
    let run = run_spec(dir.path(), &s, &[]);
    run.assert_ok();
    let mut got: Vec<String> = read_jsonl_rows(&out)
        .iter()
        .map(|r| r["line"].as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = text
        .lines()
        .filter(|l| !l.contains("secret"))
        .map(|l| l.to_uppercase())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// A stage naming a column it will not see is refused before any work (exit 2, the
/// stage named, DataFusion's message), whether it is the first stage or one after a
/// shuffle; the output and what is beside it stay as they were.
#[test]
fn a_stage_naming_a_missing_column_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.csv");
    write_csv(&input, &clicks(50, 4), true);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "not spindle's").unwrap();
    let cases = [
        ("stage 1 (sql)", "stages:\n  - sql: \"SELECT nosuchcolumn FROM input\"\n"),
        (
            "stage 3 (sql)",
            "stages:\n  - sql: \"SELECT user FROM input\"\n  - shuffle: { by: [user], partitions: 2 }\n  - sql: \"SELECT sum(bytes) FROM input\"\n",
        ),
        (
            "stage 1 (shuffle)",
            "stages:\n  - shuffle: { by: [nosuchcolumn], partitions: 2 }\n",
        ),
    ];
    for (stage, stages) in cases {
        let s = Job::new("bad-sql", input.display(), "csv", &out)
            .stages(stages)
            .yaml()
            + "  mode: overwrite\n";
        let started = Instant::now();
        let run = run_spec(dir.path(), &s, &["--workers", "1"]);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
        let err = run.stderr();
        assert!(err.contains(&format!("key `stages`: {stage}")), "{err}");
        assert!(
            err.contains("nosuchcolumn") || err.contains("bytes"),
            "{err}"
        );
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["mine.txt"]);
        assert_eq!(beside_output(dir.path()), vec!["out"]);
        // `explain` says the same, and reads nothing but the input's first lines.
        let o = explain(&dir.path().join("job.yaml"), &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("key `stages`: {stage}")),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn malformed_csv_names_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    let mut text = String::from("user,status\n");
    // Past the 10,000 records sampled for schema inference, so `status` is an integer.
    for i in 0..12_000 {
        text.push_str(&format!("u{i},200\n"));
    }
    let offset = text.len();
    text.push_str("u50,notanumber\nu51,200\n");
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("out");
    let s = Job::new("bad-csv", input.display(), "csv", &out)
        .split("16 KiB")
        .yaml();
    let run = run_spec(dir.path(), &s, &["--workers", "1"]);
    assert!(!run.ok());
    let err = run.stderr();
    assert!(err.contains("bad.csv"), "{err}");
    assert!(
        err.contains(&format!("byte offset {offset}")),
        "want offset {offset}: {err}"
    );
    assert!(no_visible_output(&out));
}

#[test]
fn failing_command_retries_then_reports_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.csv");
    write_csv(&input, &clicks(10, 5), true);
    let out = dir.path().join("out");
    let job = Job::new("bad-cmd", input.display(), "csv", &out)
        .stages("stages:\n  - command: \"echo disk on fire >&2; exit 3\"\n");
    let s = format!("{}max_task_attempts: 2\n", job.yaml());
    let run = run_spec(dir.path(), &s, &["--workers", "1"]);
    assert!(!run.ok());
    let err = run.stderr();
    assert!(err.contains("exited with status 3"), "{err}");
    assert!(err.contains("disk on fire"), "{err}");
    assert!(err.contains("2 attempts"), "{err}");
    assert_eq!(run.summary["retries"], 1);
    assert!(no_visible_output(&out));
}

#[test]
fn existing_output_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.csv");
    write_csv(&input, &clicks(10, 6), true);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "precious").unwrap();
    let s = Job::new("exists", input.display(), "csv", &out).yaml();
    let run = run_spec(dir.path(), &s, &[]);
    assert!(!run.ok());
    assert!(run.stderr().contains("already exists"), "{}", run.stderr());
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "precious"
    );
    assert_eq!(run.output.status.code(), Some(2));
    // overwrite refuses it too: keep.txt was not written by spindle
    let run = run_spec(dir.path(), &format!("{s}  mode: overwrite\n"), &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("keep.txt"), "{}", run.stderr());
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn missing_input_and_bad_spec_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = Job::new(
        "none",
        format!("{}/nothing/*.csv", dir.path().display()),
        "csv",
        &out,
    )
    .yaml();
    let run = run_spec(dir.path(), &s, &[]);
    assert!(!run.ok());
    assert!(
        run.stderr().contains("no input files match"),
        "{}",
        run.stderr()
    );
    let run = run_spec(dir.path(), &s.replace("split_size", "split_sise"), &[]);
    assert_eq!(run.output.status.code(), Some(2));
    let err = run.stderr();
    assert!(
        err.contains("split_sise") && err.contains("line 6"),
        "{err}"
    );
}

#[test]
fn killing_a_worker_mid_job_still_gives_the_exact_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in");
    std::fs::create_dir_all(&data).unwrap();
    let rows = clicks(3000, 11);
    write_csv(&data.join("a.csv"), &rows, true);
    let out = dir.path().join("out");
    // Slow maps (a sleeping command) so the kill lands mid-job.
    let stages = "stages:\n  - command: \"sleep 0.1; cat\"\n  - sql: \"SELECT user, bytes FROM input WHERE status = 200\"\n  - shuffle: { by: [user], partitions: 3 }\n  - sql: \"SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user\"\n";
    let s = Job::new("crash", format!("{}/*.csv", data.display()), "csv", &out)
        .split("2 KiB")
        .stages(stages)
        .output_format("jsonl")
        .yaml();
    std::fs::write(dir.path().join("job.yaml"), &s).unwrap();
    let summary_path = dir.path().join("summary.json");
    let mut child = std::process::Command::new(BIN)
        .args(["run", "--quiet", "--workers", "2", "--summary-json"])
        .arg(&summary_path)
        .arg(dir.path().join("job.yaml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut pids = vec![];
    while pids.len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        pids = child_pids(child.id(), "worker");
    }
    assert_eq!(pids.len(), 2, "workers did not start");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "job ended before the kill; make it slower"
    );
    assert!(signal(pids[0] as u32, 9), "kill failed");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "job failed after a worker crash: {stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert!(summary["workers_lost"].as_u64().unwrap() >= 1, "{summary}");
    assert!(
        summary["workers"].as_u64().unwrap() >= 3,
        "a replacement worker started: {summary}"
    );
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&rows));
}

#[test]
fn results_past_worker_memory_spill_to_disk_and_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let rows = clicks(120_000, 31);
    let input = dir.path().join("big.csv");
    write_csv(&input, &rows, true);
    let out = dir.path().join("out");
    // 2 MiB of worker memory keeps at most 1 MiB of results; every row crosses the shuffle.
    let stages = "stages:\n  - shuffle: { by: [user], partitions: 2 }\n  - sql: \"SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input WHERE status = 200 GROUP BY user\"\n";
    let s = Job::new("spill", input.display(), "csv", &out)
        .split("256 KiB")
        .stages(stages)
        .output_format("jsonl")
        .yaml()
        .replace("memory: 256 MiB", "memory: 2 MiB");
    let run = run_spec(
        dir.path(),
        &s,
        &["--workers", "2", "--compression", "never"],
    );
    run.assert_ok();
    assert!(
        run.summary["spilled_bytes"].as_u64().unwrap() > 0,
        "{}",
        run.summary
    );
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&rows));
}

#[test]
fn an_encrypted_job_shuffles_every_row_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let rows = clicks(20_000, 37);
    let input = dir.path().join("clicks.csv");
    write_csv(&input, &rows, true);
    let out = dir.path().join("out");
    let s = Job::new("sealed", input.display(), "csv", &out)
        .split("64 KiB")
        .stages(GROUP_BY)
        .output_format("jsonl")
        .yaml();
    let run = run_spec(
        dir.path(),
        &format!("{s}encrypt: true\n"),
        &["--workers", "2"],
    );
    run.assert_ok();
    assert_eq!(run.summary["encrypted"], true, "{}", run.summary);
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&rows));
    // And without it, the summary says the traffic was not encrypted.
    let plain_out = dir.path().join("plain");
    let s = Job::new("plain", input.display(), "csv", &plain_out)
        .stages(GROUP_BY)
        .output_format("jsonl")
        .yaml();
    let run = run_spec(dir.path(), &s, &["--workers", "2"]);
    run.assert_ok();
    assert_eq!(run.summary["encrypted"], false, "{}", run.summary);
}

/// Runs a jsonl job over `good` lines then `bad` ones: the error must name the file and
/// the first bad line's byte offset, and nothing may be left in the output.
fn assert_bad_jsonl_is_located(file: &str, good: &str, bad: &str, split: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(file);
    std::fs::write(&input, format!("{good}{bad}")).unwrap();
    let out = dir.path().join("out");
    let s = Job::new("bad-json", input.display(), "jsonl", &out)
        .split(split)
        .yaml();
    let run = run_spec(dir.path(), &s, &["--workers", "2"]);
    assert!(!run.ok());
    let err = run.stderr();
    assert!(err.contains(file), "{err}");
    let offset = format!("byte offset {}", good.len());
    assert!(err.contains(&offset), "want {offset}: {err}");
    assert!(no_visible_output(&out));
}

#[test]
fn malformed_jsonl_names_file_and_offset() {
    // inside the sample the master infers the schema from
    let good = "{\"a\":1}\n".repeat(20);
    assert_bad_jsonl_is_located("bad.jsonl", &good, "{\"a\":2,,}\n{\"a\":3}\n", "1 MiB");
}

#[test]
fn malformed_jsonl_past_the_inference_sample_names_its_offset() {
    // past the 10,000 sampled records, found by the worker that parses that split
    let good = "{\"a\":1,\"b\":\"x\"}\n".repeat(12_000);
    let bad = "{\"a\":\"not a number\",\"b\":\"y\"}\n";
    assert_bad_jsonl_is_located("late.jsonl", &good, bad, "16 KiB");
}

#[test]
fn absurd_counts_and_sizes_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.csv");
    write_csv(&input, &clicks(60_000, 9), true);
    assert!(std::fs::metadata(&input).unwrap().len() > 1_000_000);
    let out = dir.path().join("out");
    let started = std::time::Instant::now();
    let plain = Job::new("bounds", input.display(), "csv", &out).yaml();
    let run = run_spec(dir.path(), &plain, &["--workers", "0"]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("--workers"), "{}", run.stderr());
    let huge = Job::new("bounds", input.display(), "csv", &out)
        .stages("stages:\n  - shuffle: { by: [user], partitions: 4294967295 }\n")
        .yaml();
    let run = run_spec(dir.path(), &huge, &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let err = run.stderr();
    assert!(
        err.contains("stages[0].shuffle.partitions") && err.contains("1 to 100000"),
        "{err}"
    );
    let tiny = Job::new("bounds", input.display(), "csv", &out)
        .split("1 B")
        .yaml();
    let run = run_spec(dir.path(), &tiny, &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert!(
        run.stderr().contains("raise split_size"),
        "{}",
        run.stderr()
    );
    assert!(no_visible_output(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn counting_text_lines_counts_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    // Blank lines, CRLF ends, and a last line without an end are lines too.
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(match i % 4 {
            0 => "\n",
            1 => "crlf\r\n",
            _ => "ünïcode line\n",
        });
    }
    text.push_str("no end");
    std::fs::write(&input, &text).unwrap();
    let out = dir.path().join("out");
    let stages =
        "stages:\n  - sql: \"SELECT count(*) AS n FROM input\"\n  - coalesce: 1\n  - sql: \"SELECT sum(n) AS n FROM input\"\n";
    let s = Job::new("text-count", input.display(), "text", &out)
        .split("4 KiB")
        .stages(stages)
        .output_format("jsonl")
        .yaml();
    let run = run_spec(dir.path(), &s, &[]);
    run.assert_ok();
    let rows = read_jsonl_rows(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["n"], 3001, "{rows:?}");
    assert_eq!(run.summary["rows_in"], 3001);
}
