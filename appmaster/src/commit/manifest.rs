//! The manifest a commit publishes as `<output>/_SUCCESS`: which files the commit wrote,
//! so that a later `overwrite` removes exactly those and refuses anything else.

use serde::{Deserialize, Serialize};

/// The format version written into every manifest.
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Marks the file as spindle's (Hadoop's `_SUCCESS` is empty).
    pub spindle_manifest: u32,
    /// The attempt that committed (names its staging directory).
    pub commit: String,
    pub job: String,
    /// Data files relative to the output, in partition order.
    pub files: Vec<String>,
    /// Object stores only: the previous commit's files, removed after this manifest is in
    /// place; a recovery finishes removing them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
}

impl Manifest {
    pub fn new(commit: &str, job: &str, files: Vec<String>, replaces: Vec<String>) -> Manifest {
        Manifest {
            spindle_manifest: VERSION,
            commit: commit.to_string(),
            job: job.to_string(),
            files,
            replaces,
        }
    }

    /// Reads a `_SUCCESS` file; `None` when it is not a spindle manifest (Hadoop's empty
    /// marker, or anything else).
    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        serde_json::from_slice::<Manifest>(bytes)
            .ok()
            .filter(|m| m.spindle_manifest >= 1)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("manifest serializes");
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_markers() {
        let m = Manifest::new("a1", "job", vec!["part-00000.csv".into()], vec![]);
        assert_eq!(Manifest::parse(&m.to_bytes()), Some(m));
        assert_eq!(Manifest::parse(b""), None);
        assert_eq!(Manifest::parse(b"{\"files\": []}"), None);
        assert_eq!(Manifest::parse(b"not json"), None);
    }
}
