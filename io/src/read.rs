//! Parsing input splits into Arrow record batches, and inferring the one schema every
//! split of a job is parsed with.

// ParquetObjectReader is deprecated in favour of hand-written readers; it still does
// exactly what we need (ranged reads through object_store), so we keep it for now.
#![allow(deprecated)]

use crate::align::{offset_of_line, records_in, LineCount};
use crate::bind::{
    bind_header, declared_schema, first_line, header_names, strip_bom, HeaderBinding,
};
use crate::error::IoError;
use crate::open_files::OpenFiles;
use crate::storage::{FileInfo, Location};
use arrow::array::{ArrayRef, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::file::metadata::ParquetMetaData;
use spindle_job::wire::Split;
use spindle_job::{CsvOptions, InputFormat, InputSpec};
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

/// Rows per record batch produced by the readers.
pub const BATCH_ROWS: usize = 8192;
/// Bytes read past a split's end to find the end of its last record.
const LOOKAHEAD: u64 = 64 * 1024;
/// Bytes of the first file sampled for schema inference.
const INFER_BYTES: u64 = 1 << 20;
const INFER_RECORDS: usize = 10_000;

/// The rows of one split and what reading them cost.
pub struct ScanResult {
    pub batches: Vec<RecordBatch>,
    pub bytes_read: u64,
    pub rows: u64,
}

/// The schema every split is parsed with: the declared `input.schema`, or else inferred.
pub async fn input_schema(files: &[FileInfo], input: &InputSpec) -> Result<SchemaRef, IoError> {
    match &input.schema {
        Some(columns) => Ok(declared_schema(columns)),
        None => infer_schema(files, input.format, &input.csv).await,
    }
}

/// The schema all splits are parsed with, inferred from the start of the first non-empty
/// file (csv, jsonl), read from its footer (parquet), or one `line` column (text).
pub async fn infer_schema(
    files: &[FileInfo],
    format: InputFormat,
    csv: &CsvOptions,
) -> Result<SchemaRef, IoError> {
    if format == InputFormat::Text {
        return Ok(text_schema());
    }
    let Some(file) = files.iter().find(|f| f.size > 0) else {
        return Ok(Arc::new(Schema::empty()));
    };
    let loc = Location::parse(&file.url)?;
    if format == InputFormat::Parquet {
        let builder = parquet_builder(&loc, file.size).await?;
        return Ok(builder.schema().clone());
    }
    let mut sample = loc.get_range(0..file.size.min(INFER_BYTES)).await?.to_vec();
    if file.size > INFER_BYTES {
        let cut = sample
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        sample.truncate(cut);
    }
    let (sample, bom) = strip_bom(&sample);
    let malformed = |message: String| IoError::Malformed {
        url: file.url.clone(),
        offset: 0,
        message: format!("cannot infer a schema: {message}"),
    };
    let schema = match format {
        InputFormat::Csv => {
            arrow::csv::reader::Format::default()
                .with_header(csv.header)
                .with_delimiter(csv.delimiter as u8)
                .infer_schema(Cursor::new(sample), Some(INFER_RECORDS))
                .map_err(|e| malformed(e.to_string()))?
                .0
        }
        _ => {
            match arrow::json::reader::infer_json_schema(Cursor::new(sample), Some(INFER_RECORDS)) {
                Ok((schema, _)) => schema,
                Err(e) => {
                    return Err(match first_invalid_json_line(sample) {
                        Some((offset, message)) => IoError::Malformed {
                            url: file.url.clone(),
                            offset: (bom + offset) as u64,
                            message,
                        },
                        None => malformed(e.to_string()),
                    })
                }
            }
        }
    };
    Ok(Arc::new(nulls_as_strings(&schema)))
}

/// A column that is empty throughout the sample may hold anything later: read it as text.
fn nulls_as_strings(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Null => Field::new(f.name(), DataType::Utf8, true),
                _ => f.as_ref().clone().with_nullable(true),
            })
            .collect::<Vec<_>>(),
    )
}

pub fn text_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)]))
}

/// Parses a job's splits the same way on every worker. Csv columns are bound to the
/// schema by header name (each file's header is read once per worker and cached); jsonl
/// fields the schema lacks are errors unless the schema was declared.
pub struct SplitReader {
    format: InputFormat,
    csv: CsvOptions,
    schema: SchemaRef,
    /// The schema is `input.schema`: fields it does not list are skipped, not errors.
    declared: bool,
    bindings: Mutex<HashMap<String, Arc<HeaderBinding>>>,
    /// Bytes of splits fetched ahead, by file and range, until their task reads them.
    ahead: Mutex<HashMap<(String, u64, u64), Fetching>>,
    /// HDFS files opened once for all their splits (one NameNode call a file, not two a split).
    files: Arc<OpenFiles>,
}

/// What a split's fetch gives: its records and their file offset, or, for text of which
/// no column is read (`count(*)`), only how many lines it owns.
enum Fetched {
    Records(bytes::Bytes, u64),
    Lines(u64),
}

/// A split being fetched ahead of its task.
type Fetching = tokio::task::JoinHandle<Result<Fetched, IoError>>;

impl SplitReader {
    pub fn new(format: InputFormat, csv: CsvOptions, schema: SchemaRef, declared: bool) -> Self {
        SplitReader {
            format,
            csv,
            schema,
            declared,
            bindings: Mutex::new(HashMap::new()),
            ahead: Mutex::new(HashMap::new()),
            files: Arc::new(OpenFiles::default()),
        }
    }

    /// Reads one split (and the small files it carries) into batches of the schema, or
    /// of its `projection` (schema column indexes, in the order the batches should have
    /// them). Csv builds only the projection's columns; text given an empty projection
    /// (no column is read) gives its rows with empty lines; other formats return every
    /// column.
    pub async fn read(
        &self,
        split: &Split,
        projection: Option<&[usize]>,
    ) -> Result<ScanResult, IoError> {
        let mut all = self.read_piece(split, projection).await?;
        for piece in &split.more {
            let more = self.read_piece(piece, projection).await?;
            all.batches.extend(more.batches);
            all.bytes_read += more.bytes_read;
            all.rows += more.rows;
        }
        Ok(all)
    }

    /// Starts fetching the bytes of a split whose task waits for a slot, so that its I/O
    /// overlaps the running task's parsing; its `read` then takes them. Line formats
    /// only (a parquet split reads its row groups itself). `projection` as for `read`,
    /// when known.
    pub fn read_ahead(&self, split: &Split, projection: Option<&[usize]>) {
        if self.format == InputFormat::Parquet {
            return;
        }
        let lines_only = self.lines_only(projection);
        let mut ahead = self.ahead.lock().expect("read-ahead map");
        for piece in split.pieces() {
            let piece = piece.clone();
            let key = (piece.url.clone(), piece.start, piece.end);
            let files = self.files.clone();
            ahead.entry(key).or_insert_with(|| {
                tokio::spawn(async move {
                    let loc = Location::parse(&piece.url)?;
                    fetch(&files, &loc, &piece, lines_only).await
                })
            });
        }
    }

    /// Text of which no column is read: only its lines are counted.
    fn lines_only(&self, projection: Option<&[usize]>) -> bool {
        self.format == InputFormat::Text && projection.is_some_and(<[usize]>::is_empty)
    }

    /// The split fetched ahead, or now.
    async fn fetched(
        &self,
        loc: &Location,
        split: &Split,
        lines_only: bool,
    ) -> Result<Fetched, IoError> {
        let key = (split.url.clone(), split.start, split.end);
        let fetching = self.ahead.lock().expect("read-ahead map").remove(&key);
        match fetching {
            Some(f) => f.await.map_err(|e| {
                IoError::Protocol(format!("read-ahead of {} failed: {e}", split.url))
            })?,
            None => fetch(&self.files, loc, split, lines_only).await,
        }
    }

    /// Reads the split's own range, without `more`.
    async fn read_piece(
        &self,
        split: &Split,
        projection: Option<&[usize]>,
    ) -> Result<ScanResult, IoError> {
        let loc = Location::parse(&split.url)?;
        if self.format == InputFormat::Parquet {
            return read_parquet(&loc, split, self.schema.clone()).await;
        }
        let lines_only = self.lines_only(projection);
        let (mut data, mut offset) = match self.fetched(&loc, split, lines_only).await? {
            Fetched::Records(data, offset) => (data, offset),
            Fetched::Lines(rows) => {
                return Ok(ScanResult {
                    batches: empty_lines(rows)?,
                    bytes_read: split.end - split.start,
                    rows,
                })
            }
        };
        if split.start == 0 {
            let (_, bom) = strip_bom(&data);
            data = data.slice(bom..);
            offset += bom as u64;
        }
        let binding = match self.format {
            InputFormat::Csv if self.csv.header && !data.is_empty() => {
                Some(self.binding(&loc, split, &data).await?)
            }
            _ => None,
        };
        let format = self.format;
        let url = split.url.clone();
        let csv = self.csv.clone();
        let header = csv.header && split.start == 0;
        let (file_schema, file_projection) = match &binding {
            Some(b) => (b.file_schema.clone(), Some(b.file_projection(projection))),
            None => (self.schema.clone(), projection.map(<[usize]>::to_vec)),
        };
        let strict = !self.declared;
        let batches = tokio::task::spawn_blocking(move || match format {
            InputFormat::Csv => parse_csv(
                &data,
                offset,
                &url,
                &csv,
                header,
                file_schema,
                file_projection,
            ),
            InputFormat::Jsonl => parse_jsonl(&data, offset, &url, file_schema, strict),
            // Fetched before the projection was known (read-ahead of an early task).
            _ if lines_only => rows_of_text(&data),
            _ => parse_text(&data, offset, &url),
        })
        .await
        .map_err(|e| IoError::Protocol(format!("parser task failed: {e}")))??;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        Ok(ScanResult {
            batches,
            bytes_read: split.end - split.start,
            rows,
        })
    }

    /// How the split's file lays out the schema's columns, from its header: the start of
    /// `data` for the file's first split, otherwise the file's first line, read once.
    async fn binding(
        &self,
        loc: &Location,
        split: &Split,
        data: &[u8],
    ) -> Result<Arc<HeaderBinding>, IoError> {
        let cached = self
            .bindings
            .lock()
            .expect("bindings")
            .get(&split.url)
            .cloned();
        if let Some(b) = cached {
            return Ok(b);
        }
        let line = match split.start {
            0 => first_line(data, true).unwrap_or_default().to_vec(),
            _ => read_first_line(loc, split.file_size).await?,
        };
        let header = header_names(&split.url, &line, self.csv.delimiter as u8)?;
        let binding = Arc::new(bind_header(
            &split.url,
            &header,
            &self.schema,
            self.declared,
        )?);
        self.bindings
            .lock()
            .expect("bindings")
            .insert(split.url.clone(), binding.clone());
        Ok(binding)
    }
}

/// A file's first line (its csv header), without a byte order mark or line end.
async fn read_first_line(loc: &Location, file_size: u64) -> Result<Vec<u8>, IoError> {
    let mut want = LOOKAHEAD.min(file_size);
    loop {
        let buf = loc.get_range(0..want).await?;
        let (body, _) = strip_bom(&buf);
        if let Some(line) = first_line(body, want >= file_size) {
            return Ok(line.to_vec());
        }
        want = (want * 2).min(file_size);
    }
}

async fn fetch(
    files: &OpenFiles,
    loc: &Location,
    split: &Split,
    lines_only: bool,
) -> Result<Fetched, IoError> {
    let count = LineCount::new(split.start, split.file_size).filter(|_| lines_only);
    let Some(mut count) = count else {
        let (data, offset) = fetch_records(files, loc, split).await?;
        return Ok(Fetched::Records(data, offset));
    };
    files
        .for_each_chunk(loc, split.start..split.end, |chunk| count.feed(chunk))
        .await?;
    Ok(Fetched::Lines(count.lines()))
}

/// The bytes of the split's records (those starting after its start and at or before its
/// end, or at 0 for a file's first split), and their file offset.
async fn fetch_records(
    files: &OpenFiles,
    loc: &Location,
    split: &Split,
) -> Result<(bytes::Bytes, u64), IoError> {
    let base = split.start;
    let mut want = (split.end + LOOKAHEAD).min(split.file_size);
    loop {
        let buf = files.get_range_reused(loc, base..want).await?;
        let at_eof = want >= split.file_size;
        if let Some(r) = records_in(&buf, split.start, split.end, at_eof) {
            let offset = base + r.start as u64;
            return Ok((buf.slice(r), offset));
        }
        want = (want + (want - base)).min(split.file_size);
    }
}

fn parse_csv(
    data: &[u8],
    offset: u64,
    url: &str,
    csv: &CsvOptions,
    header: bool,
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
) -> Result<Vec<RecordBatch>, IoError> {
    let mut builder = arrow::csv::ReaderBuilder::new(schema);
    if let Some(p) = projection {
        builder = builder.with_projection(p);
    }
    let reader = builder
        .with_header(header)
        .with_delimiter(csv.delimiter as u8)
        .with_batch_size(BATCH_ROWS)
        .build_buffered(Cursor::new(data))
        .map_err(|e| IoError::arrow(url, e))?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| {
        let message = e.to_string();
        let line = line_in_message(&message);
        IoError::Malformed {
            url: url.to_string(),
            offset: offset + line.map_or(0, |l| offset_of_line(data, l)) as u64,
            message,
        }
    })
}

/// The 1-based line (within what the parser was given) that an arrow-csv message names.
/// Its record decoder counts lines from 1 ("incorrect number of fields for line N"); its
/// value parsers count records from 0 ("... at line N. Row data: ...").
fn line_in_message(message: &str) -> Option<usize> {
    let number_after = |pat: &str| -> Option<usize> {
        let at = message.find(pat)? + pat.len();
        let digits: String = message[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    number_after("fields for line ").or_else(|| number_after(" at line ").map(|n| n + 1))
}

/// `strict`: a field the schema lacks is an error (the schema was inferred from a sample,
/// so the field would otherwise vanish unnoticed).
fn parse_jsonl(
    data: &[u8],
    offset: u64,
    url: &str,
    schema: SchemaRef,
    strict: bool,
) -> Result<Vec<RecordBatch>, IoError> {
    let reader = arrow::json::ReaderBuilder::new(schema.clone())
        .with_strict_mode(strict)
        .with_batch_size(BATCH_ROWS)
        .build(Cursor::new(data))
        .map_err(|e| IoError::arrow(url, e))?;
    match reader.collect::<Result<Vec<_>, _>>() {
        Ok(batches) => Ok(batches),
        Err(e) => {
            let (at, message) =
                locate_bad_json_line(data, &schema, strict).unwrap_or((0, e.to_string()));
            Err(IoError::Malformed {
                url: url.to_string(),
                offset: offset + at as u64,
                message,
            })
        }
    }
}

/// The first line that is not a JSON value, with serde_json's reason.
fn first_invalid_json_line(data: &[u8]) -> Option<(usize, String)> {
    let mut pos = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(trimmed) {
                return Some((pos, format!("invalid JSON: {e}")));
            }
        }
        pos += line.len();
    }
    None
}

/// Finds the first line that does not decode on its own (only on the error path).
fn locate_bad_json_line(data: &[u8], schema: &SchemaRef, strict: bool) -> Option<(usize, String)> {
    let mut pos = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            let decoded = arrow::json::ReaderBuilder::new(schema.clone())
                .with_strict_mode(strict)
                .build(Cursor::new(trimmed))
                .and_then(|r| r.collect::<Result<Vec<_>, _>>());
            if let Err(e) = decoded {
                let message = e.to_string();
                if let Some(field) = field_not_in_schema(&message) {
                    let names: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    return Some((
                        pos,
                        format!(
                            "field `{field}` is not in the schema [{}] inferred from the \
                             first records of the input; declare the columns in input.schema \
                             to read it",
                            names.join(",")
                        ),
                    ));
                }
                let preview: String = String::from_utf8_lossy(trimmed).chars().take(80).collect();
                return Some((pos, format!("{message} in line `{preview}`")));
            }
        }
        pos += line.len();
    }
    None
}

/// The dotted path of the field arrow-json's strict mode rejected, from its message
/// ("whilst decoding field 'a': column 'b' missing from schema" is `a.b`).
fn field_not_in_schema(message: &str) -> Option<String> {
    let tail = message.strip_suffix("' missing from schema")?;
    let (parents, field) = tail.rsplit_once("column '")?;
    let mut path: Vec<&str> = parents
        .split("whilst decoding field '")
        .skip(1)
        .filter_map(|p| p.split_once('\'').map(|(name, _)| name))
        .collect();
    path.push(field);
    Some(path.join("."))
}

fn parse_text(data: &[u8], offset: u64, url: &str) -> Result<Vec<RecordBatch>, IoError> {
    let schema = text_schema();
    let mut batches = vec![];
    let mut builder = StringBuilder::new();
    let mut rows = 0;
    let mut pos = 0;
    for line in lines(data) {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let text = std::str::from_utf8(body).map_err(|e| IoError::Malformed {
            url: url.to_string(),
            offset: offset + (pos + e.valid_up_to()) as u64,
            message: "line is not valid UTF-8".into(),
        })?;
        builder.append_value(text);
        rows += 1;
        pos += line.len();
        if rows == BATCH_ROWS {
            batches.push(finish_text(&schema, &mut builder)?);
            rows = 0;
        }
    }
    if rows > 0 {
        batches.push(finish_text(&schema, &mut builder)?);
    }
    Ok(batches)
}

/// The lines of `data`, each with its `\n` (the last may lack one): `split_inclusive`,
/// with the line ends found by SIMD rather than a byte at a time.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = data.get(start..).filter(|r| !r.is_empty())?;
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1);
        start += len;
        Some(&rest[..len])
    })
}

/// Text lines when no column is read (`count(*)`): as many rows as `parse_text` would
/// give, each line empty, without checking or copying the bytes.
fn rows_of_text(data: &[u8]) -> Result<Vec<RecordBatch>, IoError> {
    let mut lines = bytecount::count(data, b'\n') as u64;
    if data.last().is_some_and(|&b| b != b'\n') {
        lines += 1;
    }
    empty_lines(lines)
}

/// `lines` rows of text, each line empty.
fn empty_lines(mut lines: u64) -> Result<Vec<RecordBatch>, IoError> {
    let schema = text_schema();
    let mut batches = vec![];
    while lines > 0 {
        let rows = lines.min(BATCH_ROWS as u64) as usize;
        let empty = StringArray::new(
            arrow::buffer::OffsetBuffer::new_zeroed(rows),
            arrow::buffer::Buffer::from(Vec::<u8>::new()),
            None,
        );
        let column: ArrayRef = Arc::new(empty);
        batches.push(
            RecordBatch::try_new(schema.clone(), vec![column])
                .map_err(|e| IoError::arrow("text", e))?,
        );
        lines -= rows as u64;
    }
    Ok(batches)
}

fn finish_text(schema: &SchemaRef, builder: &mut StringBuilder) -> Result<RecordBatch, IoError> {
    let column: ArrayRef = Arc::new(builder.finish());
    RecordBatch::try_new(schema.clone(), vec![column]).map_err(|e| IoError::arrow("text", e))
}

async fn parquet_builder(
    loc: &Location,
    size: u64,
) -> Result<ParquetRecordBatchStreamBuilder<ParquetObjectReader>, IoError> {
    let reader = ParquetObjectReader::new(loc.store.clone(), loc.path.clone()).with_file_size(size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|source| IoError::Parquet {
            context: loc.url(),
            source,
        })
}

pub async fn parquet_metadata(loc: &Location, size: u64) -> Result<Arc<ParquetMetaData>, IoError> {
    Ok(parquet_builder(loc, size).await?.metadata().clone())
}

async fn read_parquet(
    loc: &Location,
    split: &Split,
    schema: SchemaRef,
) -> Result<ScanResult, IoError> {
    let builder = parquet_builder(loc, split.file_size).await?;
    if builder.schema().fields() != schema.fields() {
        return Err(IoError::Malformed {
            url: loc.url(),
            offset: 0,
            message: format!(
                "schema {} differs from the first input file's {}",
                builder.schema(),
                schema
            ),
        });
    }
    let (first, last) = split
        .row_groups
        .unwrap_or((0, builder.metadata().num_row_groups()));
    let bytes_read = builder.metadata().row_groups()[first..last]
        .iter()
        .map(|rg| rg.compressed_size().max(0) as u64)
        .sum();
    let stream = builder
        .with_row_groups((first..last).collect())
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|source| IoError::Parquet {
            context: loc.url(),
            source,
        })?;
    let batches: Vec<RecordBatch> =
        stream
            .try_collect()
            .await
            .map_err(|source| IoError::Parquet {
                context: loc.url(),
                source,
            })?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    Ok(ScanResult {
        batches,
        bytes_read,
        rows,
    })
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
