//! Durations as people write them in specs: `30s`, `10m`, `2h`, `1d`, `500ms`, or a bare
//! number of seconds.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A span of time from a spec; always at least a millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timeout(pub Duration);

impl Timeout {
    pub const fn secs(n: u64) -> Self {
        Timeout(Duration::from_secs(n))
    }

    pub fn duration(self) -> Duration {
        self.0
    }

    /// Parses `30s`, `10m`, `2h`, `1d`, `500ms`, `45` (seconds); never zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = Timeout::parse_delay(text)?;
        if t.0.is_zero() {
            return Err(format!("`{text}` must be longer than zero"));
        }
        Ok(t)
    }

    /// As [`Timeout::parse`], and `0` too: for delays, which may be none.
    pub fn parse_delay(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || format!("`{text}` is not a duration (try `30s`, `10m` or `2h`)");
        let value: u64 = num.parse().map_err(|_| bad())?;
        let millis: u64 = match unit.trim() {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let ms = value
            .checked_mul(millis)
            .filter(|&ms| ms <= 365 * 86_400_000)
            .ok_or_else(|| format!("`{text}` is too long (at most a year)"))?;
        Ok(Timeout(Duration::from_millis(ms)))
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis() as u64;
        for (unit, name) in [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ] {
            if ms.is_multiple_of(unit) {
                return write!(f, "{}{name}", ms / unit);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Timeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimeoutVisitor::LIMIT)
    }
}

/// Reads a [`Timeout`] from `30s`, `10m` or a bare number of seconds; zero only when
/// it is a delay (which may be none), not a limit.
#[derive(Clone, Copy)]
pub(crate) struct TimeoutVisitor {
    pub zero_ok: bool,
}

impl TimeoutVisitor {
    pub const LIMIT: TimeoutVisitor = TimeoutVisitor { zero_ok: false };
    pub const DELAY: TimeoutVisitor = TimeoutVisitor { zero_ok: true };

    fn parse(self, text: &str) -> Result<Timeout, String> {
        if self.zero_ok {
            Timeout::parse_delay(text)
        } else {
            Timeout::parse(text)
        }
    }
}

impl Visitor<'_> for TimeoutVisitor {
    type Value = Timeout;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as `30s`, `10m` or `2h`")?;
        if self.zero_ok {
            f.write_str(", or 0")?;
        }
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timeout, E> {
        self.parse(&v.to_string()).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timeout, E> {
        self.parse(&v.to_string()).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timeout, E> {
        self.parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        assert_eq!(Timeout::parse("30s"), Ok(Timeout::secs(30)));
        assert_eq!(Timeout::parse("10m"), Ok(Timeout::secs(600)));
        assert_eq!(Timeout::parse("2h"), Ok(Timeout::secs(7200)));
        assert_eq!(Timeout::parse("1d"), Ok(Timeout::secs(86400)));
        assert_eq!(Timeout::parse("45"), Ok(Timeout::secs(45)));
        assert_eq!(
            Timeout::parse("500ms"),
            Ok(Timeout(Duration::from_millis(500)))
        );
        for bad in [
            "",
            "s",
            "1.5h",
            "-3s",
            "10 parsecs",
            "0s",
            "99999999999999999999d",
        ] {
            assert!(Timeout::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_in_the_largest_whole_unit() {
        for text in ["30s", "10m", "2h", "1d", "500ms", "90s"] {
            assert_eq!(Timeout::parse(text).unwrap().to_string(), text);
        }
    }
}
