//! Encoding a partition's rows in the job's output format.

use crate::error::IoError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use spindle_job::OutputFormat;

/// The bytes of one output file holding `batches`.
pub fn encode_output(
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, IoError> {
    let mut out = Vec::new();
    let fail = |e| IoError::arrow("encoding output", e);
    match format {
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(fail)?;
            }
            for b in batches {
                w.write(b).map_err(fail)?;
            }
        }
        OutputFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b).map_err(fail)?;
            }
            w.finish().map_err(fail)?;
        }
        OutputFormat::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let perr = |source| IoError::Parquet {
                context: "encoding output".into(),
                source,
            };
            let mut w =
                ArrowWriter::try_new(&mut out, schema.clone(), Some(props)).map_err(perr)?;
            for b in batches {
                w.write(b).map_err(perr)?;
            }
            w.close().map_err(perr)?;
        }
    }
    Ok(out)
}
