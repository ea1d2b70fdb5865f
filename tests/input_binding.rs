//! Columns bound by name, end to end: csv headers in any order, files whose columns differ
//! from the schema, jsonl fields the inferred schema lacks, and a declared `input.schema`.

mod common;
use common::*;
use std::path::Path;

fn quoted(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes clicks as CSV with the header columns in `order` (a subset is allowed).
fn write_csv_in_order(path: &Path, rows: &[Click], order: &[&str]) {
    let mut text = order.join(",") + "\n";
    for c in rows {
        let fields: Vec<String> = order
            .iter()
            .map(|col| match *col {
                "user" => quoted(&c.user),
                "url" => quoted(&c.url),
                "status" => c.status.to_string(),
                "bytes" => c.bytes.map(|b| b.to_string()).unwrap_or_default(),
                other => panic!("no column {other}"),
            })
            .collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn spec(
    name: &str,
    input: &str,
    format: &str,
    extra_input: &str,
    stages: &str,
    out: &Path,
) -> String {
    format!(
        "name: {name}\nworkers: {{ instances: 2, memory: 256 MiB }}\ninput:\n  path: \"{input}\"\n  format: {format}\n  split_size: 300 B\n{extra_input}{stages}\noutput:\n  path: \"{}\"\n  format: jsonl\n",
        out.display()
    )
}

/// A row as `(user, url, status, bytes)` from an output JSON object.
fn click_row(r: &serde_json::Map<String, serde_json::Value>) -> (String, String, i64, Option<i64>) {
    (
        r["user"].as_str().unwrap().to_string(),
        r["url"].as_str().unwrap().to_string(),
        r["status"].as_i64().unwrap(),
        r.get("bytes").map(|b| b.as_i64().unwrap()),
    )
}

#[test]
fn csv_files_with_reordered_headers_read_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in");
    std::fs::create_dir_all(&data).unwrap();
    let a = clicks(400, 11);
    let b = clicks(300, 12);
    write_csv(&data.join("a.csv"), &a, true);
    write_csv_in_order(&data.join("b.csv"), &b, &["bytes", "status", "url", "user"]);
    let all: Vec<Click> = [a, b].concat();
    let input = format!("{}/*.csv", data.display());

    // Every column, no SQL: the whole rows, exactly.
    let out = dir.path().join("rows");
    let run = run_spec(dir.path(), &spec("rows", &input, "csv", "", "", &out), &[]);
    run.assert_ok();
    let mut got: Vec<_> = read_jsonl_rows(&out).iter().map(click_row).collect();
    let mut want: Vec<_> = all
        .iter()
        .map(|c| (c.user.clone(), c.url.clone(), c.status, c.bytes))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // Through a projected scan and a shuffle.
    let out = dir.path().join("by-user");
    let stages = "stages:\n  - sql: \"SELECT user, bytes FROM input WHERE status = 200\"\n  - shuffle: { by: [user], partitions: 3 }\n  - sql: \"SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user\"\n";
    let run = run_spec(
        dir.path(),
        &spec("by-user", &input, "csv", "", stages, &out),
        &[],
    );
    run.assert_ok();
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&all));
    assert_eq!(run.summary["rows_in"], all.len() as u64);
}

#[test]
fn a_csv_file_lacking_a_column_fails_the_job_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in");
    std::fs::create_dir_all(&data).unwrap();
    write_csv(&data.join("a.csv"), &clicks(100, 21), true);
    write_csv_in_order(
        &data.join("b.csv"),
        &clicks(100, 22),
        &["user", "status", "url"],
    );
    let out = dir.path().join("out");
    let input = format!("{}/*.csv", data.display());
    let run = run_spec(dir.path(), &spec("lacks", &input, "csv", "", "", &out), &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    let err = run.stderr();
    let want = format!(
        "{}: header lacks columns [bytes] of the schema [user,url,status,bytes]",
        data.join("b.csv").display()
    );
    assert!(err.contains(&want), "want `{want}` in: {err}");
    assert_eq!(run.summary["status"], "failed");
    assert_eq!(run.summary["retries"], 0, "bad data is not retried");
    assert!(no_visible_output(&out), "failed job left output behind");
}

/// 10,005 records (past the 10,000 the schema is inferred from), then one with a field
/// none of them had, then one more; a few carry `extra`.
fn late_jsonl(path: &Path) -> usize {
    let mut text = String::new();
    for i in 0..10_005 {
        if i % 1000 == 0 {
            text.push_str(&format!(
                "{{\"user\":\"u{}\",\"bytes\":{i},\"extra\":1}}\n",
                i % 3
            ));
        } else {
            text.push_str(&format!("{{\"user\":\"u{}\",\"bytes\":{i}}}\n", i % 3));
        }
    }
    let offset = text.len();
    text.push_str("{\"user\":\"z\",\"bytes\":7,\"ts\":\"2026-11-30T10:00:00\",\"late\":\"x\"}\n");
    text.push_str("{\"user\":\"u1\",\"bytes\":1}\n");
    std::fs::write(path, text).unwrap();
    offset
}

#[test]
fn a_jsonl_field_past_the_inference_sample_fails_naming_it_and_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("late.jsonl");
    let offset = late_jsonl(&input);
    let out = dir.path().join("out");
    let s = spec("late", &input.display().to_string(), "jsonl", "", "", &out)
        .replace("300 B", "64 KiB");
    let run = run_spec(dir.path(), &s, &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    let err = run.stderr();
    let want = format!(
        "file://{} at byte offset {offset}: field `ts` is not in the schema [bytes,extra,user] \
         inferred from the first records of the input; declare the columns in input.schema to \
         read it",
        input.display()
    );
    assert!(err.contains(&want), "want `{want}` in: {err}");
    assert!(no_visible_output(&out));
}

#[test]
fn a_declared_jsonl_schema_reads_late_fields_with_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("late.jsonl");
    late_jsonl(&input);
    let out = dir.path().join("out");
    let schema = "  schema: [{name: user, type: utf8}, {name: bytes, type: int64}, {name: ts, type: timestamp}, {name: late, type: string}]\n";
    let stages = "stages:\n  - coalesce: 1\n  - sql: \"SELECT count(*) AS n, sum(bytes) AS total, max(late) AS late, CAST(max(ts) AS BIGINT) AS ts_us, count(ts) AS with_ts FROM input\"\n";
    let s = spec(
        "typed",
        &input.display().to_string(),
        "jsonl",
        schema,
        stages,
        &out,
    )
    .replace("300 B", "64 KiB");
    let run = run_spec(dir.path(), &s, &[]);
    run.assert_ok();
    let rows = read_jsonl_rows(&out);
    let total: i64 = (0..10_005).sum::<i64>() + 7 + 1;
    let want = serde_json::json!({
        "n": 10_007,
        "total": total,
        "late": "x",
        "ts_us": 1_796_032_800_000_000i64,
        "with_ts": 1,
    });
    assert_eq!(rows, vec![want.as_object().unwrap().clone()]);
}
