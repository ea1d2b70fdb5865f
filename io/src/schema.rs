//! Schemas of rows that programs print: the ones a spec declares, the union of what the
//! partitions of one command printed, and casting a partition's batches to that union.

pub use crate::bind::declared_schema as declared;
use arrow::array::{new_null_array, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

/// Two partitions disagree on a column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub column: String,
    pub first: DataType,
    /// Index (in the slice given to [`unify`]) of the partition that disagreed.
    pub partition: usize,
    pub other: DataType,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "column `{}` is {} in one partition and {} in partition {}; declare the \
             command's `schema:` to read every partition the same way",
            self.column, self.first, self.other, self.partition
        )
    }
}

/// The union of `schemas` by field name, in order of first appearance. A field that is
/// missing from some partition, or nullable in one, is nullable; a partition with no
/// fields printed no rows and is left out. Null (a column that was
/// null in every row) takes the other type; integers and floats widen to the wider number
/// (JSON does not tell `1` from `1.0`); any other difference is a [`Conflict`].
pub fn unify(schemas: &[SchemaRef]) -> Result<Schema, Conflict> {
    let mut fields: Vec<Field> = vec![];
    let mut seen = false;
    for (i, schema) in schemas.iter().enumerate() {
        if schema.fields().is_empty() {
            continue;
        }
        for f in schema.fields() {
            let Some(at) = fields.iter().position(|g| g.name() == f.name()) else {
                // Missing from the partitions before this one, if any.
                fields.push(f.as_ref().clone().with_nullable(seen || f.is_nullable()));
                continue;
            };
            let g = &fields[at];
            let Some(t) = wider(g.data_type(), f.data_type()) else {
                return Err(Conflict {
                    column: f.name().clone(),
                    first: g.data_type().clone(),
                    partition: i,
                    other: f.data_type().clone(),
                });
            };
            let nullable = g.is_nullable() || f.is_nullable();
            fields[at] = Field::new(f.name(), t, nullable);
        }
        // Fields earlier partitions had but this one lacks.
        for g in fields.iter_mut() {
            if schema.field_with_name(g.name()).is_err() {
                *g = g.clone().with_nullable(true);
            }
        }
        seen = true;
    }
    Ok(Schema::new(fields))
}

fn wider(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    let rank = |t: &DataType| match t {
        Int32 => Some(0),
        Int64 => Some(1),
        Float32 => Some(2),
        Float64 => Some(3),
        _ => None,
    };
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Null, t) | (t, Null) => Some(t.clone()),
        _ => match (rank(a), rank(b)) {
            (Some(x), Some(y)) if x.max(y) == 2 && x.min(y) == 1 => Some(Float64),
            (Some(x), Some(y)) => Some(if x > y { a.clone() } else { b.clone() }),
            _ => None,
        },
    }
}

/// `batch` with `schema`'s columns, by name: cast where the type differs, all nulls where
/// the batch has no such column.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => arrow::compute::cast(c, f.data_type()),
            None => Ok(new_null_array(f.data_type(), rows)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn unify_takes_the_union_by_name_and_makes_missing_fields_nullable() {
        let a = schema(&[
            ("user", DataType::Utf8, false),
            ("n", DataType::Int64, false),
        ]);
        let empty = Arc::new(Schema::empty());
        let b = schema(&[
            ("n", DataType::Float64, false),
            ("user", DataType::Utf8, false),
            ("x", DataType::Null, true),
        ]);
        let c = schema(&[
            ("x", DataType::Boolean, false),
            ("user", DataType::Utf8, false),
        ]);
        let u = unify(&[a, empty, b, c]).unwrap();
        assert_eq!(
            u,
            Schema::new(vec![
                Field::new("user", DataType::Utf8, false),
                Field::new("n", DataType::Float64, true),
                Field::new("x", DataType::Boolean, true),
            ])
        );
    }

    #[test]
    fn a_type_conflict_names_the_column() {
        let a = schema(&[("n", DataType::Int64, true)]);
        let b = schema(&[("n", DataType::Utf8, true)]);
        let e = unify(&[a.clone(), a, b]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "column `n` is Int64 in one partition and Utf8 in partition 2; declare the \
             command's `schema:` to read every partition the same way"
        );
    }

    #[test]
    fn conform_casts_reorders_and_pads_with_nulls() {
        let batch = RecordBatch::try_new(
            schema(&[("n", DataType::Int64, true), ("user", DataType::Utf8, true)]),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .unwrap();
        let target = schema(&[
            ("user", DataType::Utf8, true),
            ("n", DataType::Float64, true),
            ("x", DataType::Boolean, true),
        ]);
        let out = conform(&batch, &target).unwrap();
        assert_eq!(out.schema(), target);
        let user = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(user.iter().collect::<Vec<_>>(), vec![Some("a"), Some("b")]);
        let n = out
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(n.values().to_vec(), vec![1.0, 2.0]);
        assert_eq!(out.column(2).null_count(), 2);
    }
}
