//! Errors found after parsing (a reference to a missing service, a cycle), reported at the
//! line of the key they concern.
//!
//! serde_yaml does not hand out positions, but it does attach one to an error raised while
//! a value is being visited. So the text is read a second time, walking down to the key and
//! failing there; the error then reads like every other spec error.

use crate::spec::{parse_yaml, SpecError};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// `message` about the first key of `paths` (each a list of mapping keys from the top;
/// empty for the whole document) that the YAML `text`, already parsed, has.
pub(crate) fn blame(text: &str, origin: &str, paths: &[Vec<String>], message: &str) -> SpecError {
    for path in paths {
        if let Err(err) = parse_yaml(text, origin, At { path, message }) {
            return err;
        }
    }
    SpecError::Invalid {
        origin: origin.to_string(),
        message: message.to_string(),
    }
}

/// Walks to the key at `path` inside the value being read.
struct At<'a> {
    path: &'a [String],
    message: &'a str,
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((name, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(self.message));
        };
        let fail = rest.is_empty().then_some(self.message);
        while let Some(found) = map.next_key_seed(Key { name, fail })? {
            if found {
                let message = self.message;
                map.next_value_seed(At {
                    path: rest,
                    message,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    /// An empty document.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        match self.path {
            [] => Err(E::custom(self.message)),
            _ => Ok(()),
        }
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
}

/// Whether a mapping key is `name`; with `fail`, that key is where the error is raised.
struct Key<'a> {
    name: &'a str,
    fail: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match self.fail {
            Some(message) if v == self.name => Err(E::custom(message)),
            _ => Ok(v == self.name),
        }
    }
}
