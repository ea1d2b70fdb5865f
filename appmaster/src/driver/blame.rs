//! Who is to blame when a task cannot fetch its inputs. A failed fetch alone does not
//! condemn the producer: its heartbeat must have stopped, or consumers must keep
//! failing against it. And a consumer that fails against several producers no one else
//! has trouble with is the one replaced (its network, not theirs).

use spindle_job::wire::WorkerId;
use std::collections::{BTreeSet, HashMap};

/// Distinct consumers whose reports condemn a producer that still heartbeats.
const CONSUMERS_TO_CONDEMN: usize = 2;
/// Reports from any consumers, repeats included, that condemn it.
const REPORTS_TO_CONDEMN: u32 = 3;
/// Distinct producers a consumer fails against before it is the one replaced.
const PRODUCERS_TO_REPLACE: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The producer is lost: recompute what it held.
    Producer,
    /// The consumer is broken: replace it.
    Consumer,
    /// Not yet known: try the task again.
    Undecided,
}

#[derive(Default)]
pub(crate) struct Blame {
    /// Per producer: the consumers that failed to fetch from it, and how often.
    against: HashMap<WorkerId, (BTreeSet<WorkerId>, u32)>,
    /// Per consumer: the producers it failed to fetch from.
    failed_from: HashMap<WorkerId, BTreeSet<WorkerId>>,
}

impl Blame {
    /// `consumer` could not fetch from `producer`, which `heartbeats` or not.
    pub fn report(&mut self, consumer: WorkerId, producer: WorkerId, heartbeats: bool) -> Verdict {
        if !heartbeats {
            return Verdict::Producer;
        }
        let (consumers, reports) = self.against.entry(producer).or_default();
        consumers.insert(consumer);
        *reports += 1;
        if consumers.len() >= CONSUMERS_TO_CONDEMN || *reports >= REPORTS_TO_CONDEMN {
            return Verdict::Producer;
        }
        let producers = self.failed_from.entry(consumer).or_default();
        producers.insert(producer);
        if producers.len() >= PRODUCERS_TO_REPLACE {
            return Verdict::Consumer;
        }
        Verdict::Undecided
    }

    /// `worker` is gone: its reports and the reports against it no longer count.
    pub fn forget(&mut self, worker: WorkerId) {
        self.against.remove(&worker);
        self.failed_from.remove(&worker);
        for (consumers, _) in self.against.values_mut() {
            consumers.remove(&worker);
        }
        for producers in self.failed_from.values_mut() {
            producers.remove(&worker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_producer_is_condemned_at_once() {
        assert_eq!(Blame::default().report(1, 2, false), Verdict::Producer);
    }

    #[test]
    fn a_heartbeating_producer_needs_two_consumers_or_three_reports() {
        let mut b = Blame::default();
        assert_eq!(b.report(1, 9, true), Verdict::Undecided);
        assert_eq!(b.report(2, 9, true), Verdict::Producer);
        let mut b = Blame::default();
        assert_eq!(b.report(1, 9, true), Verdict::Undecided);
        assert_eq!(b.report(1, 9, true), Verdict::Undecided);
        assert_eq!(b.report(1, 9, true), Verdict::Producer);
    }

    #[test]
    fn a_consumer_failing_against_three_healthy_producers_is_replaced() {
        let mut b = Blame::default();
        assert_eq!(b.report(1, 7, true), Verdict::Undecided);
        assert_eq!(b.report(1, 8, true), Verdict::Undecided);
        assert_eq!(b.report(1, 9, true), Verdict::Consumer);
    }

    #[test]
    fn reports_about_a_replaced_worker_are_forgotten() {
        let mut b = Blame::default();
        b.report(1, 9, true);
        b.forget(1);
        assert_eq!(b.report(2, 9, true), Verdict::Undecided);
    }
}
