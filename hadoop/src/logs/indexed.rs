//! YARN's indexed aggregated log format (`IFile`): a 32-byte id, every log file's bytes
//! back to back (each compressed on its own), then an index (a Java-serialized
//! `IndexedLogsMeta`), its length as a 4-byte integer, and the id again. A node file
//! appended to by several uploads holds one index per upload; the last lists them all.

use super::java_ser::{read_object, Object, Value};
use super::tfile::Compression;

/// The id at both ends of the file (SHA-256 of the application id).
pub const ID_LEN: u64 = 32;
/// The index length and the id, at the end.
pub const TRAILER_LEN: u64 = 4 + ID_LEN;
/// While a node appends an upload, a side file `<node>-checksum` names the file and
/// how long it was before; readers stop there.
pub const CHECKSUM_SUFFIX: &str = "-checksum";

/// Where one log file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub container: String,
    pub name: String,
    pub start: u64,
    pub stored_len: u64,
    /// Its length before compression.
    pub size: u64,
}

/// What an index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub compression: Compression,
    pub files: Vec<IndexedFile>,
}

/// The index's length, from the [`TRAILER_LEN`] bytes before the end.
pub fn parse_trailer(tail: &[u8]) -> Result<u64, String> {
    if tail.len() != TRAILER_LEN as usize {
        return Err("not an indexed log file (too short)".into());
    }
    let len = i32::from_be_bytes(tail[..4].try_into().expect("4 bytes"));
    u64::try_from(len).map_err(|_| format!("index length {len} is negative"))
}

/// The files an index lists, in upload order.
pub fn parse_index(meta: &[u8]) -> Result<Index, String> {
    let root = read_object(meta)?;
    let root = object(&root, "IndexedLogsMeta")?;
    let compression = match str_field(root, "compressName")? {
        "none" => Compression::None,
        "gz" => Compression::Gz,
        other => {
            return Err(format!(
            "log files compressed with {other:?}, which spindle cannot read (none and gz can be)"
        ))
        }
    };
    let mut files = Vec::new();
    let uploads = object(field(root, "logMetas")?, "logMetas list")?;
    for upload in uploads.elements() {
        let upload = object(upload, "IndexedPerAggregationLogMeta")?;
        let by_container = object(field(upload, "logMetas")?, "logMetas map")?;
        let pairs = by_container.elements();
        // A map writes its keys and values alternating.
        for pair in pairs.chunks(2) {
            let [_, list] = pair else {
                return Err("a container without its files".into());
            };
            for f in object(list, "file list")?.elements() {
                let f = object(f, "IndexedFileLogMeta")?;
                files.push(IndexedFile {
                    container: str_field(f, "containerId")?.to_string(),
                    name: str_field(f, "fileName")?.to_string(),
                    start: long_field(f, "startIndex")?,
                    stored_len: long_field(f, "fileCompressedSize")?,
                    size: long_field(f, "fileSize")?,
                });
            }
        }
    }
    Ok(Index { compression, files })
}

/// A checksum side file: the name of the file being appended to and its length before.
pub fn parse_checksum(bytes: &[u8]) -> Result<(String, u64), String> {
    let bad = || "unreadable checksum file".to_string();
    let len = i32::from_be_bytes(bytes.get(..4).ok_or_else(bad)?.try_into().expect("4"));
    let len = usize::try_from(len).map_err(|_| bad())?;
    let name = bytes.get(4..4 + len).ok_or_else(bad)?;
    let valid = bytes.get(4 + len..12 + len).ok_or_else(bad)?;
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        u64::try_from(i64::from_be_bytes(valid.try_into().expect("8"))).map_err(|_| bad())?,
    ))
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Object, String> {
    v.as_object()
        .ok_or_else(|| format!("index: {what} is not an object"))
}

fn field<'a>(o: &'a Object, name: &str) -> Result<&'a Value, String> {
    o.field(name)
        .ok_or_else(|| format!("index: {} has no {name}", o.class))
}

fn str_field<'a>(o: &'a Object, name: &str) -> Result<&'a str, String> {
    field(o, name)?
        .as_str()
        .ok_or_else(|| format!("index: {}.{name} is not text", o.class))
}

fn long_field(o: &Object, name: &str) -> Result<u64, String> {
    match field(o, name)? {
        Value::Int(n) => u64::try_from(*n).map_err(|_| format!("index: {name} is negative")),
        _ => Err(format!("index: {}.{name} is not a number", o.class)),
    }
}
