//! Retrying calls to servers that restart or fail over (a ResourceManager, a NameNode):
//! exponential backoff with jitter, within a total deadline, only for errors that a
//! later attempt can cure.

use crate::Error;
use rand::Rng;
use std::time::Duration;

/// How long and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before the first retry; it doubles with each one.
    pub first: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// No retry starts later than this after the first attempt.
    pub deadline: Duration,
}

impl RetryPolicy {
    /// Hadoop's own clients wait up to 15 minutes for a ResourceManager
    /// (`yarn.resourcemanager.connect.max-wait.ms`).
    pub const RESOURCE_MANAGER: RetryPolicy = RetryPolicy {
        first: Duration::from_millis(200),
        max: Duration::from_secs(10),
        deadline: Duration::from_secs(900),
    };

    /// No retries at all.
    pub const NONE: RetryPolicy = RetryPolicy {
        first: Duration::ZERO,
        max: Duration::ZERO,
        deadline: Duration::ZERO,
    };

    /// The wait before retry `n` (from 0): `first` doubled `n` times, at most `max`, then
    /// spread by a random factor in [0.5, 1.5) so that many clients do not retry in step.
    pub fn wait(&self, n: u32) -> Duration {
        let base = self.first.saturating_mul(1 << n.min(20)).min(self.max);
        base.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }
}

impl Error {
    /// Whether the same call may succeed later: the server was unreachable, dropped the
    /// connection, did not answer in time, or is a standby or not ready yet.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { .. } | Error::ConnectionClosed { .. } | Error::Timeout { .. } => true,
            Error::Remote { exception, .. } => matches!(
                exception.simple_class(),
                "StandbyException" | "RetriableException" | "SafeModeException"
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_jitter() {
        let p = RetryPolicy {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        };
        for (n, base) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            for _ in 0..20 {
                let w = p.wait(n).as_millis() as u64;
                assert!(w >= base / 2 && w < base * 3 / 2, "retry {n}: {w} ms");
            }
        }
    }

    #[test]
    fn only_errors_a_later_attempt_can_cure_are_transient() {
        let io = Error::Io {
            addr: "rm:8032".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert!(io.is_transient());
        assert!(!Error::Config("no address".into()).is_transient());
    }
}
