//! `command` stages, like Hadoop Streaming: the partition's rows go to a program's stdin
//! as jsonl (or csv with a header) and whatever it prints becomes the new partition.

use crate::error::TaskError;
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use spindle_job::RowFormat;
use std::io::Cursor;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes of stderr kept for the error message.
const STDERR_TAIL: usize = 2048;

pub async fn run_command(
    what: &str,
    run: &str,
    format: RowFormat,
    dir: &std::path::Path,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), TaskError> {
    let input = encode_rows(format, &schema, &batches)
        .map_err(|e| TaskError::deterministic(format!("{what}: encoding rows: {e}")))?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(run)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TaskError::retryable(format!("{what}: cannot start `sh -c {}`: {e}", run)))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // Feed stdin while draining stdout and stderr, or a chatty program would block.
    let feed = async move {
        let _ = stdin.write_all(&input).await; // a program may stop reading early
        drop(stdin);
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let (_, o, e) = tokio::join!(
        feed,
        stdout.read_to_end(&mut out),
        stderr.read_to_end(&mut err)
    );
    o.and(e)
        .map_err(|e| TaskError::retryable(format!("{what}: reading output: {e}")))?;
    let status = child
        .wait()
        .await
        .map_err(|e| TaskError::retryable(format!("{what}: {e}")))?;
    if !status.success() {
        let tail = String::from_utf8_lossy(&err[err.len().saturating_sub(STDERR_TAIL)..])
            .trim()
            .to_string();
        return Err(TaskError::retryable(format!(
            "{what}: `{}` {}; stderr: {}",
            run,
            describe(status),
            if tail.is_empty() { "(empty)" } else { &tail }
        )));
    }
    decode_rows(format, &out).map_err(|e| {
        TaskError::deterministic(format!(
            "{what}: `{}` printed rows that do not parse: {e}",
            run
        ))
    })
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (_, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".into(),
    }
}

fn encode_rows(
    format: RowFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut out = Vec::new();
    match format {
        RowFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        RowFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
    }
    Ok(out)
}

fn decode_rows(
    format: RowFormat,
    data: &[u8],
) -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok((Arc::new(Schema::empty()), vec![]));
    }
    let schema = match format {
        RowFormat::Jsonl => arrow::json::reader::infer_json_schema(Cursor::new(data), None)?.0,
        RowFormat::Csv => {
            arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(Cursor::new(data), None)?
                .0
        }
    };
    let schema = Arc::new(schema);
    let batches = match format {
        RowFormat::Jsonl => arrow::json::ReaderBuilder::new(schema.clone())
            .build(Cursor::new(data))?
            .collect::<Result<Vec<_>, _>>()?,
        RowFormat::Csv => arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(true)
            .build_buffered(Cursor::new(data))?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok((schema, batches))
}
