//! Hadoop's TFile (on top of its BCFile block container): the file format the
//! NodeManagers write aggregated container logs in by default.
//!
//! The layout, from the end of the file backwards: a 28-byte trailer names the offset of
//! the meta index; the meta index names the regions of the meta blocks; the meta block
//! `BCFile.index` names the data blocks and their compression; each data block holds
//! key/value entries back to back. Parsing is pure: the caller reads the byte ranges
//! these functions ask for, so a file is never loaded whole.

use std::collections::HashMap;
use std::io::Read;

/// Begins and ends every BCFile.
pub const MAGIC: [u8; 16] = [
    0xD1, 0x11, 0xD3, 0x68, 0x91, 0xB5, 0xD7, 0xB6, 0x39, 0xDF, 0x41, 0x40, 0x92, 0xBA, 0xE1, 0x50,
];

/// Meta index offset (8), version (4), magic (16).
pub const TRAILER_LEN: u64 = 28;

/// Why a file is not a TFile we can read; `at` is an offset into the part being parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TFileError {
    #[error("not a TFile (no BCFile magic at its end)")]
    NotTFile,
    #[error("unsupported BCFile version {0}.{1}")]
    Version(i16, i16),
    #[error("truncated {what} at byte {at}")]
    Truncated { what: &'static str, at: usize },
    #[error("corrupt {what} at byte {at}")]
    Corrupt { what: &'static str, at: usize },
    #[error("no meta block {0}")]
    MissingMeta(&'static str),
    #[error("blocks compressed with {0:?}, which spindle cannot read (none and gz can be)")]
    Compression(String),
}

/// How a block's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    /// Hadoop's DefaultCodec: a zlib stream per block.
    Gz,
}

impl Compression {
    fn parse(name: &str) -> Result<Self, TFileError> {
        match name {
            "none" => Ok(Self::None),
            "gz" => Ok(Self::Gz),
            other => Err(TFileError::Compression(other.to_string())),
        }
    }
}

/// Where a block lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub offset: u64,
    pub stored_len: u64,
    pub raw_len: u64,
}

impl Region {
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + self.stored_len
    }
}

/// A meta block: its region and compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaBlock {
    pub compression: Compression,
    pub region: Region,
}

/// The data blocks of a file, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataIndex {
    pub compression: Compression,
    pub blocks: Vec<Region>,
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// The offset of the meta index, from the last [`TRAILER_LEN`] bytes of the file.
pub fn parse_trailer(tail: &[u8]) -> Result<u64, TFileError> {
    if tail.len() != TRAILER_LEN as usize || tail[12..] != MAGIC {
        return Err(TFileError::NotTFile);
    }
    let offset = i64::from_be_bytes(tail[..8].try_into().expect("8 bytes"));
    let major = i16::from_be_bytes([tail[8], tail[9]]);
    let minor = i16::from_be_bytes([tail[10], tail[11]]);
    if major != 1 {
        return Err(TFileError::Version(major, minor));
    }
    u64::try_from(offset).map_err(|_| TFileError::Corrupt {
        what: "trailer",
        at: 0,
    })
}

/// The meta blocks by name (`BCFile.index`, `TFile.index`, `TFile.meta`), from the bytes
/// between the meta index offset and the trailer.
pub fn parse_meta_index(bytes: &[u8]) -> Result<HashMap<String, MetaBlock>, TFileError> {
    let mut r = Reader::new(bytes, "meta index");
    let count = r.count()?;
    let mut blocks = HashMap::with_capacity(count);
    for _ in 0..count {
        let at = r.pos;
        let name = r.string()?;
        let name = name
            .strip_prefix("data:")
            .ok_or(TFileError::Corrupt {
                what: "meta index",
                at,
            })?
            .to_string();
        let compression = Compression::parse(&r.string()?)?;
        let region = r.region()?;
        blocks.insert(
            name,
            MetaBlock {
                compression,
                region,
            },
        );
    }
    Ok(blocks)
}

/// The data blocks, from the (decompressed) `BCFile.index` meta block.
pub fn parse_data_index(bytes: &[u8]) -> Result<DataIndex, TFileError> {
    let mut r = Reader::new(bytes, "data index");
    let compression = Compression::parse(&r.string()?)?;
    let count = r.count()?;
    let blocks = (0..count)
        .map(|_| r.region())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DataIndex {
        compression,
        blocks,
    })
}

/// A block's bytes as written, before compression.
pub fn decompress(
    compression: Compression,
    stored: &[u8],
    raw_len: u64,
) -> Result<Vec<u8>, TFileError> {
    match compression {
        Compression::None => Ok(stored.to_vec()),
        Compression::Gz => {
            // raw_len is a hint only: Hadoop saturates it at 2 GiB.
            let mut out = Vec::with_capacity(raw_len.min(64 << 20) as usize);
            flate2::read::ZlibDecoder::new(stored)
                .read_to_end(&mut out)
                .map_err(|_| TFileError::Corrupt {
                    what: "zlib block",
                    at: 0,
                })?;
            Ok(out)
        }
    }
}

/// The entries of a (decompressed) data block, which holds them back to back. A value is
/// a run of chunks, each led by its length: negative for a chunk that more follow,
/// zero or positive for the last.
pub fn parse_block(bytes: &[u8]) -> Result<Vec<Entry>, TFileError> {
    let mut r = Reader::new(bytes, "data block");
    let mut entries = Vec::new();
    while !r.is_empty() {
        let key_len = r.count()?;
        let key = r.take(key_len)?.to_vec();
        let mut value = Vec::new();
        loop {
            let at = r.pos;
            let len = r.vlong()?;
            let size = usize::try_from(len.unsigned_abs()).map_err(|_| TFileError::Corrupt {
                what: "value chunk",
                at,
            })?;
            value.extend_from_slice(r.take(size)?);
            if len >= 0 {
                break;
            }
        }
        entries.push(Entry { key, value });
    }
    Ok(entries)
}

/// A cursor over bytes in TFile's encodings.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what,
        }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TFileError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(TFileError::Truncated {
            what: self.what,
            at: self.pos,
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, TFileError> {
        Ok(self.take(1)?[0])
    }

    /// TFile's variable-length integer (not Hadoop's WritableUtils one): the first byte,
    /// read as signed, either is the value or says how many bytes follow.
    fn vlong(&mut self) -> Result<i64, TFileError> {
        let at = self.pos;
        let first = self.byte()? as i8 as i64;
        if first >= -32 {
            return Ok(first);
        }
        let be = |bytes: &[u8]| bytes.iter().fold(0i64, |acc, b| (acc << 8) | *b as i64);
        match first {
            -72..=-33 => Ok(((first + 52) << 8) | be(self.take(1)?)),
            -104..=-73 => Ok(((first + 88) << 16) | be(self.take(2)?)),
            -120..=-105 => Ok(((first + 112) << 24) | be(self.take(3)?)),
            _ => {
                let len = (first + 129) as usize;
                if len < 4 {
                    return Err(TFileError::Corrupt {
                        what: self.what,
                        at,
                    });
                }
                let bytes = self.take(len)?;
                // A signed big-endian integer of `len` bytes.
                let high = bytes[0] as i8 as i64;
                Ok(bytes[1..]
                    .iter()
                    .fold(high, |acc, b| (acc << 8) | *b as i64))
            }
        }
    }

    /// A length or count: never negative.
    fn count(&mut self) -> Result<usize, TFileError> {
        let at = self.pos;
        let n = self.vlong()?;
        usize::try_from(n).map_err(|_| TFileError::Corrupt {
            what: self.what,
            at,
        })
    }

    /// A length, then that many bytes of UTF-8.
    fn string(&mut self) -> Result<String, TFileError> {
        let at = self.pos;
        let len = self.count()?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| TFileError::Corrupt {
            what: self.what,
            at,
        })
    }

    fn region(&mut self) -> Result<Region, TFileError> {
        let at = self.pos;
        let mut next = || {
            self.vlong().and_then(|v| {
                u64::try_from(v).map_err(|_| TFileError::Corrupt { what: "region", at })
            })
        };
        Ok(Region {
            offset: next()?,
            stored_len: next()?,
            raw_len: next()?,
        })
    }
}

#[cfg(test)]
pub(crate) fn read_vlong(bytes: &[u8]) -> Result<i64, TFileError> {
    Reader::new(bytes, "test").vlong()
}
