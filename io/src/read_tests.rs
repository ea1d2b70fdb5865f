use super::*;
use crate::splits::plan_splits;
use arrow::array::{Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::TimeUnit;
use spindle_job::{ColumnSpec, ColumnType};
use std::path::Path;

fn csv_opts() -> CsvOptions {
    CsvOptions::default()
}

async fn list(dir: &Path, glob: &str) -> Vec<FileInfo> {
    Location::expand(&format!("{}/{glob}", dir.display()))
        .await
        .unwrap()
}

/// Reads every file in `split_size` splits and returns the rows, each as strings.
async fn read_all(
    reader: &SplitReader,
    files: &[FileInfo],
    split_size: u64,
    projection: Option<&[usize]>,
) -> Result<Vec<Vec<String>>, IoError> {
    let splits = plan_splits(files, InputFormat::Csv, split_size, "h")
        .await
        .unwrap();
    let mut rows = vec![];
    for split in &splits {
        for batch in reader.read(split, projection).await?.batches {
            for r in 0..batch.num_rows() {
                let row = batch
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                    .collect();
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[tokio::test]
async fn csv_files_with_reordered_headers_bind_by_name_in_every_split() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "user,bytes,url\nana,1,/a\nbo,2,/b\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        "url,user,bytes\n/c,cy,30\n/d,di,40\n/e,ed,50\n",
    )
    .unwrap();
    let files = list(dir.path(), "*.csv").await;
    let schema = infer_schema(&files, InputFormat::Csv, &csv_opts())
        .await
        .unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["user", "bytes", "url"]);
    assert_eq!(schema.field(1).data_type(), &DataType::Int64);
    let want = strings(&[
        &["ana", "1", "/a"],
        &["bo", "2", "/b"],
        &["cy", "30", "/c"],
        &["di", "40", "/d"],
        &["ed", "50", "/e"],
    ]);
    // 7-byte splits: most start past the header, so they must read it from the file.
    for split_size in [7, 1 << 20] {
        let reader = SplitReader::new(InputFormat::Csv, csv_opts(), schema.clone(), false);
        let rows = read_all(&reader, &files, split_size, None).await.unwrap();
        assert_eq!(rows, want, "split size {split_size}");
    }
    // A projection in schema order still picks the right file columns.
    let reader = SplitReader::new(InputFormat::Csv, csv_opts(), schema.clone(), false);
    let rows = read_all(&reader, &files, 7, Some(&[2, 1])).await.unwrap();
    assert_eq!(
        rows,
        strings(&[
            &["/a", "1"],
            &["/b", "2"],
            &["/c", "30"],
            &["/d", "40"],
            &["/e", "50"]
        ])
    );
}

#[tokio::test]
async fn a_csv_file_with_other_columns_fails_naming_file_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "user,url,status,bytes\nana,/,200,1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.csv"), "user,x,url,status\nbo,9,/,200\n").unwrap();
    let files = list(dir.path(), "*.csv").await;
    let schema = infer_schema(&files, InputFormat::Csv, &csv_opts())
        .await
        .unwrap();
    let reader = SplitReader::new(InputFormat::Csv, csv_opts(), schema, false);
    // A split that does not start at byte 0 finds the mismatch through the file's header.
    for split_size in [1 << 20, 20] {
        let err = read_all(&reader, &files[1..], split_size, None)
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            format!(
                "{}: header has columns [x] not in the schema [user,url,status,bytes] and \
                 lacks [bytes]",
                files[1].url
            )
        );
    }
}

#[tokio::test]
async fn a_byte_order_mark_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "\u{feff}user,n\nana,1\nbo,2\n").unwrap();
    std::fs::write(dir.path().join("b.csv"), "\u{feff}n,user\n3,cy\n").unwrap();
    let files = list(dir.path(), "*.csv").await;
    let schema = infer_schema(&files, InputFormat::Csv, &csv_opts())
        .await
        .unwrap();
    assert_eq!(schema.field(0).name(), "user");
    assert_eq!(schema.field(1).data_type(), &DataType::Int64);
    for split_size in [6, 1 << 20] {
        let reader = SplitReader::new(InputFormat::Csv, csv_opts(), schema.clone(), false);
        let rows = read_all(&reader, &files, split_size, None).await.unwrap();
        assert_eq!(rows, strings(&[&["ana", "1"], &["bo", "2"], &["cy", "3"]]));
    }

    // jsonl and text too
    let jsonl = dir.path().join("a.jsonl");
    std::fs::write(&jsonl, "\u{feff}{\"n\":7}\n{\"n\":8}\n").unwrap();
    let files = list(dir.path(), "*.jsonl").await;
    let schema = infer_schema(&files, InputFormat::Jsonl, &csv_opts())
        .await
        .unwrap();
    let reader = SplitReader::new(InputFormat::Jsonl, csv_opts(), schema, false);
    let split = &plan_splits(&files, InputFormat::Jsonl, 1 << 20, "h")
        .await
        .unwrap()[0];
    let batch = &reader.read(split, None).await.unwrap().batches[0];
    let n = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(n.values(), &[7, 8]);
    let reader = SplitReader::new(InputFormat::Text, csv_opts(), text_schema(), false);
    let batch = &reader.read(split, None).await.unwrap().batches[0];
    let lines = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(lines.value(0), "{\"n\":7}");
}

#[tokio::test]
async fn a_jsonl_field_first_seen_after_the_sample_names_field_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = "{\"a\":1}\n".repeat(INFER_RECORDS + 5);
    std::fs::write(
        dir.path().join("late.jsonl"),
        format!("{good}{{\"a\":2,\"late\":\"x\"}}\n{{\"a\":3}}\n"),
    )
    .unwrap();
    let files = list(dir.path(), "*.jsonl").await;
    let schema = infer_schema(&files, InputFormat::Jsonl, &csv_opts())
        .await
        .unwrap();
    assert_eq!(schema.fields().len(), 1);
    let reader = SplitReader::new(InputFormat::Jsonl, csv_opts(), schema, false);
    for split_size in [16 << 10, 1 << 20] {
        let splits = plan_splits(&files, InputFormat::Jsonl, split_size, "h")
            .await
            .unwrap();
        let mut errors = vec![];
        for split in &splits {
            if let Err(e) = reader.read(split, None).await {
                errors.push(e.to_string());
            }
        }
        assert_eq!(
            errors,
            vec![format!(
                "{} at byte offset {}: field `late` is not in the schema [a] inferred from the \
                 first records of the input; declare the columns in input.schema to read it",
                files[0].url,
                good.len()
            )],
            "split size {split_size}"
        );
    }
}

#[test]
fn nested_unknown_fields_are_named_by_path() {
    assert_eq!(
        field_not_in_schema(
            "Json error: whilst decoding field 'c': column 'b' missing from schema"
        ),
        Some("c.b".to_string())
    );
    assert_eq!(
        field_not_in_schema("Json error: column 'late' missing from schema"),
        Some("late".to_string())
    );
    assert_eq!(field_not_in_schema("Json error: expected string"), None);
}

fn declared(columns: &[(&str, ColumnType)]) -> InputSpec {
    InputSpec {
        path: String::new(),
        format: InputFormat::Jsonl,
        csv: csv_opts(),
        schema: Some(
            columns
                .iter()
                .map(|(name, data_type)| ColumnSpec {
                    name: name.to_string(),
                    data_type: *data_type,
                })
                .collect(),
        ),
        split_size: spindle_job::ByteSize(1 << 20),
    }
}

#[tokio::test]
async fn a_declared_jsonl_schema_types_fields_and_skips_unlisted_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.jsonl"),
        "{\"user\":\"ana\",\"bytes\":5,\"ts\":\"2026-11-30T10:00:00.25\",\"extra\":{\"k\":1}}\n\
         {\"bytes\":7,\"user\":\"bo\"}\n",
    )
    .unwrap();
    let files = list(dir.path(), "*.jsonl").await;
    let input = declared(&[
        ("user", ColumnType::Utf8),
        ("bytes", ColumnType::Int64),
        ("ts", ColumnType::Timestamp),
    ]);
    let schema = input_schema(&files, &input).await.unwrap();
    assert_eq!(
        schema.field(2).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    let reader = SplitReader::new(InputFormat::Jsonl, csv_opts(), schema, true);
    let split = &plan_splits(&files, InputFormat::Jsonl, 1 << 20, "h")
        .await
        .unwrap()[0];
    let batches = reader.read(split, None).await.unwrap().batches;
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_columns(), 3);
    let user = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!((user.value(0), user.value(1)), ("ana", "bo"));
    let bytes = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(bytes.values(), &[5, 7]);
    let ts = b
        .column(2)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(ts.value(0), 1_796_032_800_250_000);
    assert!(ts.is_null(1));
}

#[tokio::test]
async fn a_declared_csv_schema_binds_by_name_and_skips_other_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "n,x,user\n1,skip,ana\n2,skip,bo\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.csv"), "user,n\ncy,3\n").unwrap();
    let files = list(dir.path(), "*.csv").await;
    let mut input = declared(&[("user", ColumnType::Utf8), ("n", ColumnType::Int32)]);
    input.format = InputFormat::Csv;
    let schema = input_schema(&files, &input).await.unwrap();
    assert_eq!(schema.field(1).data_type(), &DataType::Int32);
    let reader = SplitReader::new(InputFormat::Csv, csv_opts(), schema, true);
    let rows = read_all(&reader, &files, 9, None).await.unwrap();
    assert_eq!(rows, strings(&[&["ana", "1"], &["bo", "2"], &["cy", "3"]]));
}

#[tokio::test]
async fn splits_fetched_ahead_read_the_same_and_fail_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!("line {i}\n"));
    }
    std::fs::write(dir.path().join("a.txt"), &text).unwrap();
    let files = list(dir.path(), "*.txt").await;
    let splits = plan_splits(&files, InputFormat::Text, 700, "h")
        .await
        .unwrap();
    assert!(splits.len() > 3);
    let lines = |r: ScanResult| -> Vec<String> {
        r.batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let reader = SplitReader::new(InputFormat::Text, csv_opts(), text_schema(), false);
    let mut plain = vec![];
    for s in &splits {
        plain.extend(lines(reader.read(s, None).await.unwrap()));
    }
    // Every split fetched ahead first, then read: the same lines, each once.
    for s in &splits {
        reader.read_ahead(s, None);
    }
    let mut ahead = vec![];
    for s in &splits {
        ahead.extend(lines(reader.read(s, None).await.unwrap()));
    }
    assert_eq!(plain.len(), 500);
    assert_eq!(ahead, plain);
    // No column read (`count(*)`): the lines are counted, fetched ahead or not.
    let mut counted = 0;
    for s in &splits {
        counted += reader.read(s, Some(&[])).await.unwrap().rows;
        reader.read_ahead(s, Some(&[]));
    }
    let mut counted_ahead = 0;
    for s in &splits {
        let r = reader.read(s, Some(&[])).await.unwrap();
        assert_eq!(
            r.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
            r.rows
        );
        counted_ahead += r.rows;
    }
    assert_eq!((counted, counted_ahead), (500, 500));
    assert!(
        reader.ahead.lock().unwrap().is_empty(),
        "nothing left behind"
    );

    // A file gone before its task runs fails the read-ahead, and the read with its error.
    reader.read_ahead(&splits[0], None);
    std::fs::remove_file(dir.path().join("a.txt")).unwrap();
    reader.read_ahead(&splits[1], None);
    let Err(err) = reader.read(&splits[1], None).await else {
        panic!("read a deleted file");
    };
    assert!(err.to_string().contains("a.txt"), "{err}");
}

#[test]
fn rows_of_text_count_as_parse_text_does() {
    for data in [
        &b""[..],
        b"\n",
        b"a",
        b"a\nb",
        b"a\nb\n",
        b"a\r\n\r\nb\r\n",
        b"\n\n\n",
    ] {
        let rows = |b: Vec<RecordBatch>| b.iter().map(RecordBatch::num_rows).sum::<usize>();
        let parsed = rows(parse_text(data, 0, "t").unwrap());
        let counted = rows_of_text(data).unwrap();
        assert_eq!(rows(counted.clone()), parsed, "{data:?}");
        assert!(counted.iter().all(|b| b.schema() == text_schema()));
    }
    let many = vec![b'\n'; BATCH_ROWS * 2 + 5];
    let sizes: Vec<usize> = rows_of_text(&many)
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .collect();
    assert_eq!(sizes, [BATCH_ROWS, BATCH_ROWS, 5]);
}

#[test]
fn lines_split_as_split_inclusive_does() {
    let cases: [&[u8]; 8] = [
        b"",
        b"a",
        b"a\n",
        b"a\nb",
        b"\n\n",
        b"a\r\nb\n",
        b"\n",
        b"ab\n\ncd",
    ];
    for data in cases {
        let ours: Vec<&[u8]> = lines(data).collect();
        let std: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(ours, std, "{:?}", String::from_utf8_lossy(data));
        let rows: usize = rows_of_text(data)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, std.len(), "{:?}", String::from_utf8_lossy(data));
    }
}
