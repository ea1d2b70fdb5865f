//! YARN's aggregated log format inside a TFile: one entry per container, keyed by its id,
//! whose value is its log files one after another (name, length as decimal text, bytes);
//! and three entries about the application (`VERSION`, `APPLICATION_ACL`,
//! `APPLICATION_OWNER`). Strings are Java's `writeUTF`: a 2-byte length, then the bytes.

use super::tfile::Entry;

/// Keys that describe the application, not a container.
const META_KEYS: [&str; 3] = ["VERSION", "APPLICATION_ACL", "APPLICATION_OWNER"];

/// One log file of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The value ended before the length the writer declared (the file shrank while the
    /// NodeManager uploaded it, or its read failed).
    pub truncated: bool,
}

/// A container's logs as one NodeManager uploaded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLogs {
    pub container: String,
    pub files: Vec<LogFile>,
}

/// The containers in a file's entries, in file order; the application's own entries are
/// left out.
pub fn containers(entries: Vec<Entry>) -> Result<Vec<ContainerLogs>, String> {
    let mut out = Vec::new();
    for entry in entries {
        let mut key = Cursor::new(&entry.key);
        let container = key.utf().map_err(|e| format!("log key: {e}"))?;
        if META_KEYS.contains(&container.as_str()) {
            continue;
        }
        let files = files(&entry.value).map_err(|e| format!("logs of {container}: {e}"))?;
        out.push(ContainerLogs { container, files });
    }
    Ok(out)
}

/// The files of one container's value, up to its end.
fn files(value: &[u8]) -> Result<Vec<LogFile>, String> {
    let mut c = Cursor::new(value);
    let mut files = Vec::new();
    while !c.is_empty() {
        let name = c.utf()?;
        let declared = c.utf()?;
        let len: usize = declared
            .trim()
            .parse()
            .map_err(|_| format!("{name}: length {declared:?} is not a number"))?;
        let available = c.remaining().min(len);
        let bytes = c.take(available)?.to_vec();
        files.push(LogFile {
            name,
            bytes,
            truncated: available < len,
        });
    }
    Ok(files)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!("truncated at byte {}", self.pos));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Java's `writeUTF`: modified UTF-8, which differs from UTF-8 only for NUL and
    /// characters outside the basic plane, neither of which a file name or container id
    /// holds; anything else is shown lossily.
    fn utf(&mut self) -> Result<String, String> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}
