//! Task results as bytes: an Arrow IPC stream, lz4-compressed when a sample says it pays.
//!
//! The rule is Dask's: payloads under 10 kB stay raw; otherwise compress a sample and keep
//! compression only if the sample shrinks to 70% or less. Results are encoded once, when
//! produced, so serving a peer or spilling to disk costs no further CPU.

use crate::error::IoError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;
use spindle_job::wire::Compression;

const MIN_COMPRESS: usize = 10_000;
const SAMPLE: usize = 64 * 1024;
const TAG_RAW: u8 = 0;
const TAG_LZ4: u8 = 1;

/// Encodes a schema and batches; the first byte says whether the rest is lz4.
pub fn encode(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    mode: Compression,
) -> Result<Bytes, IoError> {
    let mut ipc = Vec::new();
    {
        let mut w =
            StreamWriter::try_new(&mut ipc, schema).map_err(|e| IoError::arrow("ipc", e))?;
        for b in batches {
            w.write(b).map_err(|e| IoError::arrow("ipc", e))?;
        }
        w.finish().map_err(|e| IoError::arrow("ipc", e))?;
    }
    Ok(Bytes::from(compress(ipc, mode)))
}

/// Frames `raw` with its tag, compressing when `mode` (and the sample) says so.
pub fn compress(raw: Vec<u8>, mode: Compression) -> Vec<u8> {
    if should_compress(&raw, mode) {
        let packed = lz4_flex::block::compress_prepend_size(&raw);
        let mut out = Vec::with_capacity(packed.len() + 1);
        out.push(TAG_LZ4);
        out.extend_from_slice(&packed);
        return out;
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    out.push(TAG_RAW);
    out.extend_from_slice(&raw);
    out
}

fn should_compress(raw: &[u8], mode: Compression) -> bool {
    match mode {
        Compression::Never => false,
        Compression::Always => true,
        Compression::Auto => {
            if raw.len() < MIN_COMPRESS {
                return false;
            }
            let sample = &raw[..raw.len().min(SAMPLE)];
            let packed = lz4_flex::block::compress(sample);
            packed.len() * 10 <= sample.len() * 7
        }
    }
}

/// Undoes [`compress`].
pub fn decompress(data: &[u8]) -> Result<Vec<u8>, IoError> {
    match data.split_first() {
        Some((&TAG_RAW, rest)) => Ok(rest.to_vec()),
        Some((&TAG_LZ4, rest)) => lz4_flex::block::decompress_size_prepended(rest)
            .map_err(|e| IoError::Protocol(format!("corrupt lz4 payload: {e}"))),
        _ => Err(IoError::Protocol("unknown payload tag".into())),
    }
}

/// Whether an encoded payload is compressed (for statistics).
pub fn is_compressed(data: &[u8]) -> bool {
    data.first() == Some(&TAG_LZ4)
}

/// Decodes [`encode`]'s bytes back to a schema and batches.
pub fn decode(data: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), IoError> {
    let raw = decompress(data)?;
    let reader = StreamReader::try_new(std::io::Cursor::new(raw), None)
        .map_err(|e| IoError::arrow("ipc", e))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IoError::arrow("ipc", e))?;
    Ok((schema, batches))
}

/// A schema alone, as bytes (sent to workers with the job).
pub fn encode_schema(schema: &SchemaRef) -> Result<Vec<u8>, IoError> {
    Ok(encode(schema, &[], Compression::Never)?.to_vec())
}

pub fn decode_schema(data: &[u8]) -> Result<SchemaRef, IoError> {
    Ok(decode(data)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(rows: usize, distinct: bool) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let k: StringArray = (0..rows)
            .map(|i| {
                Some(if distinct {
                    format!("{i:x}{}", i * 7919)
                } else {
                    "same".into()
                })
            })
            .collect();
        let v: Int64Array = (0..rows as i64)
            .map(|i| if i % 5 == 0 { None } else { Some(i) })
            .collect();
        let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(k), Arc::new(v)]).unwrap();
        (schema, b)
    }

    #[test]
    fn round_trips_in_every_mode() {
        let (schema, b) = batch(5000, false);
        for mode in [Compression::Auto, Compression::Always, Compression::Never] {
            let bytes = encode(&schema, std::slice::from_ref(&b), mode).unwrap();
            let (s, got) = decode(&bytes).unwrap();
            assert_eq!(s, schema);
            assert_eq!(got, vec![b.clone()]);
        }
    }

    #[test]
    fn auto_compresses_repetitive_data_and_leaves_small_payloads_raw() {
        let (schema, b) = batch(5000, false);
        assert!(is_compressed(
            &encode(&schema, &[b], Compression::Auto).unwrap()
        ));
        let (schema, b) = batch(3, false);
        assert!(!is_compressed(
            &encode(&schema, &[b], Compression::Auto).unwrap()
        ));
    }

    #[test]
    fn incompressible_payloads_stay_raw() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(!should_compress(&noise, Compression::Auto));
        assert_eq!(
            decompress(&compress(noise.clone(), Compression::Auto)).unwrap(),
            noise
        );
    }
}
