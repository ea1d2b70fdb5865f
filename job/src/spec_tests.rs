use super::*;
use crate::columns::{ColumnSpec, ColumnType};

const FULL: &str = r#"
name: clicks-by-user
queue: default
workers: { instances: 4, memory: 2 GiB, vcores: 1 }
input:
  path: "hdfs:///logs/2026/11/*.csv"
  format: csv
  csv: { header: true, delimiter: "," }
  split_size: 128 MiB
stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: { by: [user], partitions: 8 }
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
  - command: "cat"
  - command: { run: "sort", format: csv }
  - coalesce: 2
output:
  path: "hdfs:///out/clicks"
  format: parquet
  mode: error_if_exists
"#;

fn err(text: &str) -> String {
    JobSpec::from_yaml(text, "job.yaml")
        .unwrap_err()
        .to_string()
}

#[test]
fn parses_the_design_example() {
    let spec = JobSpec::from_yaml(FULL, "job.yaml").unwrap();
    assert_eq!(spec.workers.instances, Some(4));
    assert_eq!(spec.workers.memory, ByteSize(2 << 30));
    assert_eq!(spec.input.format, InputFormat::Csv);
    assert_eq!(spec.input.split_size, ByteSize(128 << 20));
    assert_eq!(spec.stages.len(), 6);
    assert_eq!(
        spec.stages[1],
        Stage::Shuffle(ShuffleStage {
            by: vec!["user".into()],
            partitions: 8
        })
    );
    assert_eq!(
        spec.stages[4],
        Stage::Command(CommandStage {
            run: "sort".into(),
            format: RowFormat::Csv,
            schema: None,
        })
    );
    assert_eq!(spec.stages[5], Stage::Coalesce(2));
    assert_eq!(spec.output.mode, OutputMode::ErrorIfExists);
    assert_eq!(spec.max_task_attempts, 4);
}

#[test]
fn defaults_are_sane() {
    let spec = JobSpec::from_yaml(
        "name: x\ninput: {path: /tmp/a, format: text}\noutput: {path: /tmp/b}\n",
        "j",
    )
    .unwrap();
    assert_eq!(spec.queue, "default");
    assert_eq!(spec.workers.instances, None);
    assert_eq!(spec.output.format, OutputFormat::Parquet);
    assert_eq!(spec.output.mode, OutputMode::ErrorIfExists);
    assert!(spec.input.csv.header);
    assert!(spec.stages.is_empty());
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = FULL.replace(
        "  split_size: 128 MiB",
        "  split_size: 128 MiB\n  splitsize: 1",
    );
    let e = err(&text);
    assert!(e.contains("line 10"), "{e}");
    assert!(e.contains("splitsize"), "{e}");
    assert!(e.starts_with("job.yaml: "), "{e}");
}

#[test]
fn wrong_type_names_key_and_line() {
    let text = FULL.replace("instances: 4", "instances: four");
    let e = err(&text);
    assert!(e.contains("key `workers.instances`"), "{e}");
    assert!(e.contains("line 4"), "{e}");
}

#[test]
fn missing_required_key_is_named() {
    let e = err("name: x\ninput: {path: /tmp/a}\noutput: {path: /tmp/b}\n");
    assert!(e.contains("missing field `format`"), "{e}");
    assert!(e.contains("input"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn zero_partitions_is_rejected_at_its_line() {
    let text = FULL.replace("partitions: 8", "partitions: 0");
    let e = err(&text);
    assert!(e.contains("0 is out of range: must be 1 to 100000"), "{e}");
    assert!(e.contains("line 12"), "{e}");
}

#[test]
fn every_count_and_size_has_bounds_named_with_key_and_line() {
    let cases = [
        (
            "partitions: 8",
            "partitions: 4294967295",
            "stages[1].shuffle.partitions",
            "must be 1 to 100000",
        ),
        (
            "partitions: 8",
            "partitions: 99999999999999",
            "stages[1].shuffle.partitions",
            "out of range",
        ),
        (
            "split_size: 128 MiB",
            "split_size: 0",
            "input.split_size",
            "must be 1 B to 64.0 GiB",
        ),
        (
            "split_size: 128 MiB",
            "split_size: 65 GiB",
            "input.split_size",
            "out of range",
        ),
        (
            "instances: 4",
            "instances: 0",
            "workers.instances",
            "must be 1 to 10000",
        ),
        (
            "instances: 4",
            "instances: 1000000",
            "workers.instances",
            "must be 1 to 10000",
        ),
        (
            "memory: 2 GiB",
            "memory: 2 TiB",
            "workers.memory",
            "out of range",
        ),
        (
            "vcores: 1",
            "vcores: 0",
            "workers.vcores",
            "must be 1 to 1024",
        ),
    ];
    for (from, to, key, want) in cases {
        assert!(FULL.contains(from), "{from}");
        let e = err(&FULL.replace(from, to));
        assert!(
            e.contains(key) && e.contains(want) && e.contains("line "),
            "{to}: {e}"
        );
    }
    let e = err(&format!("{FULL}max_task_attempts: 0\n"));
    assert!(
        e.contains("max_task_attempts") && e.contains("must be 1 to 100"),
        "{e}"
    );
    let e = err(&FULL.replace("partitions: 8 }", "partitions: 8 }\n  - coalesce: 0"));
    assert!(e.contains("must be 1 to 100000"), "{e}");
}

#[test]
fn bad_delimiter_and_unknown_stage() {
    let e = err(&FULL.replace("delimiter: \",\"", "delimiter: \"ab\""));
    assert!(e.contains("delimiter must be one ASCII character"), "{e}");
    let e = err(&FULL.replace("- coalesce: 2", "- explode: 2"));
    assert!(e.contains("explode"), "{e}");
    assert!(e.contains("line 16"), "{e}");
}

#[test]
fn tab_delimiter_is_accepted() {
    let spec =
        JobSpec::from_yaml(&FULL.replace("delimiter: \",\"", "delimiter: \"\\t\""), "j").unwrap();
    assert_eq!(spec.input.csv.delimiter, '\t');
}

#[test]
fn bad_size_is_explained() {
    let e = err(&FULL.replace("memory: 2 GiB", "memory: 2 parsecs"));
    assert!(e.contains("unknown size unit"), "{e}");
    assert!(e.contains("workers.memory"), "{e}");
}

#[test]
fn unknown_key_inside_command_map() {
    let e = err(&FULL.replace("format: csv }", "fmt: csv }"));
    assert!(e.contains("fmt"), "{e}");
}

const WITH_SCHEMA: &str = r#"name: typed
input:
  path: data/*.jsonl
  format: jsonl
  schema: [{name: user, type: utf8}, {name: bytes, type: int64}, {name: ts, type: timestamp}]
output: {path: /tmp/out}
"#;

#[test]
fn input_schema_is_parsed_in_order() {
    let spec = JobSpec::from_yaml(WITH_SCHEMA, "job.yaml").unwrap();
    let col = |name: &str, data_type| ColumnSpec {
        name: name.into(),
        data_type,
    };
    assert_eq!(
        spec.input.schema,
        Some(vec![
            col("user", ColumnType::Utf8),
            col("bytes", ColumnType::Int64),
            col("ts", ColumnType::Timestamp),
        ])
    );
    assert_eq!(
        JobSpec::from_yaml(FULL, "job.yaml").unwrap().input.schema,
        None
    );
}

#[test]
fn every_type_name_and_alias_is_accepted() {
    let names = [
        ("utf8", ColumnType::Utf8),
        ("string", ColumnType::Utf8),
        ("int32", ColumnType::Int32),
        ("int64", ColumnType::Int64),
        ("float32", ColumnType::Float32),
        ("float64", ColumnType::Float64),
        ("bool", ColumnType::Boolean),
        ("boolean", ColumnType::Boolean),
        ("date", ColumnType::Date32),
        ("date32", ColumnType::Date32),
        ("timestamp", ColumnType::Timestamp),
    ];
    for (name, want) in names {
        let text = WITH_SCHEMA.replace("type: utf8", &format!("type: {name}"));
        let spec = JobSpec::from_yaml(&text, "j").unwrap();
        assert_eq!(spec.input.schema.unwrap()[0].data_type, want, "{name}");
    }
}

#[test]
fn unknown_column_type_names_key_and_line() {
    let e = err(&WITH_SCHEMA.replace("type: int64", "type: int65"));
    assert!(e.starts_with("job.yaml: line 5, column "), "{e}");
    assert!(e.contains("key `input.schema[1].type`"), "{e}");
    assert!(e.contains("unknown variant `int65`"), "{e}");
}

#[test]
fn bad_schema_lists_are_rejected() {
    let e = err(&WITH_SCHEMA.replace("{name: ts, type: timestamp}", "{name: user, type: date}"));
    assert!(e.contains("key `input.schema`"), "{e}");
    assert!(e.contains("column `user` is listed twice"), "{e}");
    let e = err(&WITH_SCHEMA.replace("{name: ts, type: timestamp}", "{name: ts}"));
    assert!(e.contains("missing field `type`"), "{e}");
    let e = err(&WITH_SCHEMA.replace("format: jsonl", "format: parquet"));
    assert_eq!(
        e,
        "job.yaml: key `input.schema`: only csv and jsonl inputs take a schema \
         (parquet files carry their own, text is one `line` column)"
    );
}

const WITH_COMMAND_SCHEMA: &str = r#"
name: t
input: {path: /x, format: csv}
stages:
  - command:
      run: "grep a"
      format: jsonl
      schema: [{name: user, type: string}, {name: n, type: int64}, {name: ok, type: boolean}]
output: {path: /y}
"#;

#[test]
fn a_command_declares_its_schema_with_type_aliases() {
    let spec = JobSpec::from_yaml(WITH_COMMAND_SCHEMA, "job.yaml").unwrap();
    let column = |name: &str, data_type| ColumnSpec {
        name: name.into(),
        data_type,
    };
    assert_eq!(
        spec.stages[0],
        Stage::Command(CommandStage {
            run: "grep a".into(),
            format: RowFormat::Jsonl,
            schema: Some(vec![
                column("user", ColumnType::Utf8),
                column("n", ColumnType::Int64),
                column("ok", ColumnType::Boolean),
            ]),
        })
    );
}

#[test]
fn a_bad_column_type_names_the_key_and_line() {
    let e = err(&WITH_COMMAND_SCHEMA.replace("type: int64", "type: integer"));
    assert!(e.starts_with("job.yaml: line 8, column "), "{e}");
    assert!(
        e.contains("key `stages[0].command.schema[1].type`: unknown variant `integer`"),
        "{e}"
    );
}

#[test]
fn an_empty_or_repeating_schema_is_rejected() {
    let e = err(&WITH_COMMAND_SCHEMA.replace(
        "[{name: user, type: string}, {name: n, type: int64}, {name: ok, type: boolean}]",
        "[]",
    ));
    assert!(e.contains("a schema needs at least one column"), "{e}");
    assert!(e.contains("stages[0].command.schema"), "{e}");
    let e = err(&WITH_COMMAND_SCHEMA.replace("name: ok", "name: n"));
    assert!(e.contains("column `n` is listed twice"), "{e}");
}

#[test]
fn an_out_of_range_value_is_reported_at_its_own_line() {
    // FULL starts with a newline: `split_size` is on line 9, `partitions` on line 12
    let e = err(&FULL.replace("split_size: 128 MiB", "split_size: 65 GiB"));
    assert!(e.contains("line 9, column 15"), "{e}");
    let e = err(&FULL.replace("partitions: 8", "partitions: 0"));
    assert!(e.contains("line 12, column"), "{e}");
    let e = err(&format!("{FULL}max_task_attempts: 0\n"));
    assert!(e.contains("line 21, column 20"), "{e}");
}

#[test]
fn locality_wait_defaults_to_half_a_second_and_is_bounded() {
    let spec = JobSpec::from_yaml(FULL, "j").unwrap();
    assert_eq!(
        spec.locality_wait.duration(),
        std::time::Duration::from_millis(500)
    );
    let spec = JobSpec::from_yaml(&format!("{FULL}locality_wait: 0\n"), "j").unwrap();
    assert_eq!(spec.locality_wait.duration(), std::time::Duration::ZERO);
    let spec = JobSpec::from_yaml(&format!("{FULL}locality_wait: 3s\n"), "j").unwrap();
    assert_eq!(spec.locality_wait, Timeout::secs(3));
    let e = JobSpec::from_yaml(&format!("{FULL}locality_wait: 1h\n"), "j").unwrap_err();
    let e = e.to_string();
    assert!(e.contains("locality_wait"), "{e}");
}

#[test]
fn task_timeouts_for_the_job_and_for_a_stage() {
    let spec = JobSpec::from_yaml(&format!("{FULL}task_timeout: 10m\n"), "j").unwrap();
    assert_eq!(spec.task_timeout, Timeout::secs(600));
    assert_eq!(spec.workers.heartbeat_timeout, Timeout::secs(30));
    assert!(spec.stages.iter().all(|s| s.task_timeout.is_none()));
    let text = FULL.replace(
        "  - command: \"cat\"\n",
        "  - command: \"cat\"\n    task_timeout: 2h\n",
    );
    let spec = JobSpec::from_yaml(&text, "j").unwrap();
    assert_eq!(spec.task_timeout, Timeout::secs(3600), "the default");
    assert_eq!(spec.stages[3].task_timeout, Some(Timeout::secs(7200)));
    // the key may come first too
    let text = FULL.replace(
        "  - sql: \"SELECT user, bytes",
        "  - task_timeout: 45s\n    sql: \"SELECT user, bytes",
    );
    let spec = JobSpec::from_yaml(&text, "j").unwrap();
    assert_eq!(spec.stages[0].task_timeout, Some(Timeout::secs(45)));
}

#[test]
fn bad_task_timeouts_name_the_key() {
    let e = err(&FULL.replace(
        "  - coalesce: 2\n",
        "  - coalesce: 2\n    task_timeout: 1m\n",
    ));
    assert!(
        e.contains("stages[5]") && e.contains("sql and command stages"),
        "{e}"
    );
    let e = err(&FULL.replace(
        "  - command: \"cat\"\n",
        "  - command: \"cat\"\n    task_timeout: 8d\n",
    ));
    assert!(e.contains("must be 1s to 7d"), "{e}");
    let e = err(&format!("{FULL}task_timeout: 1.5h\n"));
    assert!(
        e.contains("key `task_timeout`") && e.contains("not a duration"),
        "{e}"
    );
    let e = err(&FULL.replace(
        "workers: { instances: 4,",
        "workers: { heartbeat_timeout: 0s, instances: 4,",
    ));
    assert!(e.contains("workers.heartbeat_timeout"), "{e}");
}
