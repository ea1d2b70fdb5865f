//! The parts of an application spec serde cannot derive: Skein's shorthands, and checks
//! that must fail inside the value's own visitor for serde_yaml to give the value's line.

use super::{one, FileKind, FileSpec, Resources, ServiceSpec, Visibility};
use crate::size::ByteSize;
use crate::spec::{ranged, size_in, Within};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// `resources` as written, before the memory default (which differs for the master).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResources {
    #[serde(default, deserialize_with = "memory")]
    memory: Option<ByteSize>,
    #[serde(default = "one", deserialize_with = "ranged::<_, 1, 1024>")]
    vcores: u32,
    #[serde(default, deserialize_with = "ranged::<_, 0, 64>")]
    gpus: u32,
}

impl RawResources {
    fn with_memory(self, default: ByteSize) -> Resources {
        Resources {
            memory: self.memory.unwrap_or(default),
            vcores: self.vcores,
            gpus: self.gpus,
        }
    }
}

impl From<RawResources> for Resources {
    fn from(raw: RawResources) -> Self {
        raw.with_memory(Resources::default().memory)
    }
}

/// 1 MiB to 1 TiB; a bare number is MiB.
fn memory<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
    size_in::<D, 1_048_576, 1_099_511_627_776>(d).map(Some)
}

/// The master is smaller by default than a service: it mostly waits.
pub(super) fn master_resources() -> Resources {
    Resources {
        memory: ByteSize::mib(512),
        ..Resources::default()
    }
}

pub(super) fn master_resources_in<'de, D: Deserializer<'de>>(d: D) -> Result<Resources, D::Error> {
    Ok(RawResources::deserialize(d)?.with_memory(master_resources().memory))
}

/// A bare number reads back as MiB, so only whole MiB are written as one.
pub(super) fn memory_out<S: Serializer>(memory: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    let bytes = memory.bytes();
    if bytes.is_multiple_of(ByteSize::MIB) {
        s.serialize_u64(bytes / ByteSize::MIB)
    } else {
        s.serialize_str(&format!("{bytes} B"))
    }
}

/// A whole number in `MIN..=MAX`, which may be negative.
pub(super) fn signed_in<'de, D: Deserializer<'de>, const MIN: i32, const MAX: i32>(
    d: D,
) -> Result<i32, D::Error> {
    let v = d.deserialize_any(Within::new(SignedVisitor, MIN as i64, MAX as i64))?;
    Ok(v as i32)
}

#[derive(Clone, Copy)]
struct SignedVisitor;

impl Visitor<'_> for SignedVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }
}

/// A script, or a list of commands run one after another.
pub(super) fn script<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(ScriptVisitor)
}

pub(super) fn optional_script<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    script(d).map(Some)
}

struct ScriptVisitor;

impl<'de> Visitor<'de> for ScriptVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a script, or a list of commands")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        non_blank(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        non_blank(String::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let mut lines = Vec::new();
        while let Some(line) = seq.next_element::<String>()? {
            lines.push(line);
        }
        non_blank(lines.join("\n"))
    }
}

fn non_blank<E: de::Error>(script: String) -> Result<String, E> {
    if script.trim().is_empty() {
        return Err(E::custom("the script must not be blank"));
    }
    Ok(script)
}

pub(super) fn services<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, ServiceSpec>, D::Error> {
    d.deserialize_map(CheckedMap::new(service_name))
}

pub(super) fn files<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, FileSpec>, D::Error> {
    d.deserialize_map(CheckedMap::new(file_name))
}

pub(super) fn env<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let env = d.deserialize_map(CheckedMap::<EnvValue>::new(env_name))?;
    Ok(env.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// Service names become parts of container ids, hostnames and paths.
fn service_name(name: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if (1..=64).contains(&name.len()) && name.bytes().all(allowed) {
        return Ok(());
    }
    Err(format!(
        "service name `{name}` must be 1 to 64 characters of A-Z, a-z, 0-9, `_` and `-`"
    ))
}

/// A file must land inside the container's working directory.
fn file_name(name: &str) -> Result<(), String> {
    let mut parts = name.split('/');
    let names_something = parts.clone().any(|p| !p.is_empty() && p != ".");
    if !name.starts_with('/') && names_something && parts.all(|p| p != "..") {
        return Ok(());
    }
    Err(format!(
        "file name `{name}` must be a relative path inside the working directory \
         (no leading `/`, no `..`)"
    ))
}

/// A name the shell can expand.
fn env_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Ok(());
    }
    Err(format!(
        "`{name}` is not an environment variable name (A-Z, a-z, 0-9 and `_`, not starting \
         with a digit)"
    ))
}

/// A mapping whose keys are checked, and refused when repeated, by the key's own visitor:
/// the error then carries the key's line.
struct CheckedMap<V> {
    check: fn(&str) -> Result<(), String>,
    value: PhantomData<V>,
}

impl<V> CheckedMap<V> {
    fn new(check: fn(&str) -> Result<(), String>) -> Self {
        CheckedMap {
            check,
            value: PhantomData,
        }
    }
}

impl<'de, V: Deserialize<'de>> Visitor<'de> for CheckedMap<V> {
    type Value = BTreeMap<String, V>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        loop {
            let key = CheckedKey {
                check: self.check,
                seen: &out,
            };
            let Some(key) = map.next_key_seed(key)? else {
                return Ok(out);
            };
            let value = map.next_value()?;
            out.insert(key, value);
        }
    }
}

struct CheckedKey<'a, V> {
    check: fn(&str) -> Result<(), String>,
    seen: &'a BTreeMap<String, V>,
}

impl<'de, V> DeserializeSeed<'de> for CheckedKey<'_, V> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<V> Visitor<'_> for CheckedKey<'_, V> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        (self.check)(v).map_err(E::custom)?;
        if self.seen.contains_key(v) {
            return Err(E::custom(format!("`{v}` is given twice")));
        }
        Ok(v.to_string())
    }
}

/// An environment value; serde_yaml hands over a number or boolean as its text, so
/// `VERSION: 1.10` stays `1.10`.
struct EnvValue(String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvVisitor;
        impl Visitor<'_> for EnvVisitor {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
        }
        d.deserialize_str(EnvVisitor)
    }
}

/// A plain string is the source; a mapping spells the rest out.
impl<'de> Deserialize<'de> for FileSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FileVisitor)
    }
}

struct FileVisitor;

impl<'de> Visitor<'de> for FileVisitor {
    type Value = FileSpec;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a source, or a mapping with `source` and optional `type`, `visibility`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FileSpec, E> {
        let source = SourceVisitor.visit_str(v)?;
        Ok(FileSpec {
            kind: FileKind::infer(&source),
            source,
            visibility: Visibility::Application,
            size: None,
            timestamp: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileSpec, A::Error> {
        let raw = RawFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(FileSpec {
            kind: raw.kind.unwrap_or_else(|| FileKind::infer(&raw.source)),
            source: raw.source,
            visibility: raw.visibility,
            size: raw.size,
            timestamp: raw.timestamp,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(deserialize_with = "source")]
    source: String,
    #[serde(default, rename = "type")]
    kind: Option<FileKind>,
    #[serde(default)]
    visibility: Visibility,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    timestamp: Option<i64>,
}

fn source<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(SourceVisitor)
}

struct SourceVisitor;

impl Visitor<'_> for SourceVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a URL or path")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if v.trim().is_empty() {
            return Err(E::custom("a file's source must not be empty"));
        }
        Ok(v.to_string())
    }
}

/// Skein writes these in capitals (`ARCHIVE`, `PUBLIC`); any case is taken.
impl<'de> Deserialize<'de> for FileKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let i = d.deserialize_str(AnyCase(&["file", "archive"]))?;
        Ok([FileKind::File, FileKind::Archive][i])
    }
}

impl<'de> Deserialize<'de> for Visibility {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = &["application", "private", "public"];
        let i = d.deserialize_str(AnyCase(names))?;
        Ok([
            Visibility::Application,
            Visibility::Private,
            Visibility::Public,
        ][i])
    }
}

/// The index of the name written, ignoring case.
struct AnyCase(&'static [&'static str]);

impl Visitor<'_> for AnyCase {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "one of {}", self.0.join(", "))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        let found = self.0.iter().position(|n| n.eq_ignore_ascii_case(v));
        found.ok_or_else(|| E::unknown_variant(v, self.0))
    }
}
