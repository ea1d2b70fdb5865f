use super::*;

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
    assert!(e.contains("at least 1"), "{e}");
    assert!(e.contains("line 12"), "{e}");
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

const WITH_SCHEMA: &str = r#"
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
    let spec = JobSpec::from_yaml(WITH_SCHEMA, "job.yaml").unwrap();
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
                column("ok", ColumnType::Bool),
            ]),
        })
    );
}

#[test]
fn a_bad_column_type_names_the_key_and_line() {
    let e = err(&WITH_SCHEMA.replace("type: int64", "type: integer"));
    assert!(e.starts_with("job.yaml: line 8, column "), "{e}");
    assert!(
        e.contains("key `stages[0].command.schema[1].type`: unknown variant `integer`"),
        "{e}"
    );
}

#[test]
fn an_empty_or_repeating_schema_is_rejected() {
    let e = err(&WITH_SCHEMA.replace(
        "[{name: user, type: string}, {name: n, type: int64}, {name: ok, type: boolean}]",
        "[]",
    ));
    assert!(e.contains("a schema needs at least one column"), "{e}");
    assert!(e.contains("stages[0].command.schema"), "{e}");
    let e = err(&WITH_SCHEMA.replace("name: ok", "name: n"));
    assert!(e.contains("column `n` is declared twice"), "{e}");
}
