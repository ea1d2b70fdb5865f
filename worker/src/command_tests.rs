use super::*;
use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field};
use spindle_job::{ColumnSpec, ColumnType};

const SECRET: &str = "s3cr3t-0123456789abcdefghijklmnopq";

fn declared(columns: &[(&str, ColumnType)]) -> SchemaRef {
    let columns: Vec<ColumnSpec> = columns
        .iter()
        .map(|(n, t)| ColumnSpec {
            name: n.to_string(),
            data_type: *t,
        })
        .collect();
    spindle_io::schema::declared(&columns)
}

fn users() -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![Field::new("user", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec!["ana", "bo"]))],
    )
    .unwrap();
    (schema, vec![batch])
}

/// Runs `run` over two rows in a fresh directory.
async fn run(
    run: &str,
    format: RowFormat,
    schema: Option<SchemaRef>,
) -> Result<(SchemaRef, Vec<RecordBatch>), TaskError> {
    let dir = tempfile::tempdir().unwrap();
    let op = CommandOp {
        what: "stage 2 (command)",
        run,
        format,
        schema,
        cwd: dir.path(),
        spool: &dir.path().join("stdout"),
        secret: SECRET,
    };
    let (schema, batches) = users();
    run_command(&op, schema, batches).await
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test]
async fn empty_output_is_an_empty_partition_with_the_declared_schema() {
    let schema = declared(&[("user", ColumnType::Utf8), ("n", ColumnType::Int64)]);
    for format in [RowFormat::Jsonl, RowFormat::Csv] {
        let (got, batches) = run("cat >/dev/null", format, Some(schema.clone()))
            .await
            .unwrap();
        assert_eq!(got, schema, "{format:?}");
        assert_eq!(rows(&batches), 0, "{format:?}");
    }
}

#[tokio::test]
async fn empty_output_without_a_schema_has_no_columns() {
    // grep exits 1 when nothing matches; `|| [ $? -eq 1 ]` says that is fine.
    let (got, batches) = run("grep nobody || [ $? -eq 1 ]", RowFormat::Jsonl, None)
        .await
        .unwrap();
    assert_eq!(got.as_ref(), &Schema::empty());
    assert_eq!(batches.len(), 0);
}

#[tokio::test]
async fn declared_rows_decode_as_they_stream_in_batches() {
    let schema = declared(&[("n", ColumnType::Int64), ("user", ColumnType::Utf8)]);
    let (got, batches) = run(
        "cat >/dev/null; seq 1 20000 | sed 's/.*/{\"n\":&,\"extra\":1}/'",
        RowFormat::Jsonl,
        Some(schema.clone()),
    )
    .await
    .unwrap();
    assert_eq!(got, schema);
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        vec![8192, 8192, 3616]
    );
    let mut sum = 0;
    for b in &batches {
        assert_eq!(b.schema(), schema);
        let n = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        sum += n.values().iter().sum::<i64>();
        assert_eq!(b.column(1).null_count(), b.num_rows());
    }
    assert_eq!(sum, 20000 * 20001 / 2);
}

#[tokio::test]
async fn declared_csv_must_have_the_declared_header() {
    let schema = declared(&[("user", ColumnType::Utf8)]);
    let (got, batches) = run("cat", RowFormat::Csv, Some(schema.clone()))
        .await
        .unwrap();
    assert_eq!(got, schema);
    let user = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(
        user.iter().collect::<Vec<_>>(),
        vec![Some("ana"), Some("bo")]
    );
    let e = run("echo name; echo x", RowFormat::Csv, Some(schema))
        .await
        .unwrap_err();
    assert!(
        e.message
            .starts_with("stage 2 (command): `echo name; echo x` printed rows that do not parse"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn undeclared_output_is_inferred_from_all_of_it() {
    let (got, batches) = run(
        "cat; echo '{\"user\":\"cy\",\"late\":2}'",
        RowFormat::Jsonl,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        got.as_ref(),
        &Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("late", DataType::Int64, true),
        ])
    );
    assert_eq!(rows(&batches), 3);
}

#[tokio::test]
async fn only_a_bounded_tail_of_stderr_is_kept() {
    let e = run(
        "head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 3",
        RowFormat::Jsonl,
        None,
    )
    .await
    .unwrap_err();
    let prefix = "stage 2 (command): `head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2; \
                  exit 3` exited with status 3; stderr: ";
    assert_eq!(e.message, format!("{prefix}{}END", "x".repeat(2044)));
    assert_eq!(e.kind, spindle_job::wire::FailureKind::Retryable);
}

#[tokio::test]
async fn the_secret_is_redacted_from_stderr() {
    let e = run(
        &format!("echo 'key={SECRET}!' >&2; exit 1"),
        RowFormat::Jsonl,
        None,
    )
    .await
    .unwrap_err();
    assert!(
        e.message
            .ends_with("exited with status 1; stderr: key=[redacted]!"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("s3cr3t"), "{}", e.message);
}

#[tokio::test]
async fn a_secret_cut_by_the_tail_leaves_nothing_of_itself() {
    // 2 bytes of the first secret fall before the kept bytes; the rest must not show.
    let e = run(
        &format!("printf '%s%s%s\\n' '{SECRET}' \"$(head -c 2015 /dev/zero | tr '\\0' y)\" '{SECRET}' >&2; exit 1"),
        RowFormat::Jsonl,
        None,
    )
    .await
    .unwrap_err();
    let (_, tail) = e.message.split_once("; stderr: ").unwrap();
    assert_eq!(tail, format!("{}[redacted]", "y".repeat(2015)));
}

#[test]
fn a_tail_keeps_the_last_bytes_at_a_char_boundary() {
    let raw = format!("{}é{}", "a".repeat(10), "b".repeat(STDERR_TAIL - 1));
    assert_eq!(stderr_tail(&(raw.into_bytes(), true), ""), "b".repeat(2047));
}
