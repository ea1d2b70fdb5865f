//! `command` stages, like Hadoop Streaming: the partition's rows go to a program's stdin
//! as jsonl (or csv with a header) and whatever it prints becomes the new partition.
//!
//! Nothing is held twice or without bound: rows are encoded a batch at a time as the
//! program reads them, stdout is decoded as it arrives when the schema is declared (and
//! spooled to disk to infer it when not), and only the tail of stderr is kept.

use crate::error::TaskError;
use crate::process_tree::ProcessTree;
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use spindle_job::RowFormat;
use std::io::{BufReader, Seek};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Bytes of stderr kept for the error message.
const STDERR_TAIL: usize = 2048;
/// Bytes read from the program's stdout at a time.
const CHUNK: usize = 64 << 10;
/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;
/// What a secret is replaced with in anything a program printed.
const REDACTED: &str = "[redacted]";

/// One `command` operation as a task runs it.
pub struct CommandOp<'a> {
    /// The stage, for errors: `stage 2 (command)`.
    pub what: &'a str,
    pub run: &'a str,
    pub format: RowFormat,
    /// The declared output schema; without one, it is inferred from the output.
    pub schema: Option<SchemaRef>,
    /// The task's own scratch directory, the program's working directory.
    pub cwd: &'a Path,
    /// Where undeclared output is spooled to infer its schema (outside `cwd`).
    pub spool: &'a Path,
    /// The job's secret, scrubbed from every error message.
    pub secret: &'a str,
}

pub async fn run_command(
    op: &CommandOp<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), TaskError> {
    let what = op.what;
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(op.run)
        .current_dir(op.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    scrub_env(&mut command);
    let mut child = command.spawn().map_err(|e| {
        TaskError::retryable(format!("{what}: cannot start `sh -c {}`: {e}", op.run))
    })?;
    // Dropped when the task ends any way at all (done, failed, timed out, cancelled):
    // kills every process the command left behind.
    let mut tree = child.id().map(ProcessTree::new);
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let format = op.format;
    // Feed stdin while draining stdout and stderr, or a chatty program would block.
    let feed = async move {
        for (i, b) in batches.iter().enumerate() {
            let bytes = encode_rows(format, b, i == 0)?;
            if stdin.write_all(&bytes).await.is_err() {
                return Ok(()); // a program may stop reading early
            }
        }
        if batches.is_empty() && format == RowFormat::Csv {
            let header = encode_rows(format, &RecordBatch::new_empty(schema), true)?;
            let _ = stdin.write_all(&header).await;
        }
        Ok::<(), ArrowError>(())
    };
    let keep = STDERR_TAIL + op.secret.len();
    let (fed, out, err) = tokio::join!(feed, read_stdout(stdout, op), read_tail(stderr, keep));
    let scrub = |text: String| redact(&text, op.secret);
    fed.map_err(|e| TaskError::deterministic(scrub(format!("{what}: encoding rows: {e}"))))?;
    let (out, err) = out.and_then(|o| Ok((o, err?))).map_err(|e| {
        TaskError::retryable(scrub(format!("{what}: reading the program's output: {e}")))
    })?;
    let status = child
        .wait()
        .await
        .map_err(|e| TaskError::retryable(format!("{what}: {e}")))?;
    tree.iter_mut().for_each(ProcessTree::disarm);
    if !status.success() {
        let tail = stderr_tail(&err, op.secret);
        let message = scrub(format!(
            "{what}: `{}` {}; stderr: {}",
            op.run,
            describe(status),
            if tail.is_empty() { "(empty)" } else { &tail }
        ));
        // The shell's "cannot execute" and "not found": another attempt finds the same.
        return Err(match status.code() {
            Some(126 | 127) => TaskError::deterministic(message),
            _ => TaskError::retryable(message),
        });
    }
    let decoded = match out {
        Output::Decoded(r) => r.map(|b| (op.schema.clone().expect("declared"), b)),
        Output::Spooled { any: false } => Ok((Arc::new(Schema::empty()), vec![])),
        Output::Spooled { any: true } => {
            let path = op.spool.to_path_buf();
            tokio::task::spawn_blocking(move || decode_file(format, &path))
                .await
                .map_err(|e| TaskError::retryable(format!("{what}: decoder: {e}")))?
        }
    };
    decoded.map_err(|e| {
        TaskError::deterministic(scrub(format!(
            "{what}: `{}` printed rows that do not parse: {e}",
            op.run
        )))
    })
}

/// The program sees the worker's environment without anything of spindle's own: no
/// `SPINDLE_*` variable, and not where YARN put the container's credentials.
fn scrub_env(command: &mut tokio::process::Command) {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("SPINDLE_") || text == "HADOOP_TOKEN_FILE_LOCATION" {
            command.env_remove(&name);
        }
    }
}

enum Output {
    /// Rows decoded with the declared schema as they arrived (or why they did not parse).
    Decoded(Result<Vec<RecordBatch>, ArrowError>),
    /// All of stdout is in the spool file; `any` if it holds more than whitespace.
    Spooled { any: bool },
}

/// Reads stdout to its end. A decoding error stops decoding, not reading, so the program
/// never blocks on a full pipe.
async fn read_stdout(
    mut stdout: impl AsyncRead + Unpin,
    op: &CommandOp<'_>,
) -> std::io::Result<Output> {
    let mut chunk = vec![0u8; CHUNK];
    match &op.schema {
        Some(schema) => {
            let mut decoder = RowDecoder::new(op.format, schema.clone());
            let mut batches: Result<Vec<RecordBatch>, ArrowError> = Ok(vec![]);
            loop {
                let n = stdout.read(&mut chunk).await?;
                if let (Ok(out), Ok(d)) = (&mut batches, &mut decoder) {
                    let fed = if n == 0 {
                        d.finish(out)
                    } else {
                        d.feed(&chunk[..n], out)
                    };
                    if let Err(e) = fed {
                        batches = Err(e);
                    }
                }
                if n == 0 {
                    break;
                }
            }
            Ok(Output::Decoded(decoder.and(batches)))
        }
        None => {
            let mut file = tokio::fs::File::create(op.spool).await?;
            let mut any = false;
            loop {
                let n = stdout.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                any = any || chunk[..n].iter().any(|b| !b.is_ascii_whitespace());
                file.write_all(&chunk[..n]).await?;
            }
            file.flush().await?;
            Ok(Output::Spooled { any })
        }
    }
}

/// Reads to the end, keeping only the last `keep` bytes (and whether more came before).
async fn read_tail(
    mut stderr: impl AsyncRead + Unpin,
    keep: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut chunk = vec![0u8; 8 << 10];
    let mut tail = Vec::with_capacity(2 * keep);
    let mut cut = false;
    loop {
        let n = stderr.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 2 * keep {
            tail.drain(..tail.len() - keep);
            cut = true;
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
        cut = true;
    }
    Ok((tail, cut))
}

/// The last [`STDERR_TAIL`] bytes of stderr as text, with the secret redacted, including
/// the rest of one that the start of the kept bytes cut through.
fn stderr_tail((raw, cut): &(Vec<u8>, bool), secret: &str) -> String {
    let mut text = redact(&String::from_utf8_lossy(raw), secret);
    if *cut && !secret.is_empty() {
        let s = secret.as_bytes();
        if let Some(k) = (1..s.len())
            .rev()
            .find(|&k| text.as_bytes().starts_with(&s[s.len() - k..]) && text.is_char_boundary(k))
        {
            text.drain(..k);
        }
    }
    let mut from = text.len().saturating_sub(STDERR_TAIL);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..].trim().to_string()
}

fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, REDACTED)
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (_, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".into(),
    }
}

/// One batch as the program reads it; csv's header goes with the first.
fn encode_rows(format: RowFormat, batch: &RecordBatch, first: bool) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    match format {
        RowFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(batch)?;
            w.finish()?;
        }
        RowFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(first)
                .build(&mut out);
            w.write(batch)?;
        }
    }
    Ok(out)
}

/// Arrow's push decoders for the two row formats, behind one interface.
enum RowDecoder {
    Json(arrow::json::reader::Decoder),
    /// Boxed: the csv decoder is four times the json one's size.
    Csv(Box<arrow::csv::reader::Decoder>),
}

impl RowDecoder {
    fn new(format: RowFormat, schema: SchemaRef) -> Result<RowDecoder, ArrowError> {
        Ok(match format {
            RowFormat::Jsonl => RowDecoder::Json(
                arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(BATCH_ROWS)
                    .build_decoder()?,
            ),
            // The header must name the declared columns, in order.
            RowFormat::Csv => RowDecoder::Csv(Box::new(
                arrow::csv::ReaderBuilder::new(schema)
                    .with_header(true)
                    .with_header_validation(true)
                    .with_batch_size(BATCH_ROWS)
                    .build_decoder(),
            )),
        })
    }

    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        match self {
            RowDecoder::Json(d) => d.decode(buf),
            RowDecoder::Csv(d) => d.decode(buf),
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        match self {
            RowDecoder::Json(d) => d.flush(),
            RowDecoder::Csv(d) => d.flush(),
        }
    }

    /// Decodes `buf`, pushing each batch that fills up onto `out`.
    fn feed(&mut self, mut buf: &[u8], out: &mut Vec<RecordBatch>) -> Result<(), ArrowError> {
        while !buf.is_empty() {
            let n = self.decode(buf)?;
            buf = &buf[n..];
            if buf.is_empty() {
                break;
            }
            match self.flush()? {
                Some(b) => out.push(b),
                None if n == 0 => {
                    return Err(ArrowError::ParseError(
                        "the decoder made no progress".into(),
                    ))
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The end of the output: the last, possibly unterminated, row and batch.
    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), ArrowError> {
        self.decode(&[])?;
        out.extend(self.flush()?);
        Ok(())
    }
}

/// Undeclared output: infers its schema with one pass over the spool file, then reads it.
fn decode_file(
    format: RowFormat,
    path: &Path,
) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let schema = Arc::new(match format {
        RowFormat::Jsonl => arrow::json::reader::infer_json_schema(&mut file, None)?.0,
        RowFormat::Csv => {
            arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(&mut file, None)?
                .0
        }
    });
    file.rewind()?;
    let batches = match format {
        RowFormat::Jsonl => arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_ROWS)
            .build(file)?
            .collect::<Result<Vec<_>, _>>()?,
        RowFormat::Csv => arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(true)
            .with_batch_size(BATCH_ROWS)
            .build_buffered(file)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok((schema, batches))
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
