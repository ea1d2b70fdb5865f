//! The scheduler core: a pure state machine over a task graph, in the manner of Dask's
//! distributed scheduler. It is fed events (workers joining and leaving, tasks finishing
//! or failing, time passing) and emits decisions through [`Output`]. No sockets, no
//! clocks, no YARN: the caller passes `now` and carries the commands out.
//!
//! Decisions, each in constant time per task (amortized; linear in a task's own edges
//! and in the number of workers, both bounded):
//! - priority by graph order: ready tasks queue in the order they were created, and a
//!   task made ready by a finishing dependency goes to the front (finish what is started);
//! - placement: a scan waits in the queue of its preferred hosts (delay scheduling: other
//!   hosts take it only after `locality_wait`); a task with inputs goes to the worker
//!   that holds most of its input bytes unless that worker is busier than moving the
//!   bytes would cost;
//! - work stealing: an idle worker takes from the back of the busiest worker's queue;
//! - results are released the moment no dependent needs them;
//! - a lost worker's running tasks are retried and exactly the lost results that are
//!   still needed are recomputed, recursively through released inputs.

mod core;
mod graph;

pub use self::core::{Locality, Scheduler, SchedulerConfig};
pub use graph::{TaskGraph, TaskNode};
pub use spindle_job::wire::{FailureKind, TaskId, WorkerId};

/// Where the scheduler's decisions go.
pub trait Output {
    /// Run `task` on `worker`; its inputs are at [`Scheduler::result_location`].
    fn assign(&mut self, task: TaskId, worker: WorkerId, locality: Locality);
    /// `worker` may drop `task`'s result.
    fn release(&mut self, task: TaskId, worker: WorkerId);
    /// Every final task has finished.
    fn finished(&mut self);
    /// The job cannot finish; `error` says why.
    fn failed(&mut self, task: TaskId, error: &str);
}

/// An output that records decisions, for tests and for the runtime to drain.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recorded {
    pub assigned: Vec<(TaskId, WorkerId, Locality)>,
    pub released: Vec<(TaskId, WorkerId)>,
    pub finished: bool,
    pub failed: Option<(TaskId, String)>,
}

impl Output for Recorded {
    fn assign(&mut self, task: TaskId, worker: WorkerId, locality: Locality) {
        self.assigned.push((task, worker, locality));
    }
    fn release(&mut self, task: TaskId, worker: WorkerId) {
        self.released.push((task, worker));
    }
    fn finished(&mut self) {
        self.finished = true;
    }
    fn failed(&mut self, task: TaskId, error: &str) {
        self.failed = Some((task, error.to_string()));
    }
}

/// An output that ignores everything, for measuring the core alone.
pub struct NullOutput;

impl Output for NullOutput {
    fn assign(&mut self, _: TaskId, _: WorkerId, _: Locality) {}
    fn release(&mut self, _: TaskId, _: WorkerId) {}
    fn finished(&mut self) {}
    fn failed(&mut self, _: TaskId, _: &str) {}
}

#[cfg(test)]
mod tests;
