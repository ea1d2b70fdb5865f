//! Hash partitioning by key columns. Keys are converted to Arrow's row format (one byte
//! string per row, equal keys give equal bytes whatever the column types) and hashed with
//! a fixed function, so every worker sends a key to the same bucket.

use crate::error::TaskError;
use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};

pub fn hash_partition(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    by: &[String],
    partitions: u32,
) -> Result<Vec<Vec<RecordBatch>>, TaskError> {
    let mut cols = vec![];
    for name in by {
        let idx = schema.index_of(name).map_err(|_| {
            let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            TaskError::deterministic(format!(
                "shuffle key `{name}` is not a column (columns: {})",
                names.join(", ")
            ))
        })?;
        cols.push(idx);
    }
    let fields = cols
        .iter()
        .map(|&i| SortField::new(schema.field(i).data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)
        .map_err(|e| TaskError::deterministic(format!("cannot hash shuffle keys: {e}")))?;
    let mut out: Vec<Vec<RecordBatch>> = vec![vec![]; partitions as usize];
    for batch in batches {
        let keys: Vec<_> = cols.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = converter
            .convert_columns(&keys)
            .map_err(|e| TaskError::deterministic(format!("cannot hash shuffle keys: {e}")))?;
        let mut picks: Vec<Vec<u32>> = vec![vec![]; partitions as usize];
        for (i, row) in rows.iter().enumerate() {
            let p = (hash_bytes(row.as_ref()) % partitions as u64) as usize;
            picks[p].push(i as u32);
        }
        for (p, idx) in picks.into_iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let part = take_record_batch(batch, &UInt32Array::from(idx))
                .map_err(|e| TaskError::deterministic(format!("shuffle: {e}")))?;
            out[p].push(part);
        }
    }
    Ok(out)
}

/// A fixed 64-bit hash (FNV-1a over 8-byte words, then a splitmix finalizer).
pub fn hash_bytes(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        h ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = h.wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= data.len() as u64;
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::collections::HashMap;
    use std::sync::Arc;

    #[test]
    fn equal_keys_share_a_bucket_and_rows_are_kept() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, false),
        ]));
        let keys: Vec<Option<String>> = (0..1000)
            .map(|i| {
                if i % 97 == 0 {
                    None
                } else {
                    Some(format!("u{}", i % 37))
                }
            })
            .collect();
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(keys)),
                Arc::new(Int64Array::from_iter_values(0..1000)),
            ],
        )
        .unwrap();
        let parts = hash_partition(&schema, &[b.clone(), b], &["k".into()], 4).unwrap();
        let mut home: HashMap<Option<String>, usize> = HashMap::new();
        let mut total = 0;
        for (p, batches) in parts.iter().enumerate() {
            for b in batches {
                total += b.num_rows();
                let col = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                for i in 0..b.num_rows() {
                    let k = col.is_valid(i).then(|| col.value(i).to_string());
                    assert_eq!(*home.entry(k).or_insert(p), p);
                }
            }
        }
        assert_eq!(total, 2000);
        assert!(parts.iter().filter(|p| !p.is_empty()).count() >= 3);
    }

    #[test]
    fn unknown_key_is_a_clear_error() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let e = hash_partition(&schema, &[], &["user".into()], 2).unwrap_err();
        assert!(
            e.message.contains("`user` is not a column (columns: a)"),
            "{}",
            e.message
        );
    }
}
