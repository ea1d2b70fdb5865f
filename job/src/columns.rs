//! Declared schemas: the columns of `input.schema` and of a `command`'s output, with the
//! Arrow types a spec can name.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// One declared column: `{name: user, type: utf8}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: ColumnType,
}

/// Column types a spec can declare (Arrow types of the same names).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    #[serde(alias = "string")]
    Utf8,
    Int32,
    Int64,
    Float32,
    Float64,
    #[serde(alias = "bool")]
    Boolean,
    #[serde(alias = "date")]
    Date32,
    /// Microseconds, no time zone.
    Timestamp,
}

/// A declared schema: at least one column, every name non-empty and listed once.
pub(crate) struct Columns(pub(crate) Vec<ColumnSpec>);

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let columns = Vec::<ColumnSpec>::deserialize(d)?;
        if columns.is_empty() {
            return Err(de::Error::custom("a schema needs at least one column"));
        }
        for (i, c) in columns.iter().enumerate() {
            if c.name.is_empty() {
                return Err(de::Error::custom(format!(
                    "column {} has an empty name",
                    i + 1
                )));
            }
            if columns[..i].iter().any(|o| o.name == c.name) {
                return Err(de::Error::custom(format!(
                    "column `{}` is listed twice",
                    c.name
                )));
            }
        }
        Ok(Columns(columns))
    }
}
