//! Byte sizes as people write them in specs: `2 GiB`, `512 MiB`, `64MB`, or a bare number
//! of MiB (what Skein and YARN users type for memory).

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const MIB: u64 = 1 << 20;
    /// Larger sizes are refused: nothing spindle sizes comes near it, and arithmetic on
    /// sizes then never overflows.
    pub const MAX: u64 = 1 << 50;

    pub fn mib(n: u64) -> Self {
        ByteSize(n * Self::MIB)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `2 GiB`, `512MiB`, `1.5 GB`, `100` (MiB), `4096 B`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a size (try `512 MiB` or `2 GiB`)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "m" | "mi" | "mib" => 1 << 20,
            "b" => 1,
            "k" | "ki" | "kib" => 1 << 10,
            "g" | "gi" | "gib" => 1 << 30,
            "t" | "ti" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            other => {
                return Err(format!(
                "unknown size unit `{other}` in `{text}` (use B, KiB, MiB, GiB, TiB, KB, MB, GB)"
            ))
            }
        };
        if value < 0.0 || !value.is_finite() {
            return Err(format!("`{text}` is not a size"));
        }
        let bytes = value * mult as f64;
        if bytes > Self::MAX as f64 {
            return Err(format!("`{text}` is too large (at most 1 PiB)"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let units = [
            (1u64 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        for (size, name) in units {
            if self.0 >= size {
                return write!(f, "{:.1} {name}", b / size as f64);
            }
        }
        write!(f, "{} B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

/// Reads a [`ByteSize`] from any of the forms people write.
#[derive(Clone, Copy)]
pub(crate) struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = ByteSize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a size such as `2 GiB`, `512 MiB` or a number of MiB")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
        v.checked_mul(ByteSize::MIB)
            .filter(|&b| b <= ByteSize::MAX)
            .map(ByteSize)
            .ok_or_else(|| E::custom(format!("{v} MiB is too large (at most 1 PiB)")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("a size cannot be negative"))?;
        self.visit_u64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
        ByteSize::parse(&v.to_string()).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
        ByteSize::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_sizes_that_would_overflow() {
        for text in ["99999999999 TiB", "99999999999999999999999", "2000 TiB"] {
            let e = ByteSize::parse(text).unwrap_err();
            assert!(e.contains("too large"), "{text}: {e}");
        }
        let e = serde_yaml::from_str::<ByteSize>("18446744073709551615").unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        assert_eq!(ByteSize::parse("1024 TiB").unwrap().bytes(), ByteSize::MAX);
    }

    #[test]
    fn parses_the_forms_people_write() {
        assert_eq!(ByteSize::parse("2 GiB").unwrap().0, 2 << 30);
        assert_eq!(ByteSize::parse("512MiB").unwrap().0, 512 << 20);
        assert_eq!(ByteSize::parse("100").unwrap().0, 100 << 20);
        assert_eq!(ByteSize::parse("64 MB").unwrap().0, 64_000_000);
        assert_eq!(ByteSize::parse("1.5 GiB").unwrap().0, 3 << 29);
        assert_eq!(ByteSize::parse("4096 B").unwrap().0, 4096);
    }

    #[test]
    fn rejects_nonsense_with_a_hint() {
        let e = ByteSize::parse("lots").unwrap_err();
        assert!(e.contains("not a size"), "{e}");
        let e = ByteSize::parse("3 parsecs").unwrap_err();
        assert!(e.contains("unknown size unit"), "{e}");
    }

    #[test]
    fn displays_readably() {
        assert_eq!(ByteSize(2 << 30).to_string(), "2.0 GiB");
        assert_eq!(ByteSize(10).to_string(), "10 B");
    }
}
