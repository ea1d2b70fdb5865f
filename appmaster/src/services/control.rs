//! How people steer a running application: commands are keys put under
//! [`COMMANDS`] in the application's key-value store (so they travel over its
//! authenticated endpoint and survive nothing they should not), and the application
//! master answers under [`REPLIES`]. Each container's state is published under
//! [`CONTAINERS`], where `spindle container ls` reads it.

use super::state::Outcome;
use serde::{Deserialize, Serialize};

/// `spindle.containers/<instance>`: an [`super::state::Instance`] as JSON.
pub const CONTAINERS: &str = "spindle.containers/";
/// `spindle.commands/<id>`: a [`Command`] as JSON.
pub const COMMANDS: &str = "spindle.commands/";
/// `spindle.replies/<id>`: the [`Reply`] to the command of the same id.
pub const REPLIES: &str = "spindle.replies/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Run `count` instances, or `delta` more (or fewer).
    Scale {
        service: String,
        count: Option<u32>,
        delta: Option<i64>,
    },
    /// Stop one instance for good.
    Kill { container: String },
    /// End the application.
    Shutdown {
        outcome: Outcome,
        diagnostics: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub message: String,
}

/// The instance count a scale command asks for, given the current one.
pub fn scaled(current: u32, count: Option<u32>, delta: Option<i64>) -> Result<u32, String> {
    const MAX: i64 = 10_000;
    let n = match (count, delta) {
        (Some(n), None) => i64::from(n),
        (None, Some(d)) => i64::from(current) + d,
        _ => return Err("scale takes a count or a delta".into()),
    };
    if !(0..=MAX).contains(&n) {
        let asked = match delta {
            Some(d) => format!("{current} instances {d:+} would be {n}"),
            None => format!("{n} instances"),
        };
        return Err(format!("{asked}: out of range (0 to {MAX})"));
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_counts_and_deltas_stay_in_bounds() {
        assert_eq!(scaled(2, Some(5), None), Ok(5));
        assert_eq!(scaled(2, None, Some(3)), Ok(5));
        assert_eq!(scaled(2, None, Some(-2)), Ok(0));
        assert_eq!(
            scaled(2, None, Some(-3)),
            Err("2 instances -3 would be -1: out of range (0 to 10000)".into())
        );
        assert!(scaled(2, Some(10_001), None).is_err());
        assert!(scaled(2, None, None).is_err());
    }

    #[test]
    fn commands_read_as_people_would_write_them() {
        let c: Command =
            serde_json::from_str(r#"{"op":"scale","service":"web","delta":-1}"#).unwrap();
        assert_eq!(
            c,
            Command::Scale {
                service: "web".into(),
                count: None,
                delta: Some(-1)
            }
        );
    }
}
