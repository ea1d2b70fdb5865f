//! Binding files to the job's schema: a declared `input.schema` as Arrow types, csv
//! headers matched to schema columns by name, and the UTF-8 byte order mark some tools
//! write at the start of a file.

use crate::error::IoError;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use spindle_job::{ColumnSpec, ColumnType};
use std::io::Cursor;
use std::sync::Arc;

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `data` without a leading UTF-8 byte order mark, and how many bytes were dropped.
pub fn strip_bom(data: &[u8]) -> (&[u8], usize) {
    match data.strip_prefix(BOM) {
        Some(rest) => (rest, BOM.len()),
        None => (data, 0),
    }
}

/// The schema of declared columns (`input.schema`, a command's `schema`); every column
/// is nullable, since a file or a program may leave any out.
pub fn declared_schema(columns: &[ColumnSpec]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.data_type), true))
        .collect();
    Arc::new(Schema::new(fields))
}

fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float32 => DataType::Float32,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Date32 => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// The first line of `data` (a file's start, BOM already stripped), without its line end.
/// `None` when `data` holds no complete line and more of the file follows.
pub fn first_line(data: &[u8], at_eof: bool) -> Option<&[u8]> {
    let line = match data.iter().position(|&b| b == b'\n') {
        Some(p) => &data[..p],
        None if at_eof => data,
        None => return None,
    };
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// The column names of a csv header line, unquoted as the csv reader does.
pub fn header_names(url: &str, line: &[u8], delimiter: u8) -> Result<Vec<String>, IoError> {
    let (schema, _) = arrow::csv::reader::Format::default()
        .with_header(true)
        .with_delimiter(delimiter)
        .infer_schema(Cursor::new(line), Some(0))
        .map_err(|e| IoError::Malformed {
            url: url.to_string(),
            offset: 0,
            message: format!("cannot read the csv header: {e}"),
        })?;
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

/// How a csv file's columns map onto the job's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderBinding {
    /// The file's columns in file order, typed as the schema column of the same name;
    /// columns the schema does not have (allowed only with `declared`) are text.
    pub file_schema: SchemaRef,
    /// For each schema column, its index among the file's columns.
    pub positions: Vec<usize>,
}

impl HeaderBinding {
    /// File column indexes for `projection` (schema column indexes; `None` is all), in
    /// the projection's order, so the parsed batch has the projected schema's columns.
    pub fn file_projection(&self, projection: Option<&[usize]>) -> Vec<usize> {
        match projection {
            Some(p) => p.iter().map(|&i| self.positions[i]).collect(),
            None => self.positions.clone(),
        }
    }
}

/// Matches a header to `schema` by name. Every schema column must be in the header; the
/// header may have more columns only when the schema was `declared` (they are skipped).
pub fn bind_header(
    url: &str,
    header: &[String],
    schema: &Schema,
    declared: bool,
) -> Result<HeaderBinding, IoError> {
    let fail = |message: String| IoError::Header {
        url: url.to_string(),
        message,
    };
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(fail(format!("header has column `{name}` twice")));
        }
    }
    let names = |cols: &[&str]| format!("[{}]", cols.join(","));
    let schema_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let missing: Vec<&str> = schema_names
        .iter()
        .copied()
        .filter(|n| !header.iter().any(|h| h == n))
        .collect();
    let extra: Vec<&str> = header
        .iter()
        .map(String::as_str)
        .filter(|h| !schema_names.contains(h))
        .collect();
    let source = if declared {
        "input.schema"
    } else {
        "the schema"
    };
    match (declared || extra.is_empty(), missing.is_empty()) {
        (true, true) => {}
        (true, false) => {
            return Err(fail(format!(
                "header lacks columns {} of {source} {}",
                names(&missing),
                names(&schema_names)
            )))
        }
        (false, true) => {
            return Err(fail(format!(
                "header has columns {} not in the schema {} (inferred from the first file; \
                 every file needs the same columns, in any order)",
                names(&extra),
                names(&schema_names)
            )))
        }
        (false, false) => {
            return Err(fail(format!(
                "header has columns {} not in the schema {} and lacks {}",
                names(&extra),
                names(&schema_names),
                names(&missing)
            )))
        }
    }
    let positions: Vec<usize> = schema_names
        .iter()
        .map(|n| header.iter().position(|h| h == n).unwrap_or_default())
        .collect();
    let fields: Vec<Field> = header
        .iter()
        .map(|h| match schema.field_with_name(h) {
            Ok(f) => f.clone(),
            Err(_) => Field::new(h, DataType::Utf8, true),
        })
        .collect();
    Ok(HeaderBinding {
        file_schema: Arc::new(Schema::new(fields)),
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clicks() -> Schema {
        Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("url", DataType::Utf8, true),
            Field::new("status", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, true),
        ])
    }

    fn header(names: &str) -> Vec<String> {
        names.split(',').map(String::from).collect()
    }

    #[test]
    fn a_reordered_header_binds_by_name() {
        let b = bind_header("f.csv", &header("bytes,user,status,url"), &clicks(), false).unwrap();
        assert_eq!(b.positions, vec![1, 3, 2, 0]);
        let types: Vec<(String, DataType)> = b
            .file_schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("bytes".into(), DataType::Int64),
                ("user".into(), DataType::Utf8),
                ("status".into(), DataType::Int64),
                ("url".into(), DataType::Utf8),
            ]
        );
        assert_eq!(b.file_projection(Some(&[3, 0])), vec![0, 1]);
        assert_eq!(b.file_projection(None), vec![1, 3, 2, 0]);
    }

    #[test]
    fn missing_and_extra_columns_are_named() {
        let e = bind_header("data/b.csv", &header("user,url,status,x"), &clicks(), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "data/b.csv: header has columns [x] not in the schema [user,url,status,bytes] \
             and lacks [bytes]"
        );
        let e = bind_header("b.csv", &header("user,status,url"), &clicks(), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "b.csv: header lacks columns [bytes] of the schema [user,url,status,bytes]"
        );
        let e = bind_header(
            "b.csv",
            &header("user,url,y,status,bytes"),
            &clicks(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "b.csv: header has columns [y] not in the schema [user,url,status,bytes] \
             (inferred from the first file; every file needs the same columns, in any order)"
        );
        let e = bind_header("b.csv", &header("user,url,user"), &clicks(), false)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "b.csv: header has column `user` twice");
    }

    #[test]
    fn a_declared_schema_skips_extra_columns_but_needs_its_own() {
        let b = bind_header("b.csv", &header("y,bytes,user,url,status"), &clicks(), true).unwrap();
        assert_eq!(b.positions, vec![2, 3, 4, 1]);
        assert_eq!(b.file_schema.field(0).data_type(), &DataType::Utf8);
        let e = bind_header("b.csv", &header("y,user,url,status"), &clicks(), true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "b.csv: header lacks columns [bytes] of input.schema [user,url,status,bytes]"
        );
    }

    #[test]
    fn header_names_are_unquoted_and_first_lines_found() {
        let names = header_names("f", b"\"a,b\";c;\"d\"\"e\"", b';').unwrap();
        assert_eq!(names, vec!["a,b", "c", "d\"e"]);
        assert_eq!(first_line(b"a,b\r\n1,2\n", false), Some(&b"a,b"[..]));
        assert_eq!(first_line(b"a,b", false), None);
        assert_eq!(first_line(b"a,b", true), Some(&b"a,b"[..]));
        assert_eq!(strip_bom(b"\xEF\xBB\xBFa,b"), (&b"a,b"[..], 3));
        assert_eq!(strip_bom(b"a,b"), (&b"a,b"[..], 0));
    }

    #[test]
    fn declared_types_map_to_arrow() {
        let cols: Vec<ColumnSpec> = [
            ("a", ColumnType::Utf8),
            ("b", ColumnType::Int32),
            ("c", ColumnType::Int64),
            ("d", ColumnType::Float32),
            ("e", ColumnType::Float64),
            ("f", ColumnType::Boolean),
            ("g", ColumnType::Date32),
            ("h", ColumnType::Timestamp),
        ]
        .into_iter()
        .map(|(name, data_type)| ColumnSpec {
            name: name.into(),
            data_type,
        })
        .collect();
        let types: Vec<DataType> = declared_schema(&cols)
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            vec![
                DataType::Utf8,
                DataType::Int32,
                DataType::Int64,
                DataType::Float32,
                DataType::Float64,
                DataType::Boolean,
                DataType::Date32,
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ]
        );
        assert!(declared_schema(&cols)
            .fields()
            .iter()
            .all(|f| f.is_nullable()));
    }
}
