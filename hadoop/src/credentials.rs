//! Hadoop tokens and the Credentials file (`HADOOP_TOKEN_FILE_LOCATION`,
//! `ContainerLaunchContext.tokens`): magic `HDTS`, a version byte, then either the
//! Writable layout (version 0) or a delimited `CredentialsProto` (version 1).

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, BytesMut};
use prost::Message;

use crate::proto::common::{CredentialsKvProto, CredentialsProto, TokenProto};
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"HDTS";
const VERSION_WRITABLE: u8 = 0;
const VERSION_PROTOBUF: u8 = 1;

/// A Hadoop security token: opaque identifier and password, plus kind and service used
/// to select it (`YARN_AM_RM_TOKEN`, `NMToken`, `HDFS_DELEGATION_TOKEN`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Token {
    pub identifier: Vec<u8>,
    pub password: Vec<u8>,
    pub kind: String,
    pub service: String,
}

impl Token {
    pub(crate) fn from_proto(p: TokenProto) -> Self {
        Self {
            identifier: p.identifier,
            password: p.password,
            kind: p.kind,
            service: p.service,
        }
    }

    pub(crate) fn to_proto(&self) -> TokenProto {
        TokenProto {
            identifier: self.identifier.clone(),
            password: self.password.clone(),
            kind: self.kind.clone(),
            service: self.service.clone(),
        }
    }
}

/// The dates a delegation token's identifier carries (Hadoop's
/// `AbstractDelegationTokenIdentifier`: version, owner, renewer, real user, issue date,
/// max date, ...), in ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenDates {
    pub issued_ms: i64,
    /// No renewal keeps the token valid past this.
    pub max_ms: i64,
}

impl Token {
    /// The dates in a delegation token's identifier.
    pub fn dates(&self) -> Result<TokenDates> {
        let mut buf = self.identifier.as_slice();
        need(buf, 1)?;
        let version = buf.get_u8();
        if version != 0 {
            return Err(Error::Credentials(format!(
                "a {} identifier of version {version}, not 0",
                self.kind
            )));
        }
        for _ in ["owner", "renewer", "real user"] {
            read_text(&mut buf)?;
        }
        Ok(TokenDates {
            issued_ms: read_vint(&mut buf)?,
            max_ms: read_vint(&mut buf)?,
        })
    }
}

/// Which on-disk layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsFormat {
    /// Version 0, readable by every Hadoop 2 and 3 release.
    Writable,
    /// Version 1 (Hadoop 3).
    Protobuf,
}

/// Tokens and secret keys by alias. Kept sorted so the written bytes are deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub tokens: BTreeMap<String, Token>,
    pub secrets: BTreeMap<String, Vec<u8>>,
}

impl Credentials {
    /// First token of the given kind (AMRMToken's service is not the RM address, so
    /// tokens are selected by kind).
    pub fn token_by_kind(&self, kind: &str) -> Option<&Token> {
        self.tokens.values().find(|t| t.kind == kind)
    }

    /// Parses either layout.
    pub fn read(data: &[u8]) -> Result<Self> {
        let mut buf = data;
        if buf.len() < 5 || &buf[..4] != MAGIC {
            return Err(Error::Credentials(
                "missing HDTS magic: not a credentials file".into(),
            ));
        }
        buf.advance(4);
        match buf.get_u8() {
            VERSION_WRITABLE => read_writable(buf),
            VERSION_PROTOBUF => read_protobuf(buf),
            v => Err(Error::Credentials(format!("unsupported version {v}"))),
        }
    }

    /// Serializes in the chosen layout.
    pub fn write(&self, format: CredentialsFormat) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_slice(MAGIC);
        match format {
            CredentialsFormat::Writable => {
                out.put_u8(VERSION_WRITABLE);
                self.write_writable(&mut out);
            }
            CredentialsFormat::Protobuf => {
                out.put_u8(VERSION_PROTOBUF);
                let proto = CredentialsProto {
                    tokens: self
                        .tokens
                        .iter()
                        .map(|(alias, t)| CredentialsKvProto {
                            alias: alias.clone(),
                            token: Some(t.to_proto()),
                            secret: None,
                        })
                        .collect(),
                    secrets: self
                        .secrets
                        .iter()
                        .map(|(alias, s)| CredentialsKvProto {
                            alias: alias.clone(),
                            token: None,
                            secret: Some(s.clone()),
                        })
                        .collect(),
                };
                proto
                    .encode_length_delimited(&mut out)
                    .expect("BytesMut grows as needed");
            }
        }
        out.to_vec()
    }

    fn write_writable(&self, out: &mut BytesMut) {
        write_vint(out, self.tokens.len() as i64);
        for (alias, t) in &self.tokens {
            write_text(out, alias);
            write_bytes(out, &t.identifier);
            write_bytes(out, &t.password);
            write_text(out, &t.kind);
            write_text(out, &t.service);
        }
        write_vint(out, self.secrets.len() as i64);
        for (alias, s) in &self.secrets {
            write_text(out, alias);
            write_bytes(out, s);
        }
    }
}

fn read_writable(mut buf: &[u8]) -> Result<Credentials> {
    let mut c = Credentials::default();
    let n = read_count(&mut buf)?;
    for _ in 0..n {
        let alias = read_text(&mut buf)?;
        let token = Token {
            identifier: read_bytes(&mut buf)?,
            password: read_bytes(&mut buf)?,
            kind: read_text(&mut buf)?,
            service: read_text(&mut buf)?,
        };
        c.tokens.insert(alias, token);
    }
    let n = read_count(&mut buf)?;
    for _ in 0..n {
        let alias = read_text(&mut buf)?;
        c.secrets.insert(alias, read_bytes(&mut buf)?);
    }
    Ok(c)
}

fn read_protobuf(mut buf: &[u8]) -> Result<Credentials> {
    let proto =
        CredentialsProto::decode_length_delimited(&mut buf).map_err(|source| Error::Decode {
            what: "CredentialsProto",
            source,
        })?;
    let mut c = Credentials::default();
    for kv in proto.tokens {
        if let Some(t) = kv.token {
            c.tokens.insert(kv.alias, Token::from_proto(t));
        }
    }
    for kv in proto.secrets {
        c.secrets.insert(kv.alias, kv.secret.unwrap_or_default());
    }
    Ok(c)
}

/// Hadoop `WritableUtils.writeVLong`: one byte for -112..=127, else a length marker
/// byte and the big-endian magnitude (ones' complement for negatives).
fn write_vint(out: &mut BytesMut, mut v: i64) {
    if (-112..=127).contains(&v) {
        out.put_i8(v as i8);
        return;
    }
    let mut marker: i64 = -112;
    if v < 0 {
        v = !v;
        marker = -120;
    }
    let nbytes = 8 - (v.leading_zeros() as i64 / 8);
    out.put_i8((marker - nbytes) as i8);
    for i in (0..nbytes).rev() {
        out.put_u8((v >> (i * 8)) as u8);
    }
}

fn read_vint(buf: &mut &[u8]) -> Result<i64> {
    need(buf, 1)?;
    let first = buf.get_i8() as i64;
    if first >= -112 {
        return Ok(first);
    }
    let negative = first < -120;
    let nbytes = if negative {
        -(first + 120)
    } else {
        -(first + 112)
    } as usize;
    need(buf, nbytes)?;
    let mut v: i64 = 0;
    for _ in 0..nbytes {
        v = (v << 8) | buf.get_u8() as i64;
    }
    Ok(if negative { !v } else { v })
}

fn read_count(buf: &mut &[u8]) -> Result<usize> {
    let n = read_vint(buf)?;
    usize::try_from(n).map_err(|_| Error::Credentials(format!("negative count {n}")))
}

fn need(buf: &[u8], n: usize) -> Result<()> {
    if buf.len() < n {
        return Err(Error::Credentials(
            "file ends in the middle of a record".into(),
        ));
    }
    Ok(())
}

fn write_bytes(out: &mut BytesMut, b: &[u8]) {
    write_vint(out, b.len() as i64);
    out.put_slice(b);
}

fn read_bytes(buf: &mut &[u8]) -> Result<Vec<u8>> {
    let n = read_count(buf)?;
    need(buf, n)?;
    let v = buf[..n].to_vec();
    buf.advance(n);
    Ok(v)
}

/// Hadoop `Text`: vint byte length, then UTF-8.
fn write_text(out: &mut BytesMut, s: &str) {
    write_bytes(out, s.as_bytes());
}

fn read_text(buf: &mut &[u8]) -> Result<String> {
    String::from_utf8(read_bytes(buf)?)
        .map_err(|_| Error::Credentials("a Text field is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegation_tokens_dates_come_from_its_identifier() {
        let mut id = BytesMut::new();
        id.put_u8(0);
        for text in ["alice", "alice", ""] {
            write_text(&mut id, text);
        }
        write_vint(&mut id, 1_764_550_000_123);
        write_vint(&mut id, 1_764_550_045_123);
        write_vint(&mut id, 7); // sequence number
        write_vint(&mut id, 2); // master key id
        let token = Token {
            identifier: id.to_vec(),
            password: vec![],
            kind: "HDFS_DELEGATION_TOKEN".into(),
            service: "127.0.0.1:8020".into(),
        };
        assert_eq!(
            token.dates().unwrap(),
            TokenDates {
                issued_ms: 1_764_550_000_123,
                max_ms: 1_764_550_045_123
            }
        );
        let cut = Token {
            identifier: id[..9].to_vec(),
            ..token.clone()
        };
        assert!(cut.dates().is_err());
        let mut v1 = token.identifier.clone();
        v1[0] = 1;
        let e = Token {
            identifier: v1,
            ..token
        }
        .dates()
        .unwrap_err();
        assert!(e.to_string().contains("version 1"), "{e}");
    }

    fn sample() -> Credentials {
        let mut c = Credentials::default();
        c.tokens.insert(
            "amrm".into(),
            Token {
                identifier: (0..200u8).collect(),
                password: vec![9; 20],
                kind: "YARN_AM_RM_TOKEN".into(),
                service: "127.0.0.1:8030".into(),
            },
        );
        c.tokens.insert(
            "hdfs".into(),
            Token {
                identifier: vec![1],
                password: vec![],
                kind: "HDFS_DELEGATION_TOKEN".into(),
                service: "ha-hdfs:ns".into(),
            },
        );
        c.secrets
            .insert("spindle.secret".into(), b"s3cr3t".to_vec());
        c
    }

    #[test]
    fn vint_matches_hadoop_encoding() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (-112, &[0x90]),
            (128, &[0x8f, 0x80]),
            (200, &[0x8f, 0xc8]),
            (256, &[0x8e, 0x01, 0x00]),
            (-113, &[0x87, 0x70]),
        ];
        for (v, bytes) in cases {
            let mut out = BytesMut::new();
            write_vint(&mut out, *v);
            assert_eq!(out.as_ref(), *bytes, "encoding {v}");
            let mut b: &[u8] = bytes;
            assert_eq!(read_vint(&mut b).unwrap(), *v);
        }
        for v in [i64::MIN, -1_000_000, -1, 1_000_000, i64::MAX] {
            let mut out = BytesMut::new();
            write_vint(&mut out, v);
            assert_eq!(read_vint(&mut out.as_ref()).unwrap(), v);
        }
    }

    #[test]
    fn writable_round_trip() {
        let c = sample();
        let bytes = c.write(CredentialsFormat::Writable);
        assert_eq!(&bytes[..5], b"HDTS\0");
        assert_eq!(Credentials::read(&bytes).unwrap(), c);
    }

    #[test]
    fn writable_layout_is_exact() {
        let mut c = Credentials::default();
        c.tokens.insert(
            "a".into(),
            Token {
                identifier: vec![7],
                password: vec![8, 8],
                kind: "K".into(),
                service: "S".into(),
            },
        );
        let bytes = c.write(CredentialsFormat::Writable);
        let expected: &[u8] = b"HDTS\x00\x01\x01a\x01\x07\x02\x08\x08\x01K\x01S\x00";
        assert_eq!(bytes, expected);
    }

    #[test]
    fn protobuf_round_trip() {
        let c = sample();
        let bytes = c.write(CredentialsFormat::Protobuf);
        assert_eq!(&bytes[..5], b"HDTS\x01");
        assert_eq!(Credentials::read(&bytes).unwrap(), c);
        assert_eq!(
            c.token_by_kind("YARN_AM_RM_TOKEN").unwrap().password,
            vec![9; 20]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(Credentials::read(b"nope").is_err());
        assert!(Credentials::read(b"HDTS\x07").is_err());
        assert!(Credentials::read(b"HDTS\x00\x05").is_err());
    }
}
