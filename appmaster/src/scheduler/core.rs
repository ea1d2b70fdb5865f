//! The scheduler's state and transitions (see the module docs for the policy).

use super::graph::TaskGraph;
use super::{FailureKind, Output, TaskId, WorkerId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

mod placement;

/// How a task's placement relates to where its input lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locality {
    /// No preference (not a scan, or a store without hosts).
    Any,
    DataLocal,
    RackLocal,
    OffSwitch,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub max_attempts: u32,
    /// How long a scan waits for a slot on one of its hosts before going elsewhere.
    pub locality_wait: Duration,
    /// Tasks sent to a worker beyond its slots, so it never idles between messages.
    pub prefetch_per_slot: u32,
    /// Bytes whose transfer costs about as much as one queued task's wait.
    pub queued_task_cost_bytes: u64,
    /// Host to rack, where known (YARN's topology).
    pub racks: HashMap<String, String>,
    /// The wait before a failed task's first retry; it doubles with each attempt.
    pub retry_backoff: Duration,
    /// The longest wait between retries.
    pub max_retry_backoff: Duration,
    /// While the first workers are still starting (see [`Scheduler::expect_workers`]),
    /// no worker takes another host's scan: a worker is coming for it. Containers can
    /// start seconds apart on a busy cluster, longer than `locality_wait`. This bounds
    /// how long that ramp-up is waited for (Spark waits as long for its executors).
    pub ramp_up_limit: Duration,
    /// The share of the expected workers that ends the ramp-up: on a busy cluster the
    /// last few may come late or not at all (Spark's `minRegisteredResourcesRatio` on
    /// YARN is the same 0.8).
    pub ramp_up_ratio: f64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_attempts: 4,
            locality_wait: Duration::from_millis(500),
            prefetch_per_slot: 2,
            queued_task_cost_bytes: 16 << 20,
            racks: HashMap::new(),
            retry_backoff: Duration::from_millis(250),
            max_retry_backoff: Duration::from_secs(8),
            ramp_up_limit: Duration::from_secs(30),
            ramp_up_ratio: 0.8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Some inputs are not available yet.
    Waiting,
    /// In some queue, not yet sent.
    Ready,
    Running(WorkerId),
    /// Failed; may be queued again from this moment on.
    Backoff(Instant),
    /// Result available on this worker.
    Done(WorkerId),
    /// Done, and its result was dropped (released or lost) because nothing needs it.
    Released,
}

struct Task {
    state: State,
    deps: Vec<TaskId>,
    /// The one dependency it reads, if it waits for more.
    reads: Option<TaskId>,
    dependents: Vec<TaskId>,
    hosts: Vec<String>,
    /// Inputs not available yet.
    missing: u32,
    /// Dependents that still need this task's result.
    pending: u32,
    attempts: u32,
    /// The worker reported that the current attempt began (it had a slot).
    began: bool,
    /// The worker reported that the current attempt gave its slot back and only
    /// stores its output now; cleared whenever the task stops running.
    storing: bool,
    /// Times the task could not fetch its inputs; bounded so a fault no one can be
    /// blamed for still ends the job.
    lost_inputs: u32,
    bytes: u64,
    ready_at: Instant,
}

/// Tasks per worker slot sent beyond its slots and prefetch while tasks there store
/// their output (an HDFS close often waits 0.5 s); bounded because each holds its
/// encoded output in the worker's memory until stored.
const STORING_PER_SLOT: u32 = 4;

/// Fetch failures one task may have before the job fails.
const MAX_LOST_INPUTS: u32 = 10;

struct Worker {
    host: String,
    slots: u32,
    running: u32,
    /// Of `running`, the tasks only storing their output: they hold no slot.
    storing: u32,
    queue: VecDeque<TaskId>,
    /// Results this worker holds that someone still needs.
    results: Vec<TaskId>,
    alive: bool,
    /// Since when it has had room and no work of its own host: it takes other hosts'
    /// scans only once this is `locality_wait` old, so a worker that runs out of local
    /// scans a moment before the others does not take theirs.
    wants_since: Option<Instant>,
}

pub struct Scheduler {
    cfg: SchedulerConfig,
    tasks: Vec<Task>,
    workers: HashMap<WorkerId, Worker>,
    /// Ready scans by preferred host.
    by_host: HashMap<String, VecDeque<TaskId>>,
    /// Ready tasks with no preference.
    anywhere: VecDeque<TaskId>,
    sinks_total: usize,
    sinks_done: usize,
    retries: u64,
    halted: bool,
    /// Tasks in [`State::Backoff`].
    delayed: Vec<TaskId>,
    /// When the last worker joined: scans wait for their host's worker from then on, so
    /// the first workers of a ramp-up do not take every other host's scans.
    last_join: Instant,
    /// Workers to wait for before other hosts' scans are taken, and until when at most.
    ramp_up: Option<(usize, Instant)>,
    /// The workers the job starts, when told ([`Scheduler::expect_workers`]).
    expected: Option<usize>,
    /// Workers that have joined, ever.
    joined: usize,
}

impl Scheduler {
    pub fn new(graph: TaskGraph, cfg: SchedulerConfig, now: Instant) -> Scheduler {
        let mut tasks: Vec<Task> = graph
            .tasks
            .into_iter()
            .map(|n| Task {
                state: State::Waiting,
                missing: n.deps.len() as u32,
                deps: n.deps,
                reads: n.reads,
                dependents: vec![],
                hosts: n.hosts,
                pending: 0,
                attempts: 0,
                began: false,
                storing: false,
                lost_inputs: 0,
                bytes: 0,
                ready_at: now,
            })
            .collect();
        for id in 0..tasks.len() {
            for d in tasks[id].deps.clone() {
                tasks[d as usize].dependents.push(id as TaskId);
                tasks[d as usize].pending += 1;
            }
        }
        let sinks_total = tasks.iter().filter(|t| t.dependents.is_empty()).count();
        let mut s = Scheduler {
            cfg,
            tasks,
            workers: HashMap::new(),
            by_host: HashMap::new(),
            anywhere: VecDeque::new(),
            sinks_total,
            sinks_done: 0,
            retries: 0,
            halted: false,
            delayed: vec![],
            last_join: now,
            ramp_up: None,
            expected: None,
            joined: 0,
        };
        for id in 0..s.tasks.len() as TaskId {
            if s.tasks[id as usize].missing == 0 {
                s.make_ready(id, false, now);
            }
        }
        s
    }

    /// Reports completion at once for an empty graph; otherwise a no-op.
    pub fn start(&mut self, out: &mut impl Output) {
        if self.sinks_total == 0 && !self.halted {
            out.finished();
        }
    }

    pub fn retries(&self) -> u64 {
        self.retries
    }

    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// The worker holding `task`'s result, if it is available.
    pub fn result_location(&self, task: TaskId) -> Option<WorkerId> {
        match self.tasks[task as usize].state {
            State::Done(w) => Some(w),
            _ => None,
        }
    }

    pub fn deps(&self, task: TaskId) -> &[TaskId] {
        &self.tasks[task as usize].deps
    }

    pub fn attempts(&self, task: TaskId) -> u32 {
        self.tasks[task as usize].attempts
    }

    pub fn add_worker(
        &mut self,
        id: WorkerId,
        host: &str,
        slots: u32,
        now: Instant,
        out: &mut impl Output,
    ) {
        self.last_join = self.last_join.max(now);
        self.joined += 1;
        self.workers.insert(
            id,
            Worker {
                host: host.to_string(),
                slots: slots.max(1),
                running: 0,
                storing: 0,
                queue: VecDeque::new(),
                results: vec![],
                alive: true,
                wants_since: None,
            },
        );
        self.fill(id, now, out);
    }

    /// The job starts `n` workers: until [`SchedulerConfig::ramp_up_ratio`] of them have
    /// joined (or [`SchedulerConfig::ramp_up_limit`] has passed), each takes only scans
    /// of its own host, work placed on it, and work with no host.
    pub fn expect_workers(&mut self, n: usize, now: Instant) {
        let enough = (n as f64 * self.cfg.ramp_up_ratio).ceil() as usize;
        self.ramp_up = Some((enough.clamp(1, n.max(1)), now + self.cfg.ramp_up_limit));
        self.expected = Some(n);
    }

    /// The hosts of `workers` alive, once every worker the job starts (`expected`) has
    /// joined (`None` before, or when the job did not say how many it starts): a scan
    /// whose host is not among them has no worker coming for it, so nobody need wait.
    fn staffed_hosts(
        workers: &HashMap<WorkerId, Worker>,
        expected: Option<usize>,
        joined: usize,
    ) -> Option<HashSet<&str>> {
        (joined >= expected?).then(|| {
            workers
                .values()
                .filter(|x| x.alive)
                .map(|x| x.host.as_str())
                .collect()
        })
    }

    fn ramping_up(&self, now: Instant) -> bool {
        self.ramp_up
            .is_some_and(|(enough, until)| self.joined < enough && now < until)
    }

    /// The worker began running `task` (it may have been queued there for a slot).
    pub fn task_started(&mut self, task: TaskId, worker: WorkerId) {
        let t = &mut self.tasks[task as usize];
        if t.state == State::Running(worker) {
            t.began = true;
        }
    }

    /// The worker's `task` gave its slot back and only stores its output now: the
    /// worker has room for more, within [`STORING_PER_SLOT`].
    pub fn task_storing(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        now: Instant,
        out: &mut impl Output,
    ) {
        let t = &mut self.tasks[task as usize];
        if t.state != State::Running(worker) || t.storing {
            return;
        }
        t.storing = true;
        self.worker_mut(worker).storing += 1;
        self.fill(worker, now, out);
    }

    /// The task left `Running(worker)` for good: the worker's counts drop it.
    fn stopped_running(&mut self, task: TaskId, worker: WorkerId) {
        let w = self.workers.get_mut(&worker).expect("known worker");
        w.running -= 1;
        if std::mem::take(&mut self.tasks[task as usize].storing) {
            w.storing -= 1;
        }
    }

    pub fn task_finished(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        bytes: u64,
        now: Instant,
        out: &mut impl Output,
    ) {
        if self.tasks[task as usize].state != State::Running(worker) {
            return; // a late report from an attempt we already gave up on
        }
        self.stopped_running(task, worker);
        let t = &mut self.tasks[task as usize];
        t.bytes = bytes;
        if t.dependents.is_empty() {
            t.state = State::Released;
            self.sinks_done += 1;
        } else {
            t.state = State::Done(worker);
            self.worker_mut(worker).results.push(task);
        }
        for d in self.tasks[task as usize].deps.clone() {
            let p = &mut self.tasks[d as usize].pending;
            *p = p.saturating_sub(1);
            if self.tasks[d as usize].pending == 0 {
                self.release(d, out);
            }
        }
        let dependents = self.tasks[task as usize].dependents.clone();
        let mut targets = vec![];
        for &c in dependents.iter().rev() {
            let child = &mut self.tasks[c as usize];
            child.missing = child.missing.saturating_sub(1);
            if child.state == State::Waiting && child.missing == 0 {
                if let Some(w) = self.make_ready(c, true, now) {
                    if w != worker && !targets.contains(&w) {
                        targets.push(w);
                    }
                }
            }
        }
        if self.sinks_done == self.sinks_total && !self.halted {
            self.halted = true;
            out.finished();
            return;
        }
        // Workers that just received queued work go first, or the idle finisher would
        // steal it from them.
        for w in targets {
            self.fill(w, now, out);
        }
        self.fill(worker, now, out);
    }

    pub fn task_failed(
        &mut self,
        task: TaskId,
        worker: WorkerId,
        kind: FailureKind,
        error: &str,
        now: Instant,
        out: &mut impl Output,
    ) {
        if self.tasks[task as usize].state != State::Running(worker) {
            return;
        }
        self.stopped_running(task, worker);
        match kind {
            FailureKind::Deterministic => {
                self.tasks[task as usize].state = State::Waiting;
                self.fail(task, error, out);
                return;
            }
            FailureKind::Retryable => {
                self.tasks[task as usize].state = State::Waiting;
                if !self.count_attempt(task, error, out) {
                    return;
                }
                self.retries += 1;
                self.back_off(task, now);
            }
            FailureKind::InputLost { .. } => {
                // Whether the producer is to blame is the driver's call (it removes the
                // worker it condemns); the task itself tries again, boundedly.
                let t = &mut self.tasks[task as usize];
                t.state = State::Waiting;
                t.lost_inputs += 1;
                if t.lost_inputs >= MAX_LOST_INPUTS {
                    let n = t.lost_inputs;
                    self.fail(
                        task,
                        &format!("{error} (could not fetch its inputs {n} times)"),
                        out,
                    );
                    return;
                }
                self.back_off(task, now);
            }
        }
        self.fill_all(now, out);
    }

    /// Holds a failed task back before its next attempt: the wait doubles with each
    /// failure, up to `max_retry_backoff`.
    fn back_off(&mut self, t: TaskId, now: Instant) {
        let task = &self.tasks[t as usize];
        let failures = (task.attempts + task.lost_inputs).saturating_sub(1).min(16);
        let wait = self
            .cfg
            .retry_backoff
            .saturating_mul(1 << failures)
            .min(self.cfg.max_retry_backoff);
        if wait.is_zero() {
            self.requeue(t, now);
            return;
        }
        self.tasks[t as usize].state = State::Backoff(now + wait);
        self.delayed.push(t);
    }

    /// A worker is gone: retry what it ran, recompute what it held that is still needed.
    pub fn remove_worker(&mut self, id: WorkerId, now: Instant, out: &mut impl Output) {
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        if !w.alive {
            return;
        }
        w.alive = false;
        let queued: Vec<TaskId> = w.queue.drain(..).collect();
        let held = std::mem::take(&mut w.results);
        let running: Vec<TaskId> = (0..self.tasks.len() as TaskId)
            .filter(|&t| self.tasks[t as usize].state == State::Running(id))
            .collect();
        for r in held {
            if self.tasks[r as usize].state != State::Done(id) {
                continue;
            }
            self.tasks[r as usize].state = State::Released;
            for c in self.tasks[r as usize].dependents.clone() {
                let child = &mut self.tasks[c as usize];
                match child.state {
                    State::Waiting => child.missing += 1,
                    State::Ready => {
                        child.state = State::Waiting;
                        child.missing = 1;
                    }
                    _ => {}
                }
            }
            if self.tasks[r as usize].pending > 0 {
                self.resurrect(r, now);
            }
        }
        for &t in &running {
            self.stopped_running(t, id);
            self.tasks[t as usize].state = State::Waiting;
        }
        for t in running {
            // A task still waiting for a slot there never ran: it goes again uncharged.
            if self.tasks[t as usize].began {
                let error = format!("worker {id} was lost while running task {t}");
                if !self.count_attempt(t, &error, out) {
                    return;
                }
                self.retries += 1;
            }
            self.requeue(t, now);
        }
        for t in queued {
            if self.tasks[t as usize].state == State::Ready {
                self.tasks[t as usize].state = State::Waiting;
                self.requeue(t, now);
            }
        }
        // Children of lost results may have been Ready elsewhere: recount them.
        for t in 0..self.tasks.len() as TaskId {
            if self.tasks[t as usize].state == State::Waiting {
                let missing = self.count_missing(t);
                self.tasks[t as usize].missing = missing;
                if missing == 0 {
                    self.make_ready(t, true, now);
                }
            }
        }
        self.fill_all(now, out);
    }

    /// Queues failed tasks whose backoff is over, and gives idle workers a chance to
    /// take scans whose locality wait has run out.
    pub fn tick(&mut self, now: Instant, out: &mut impl Output) {
        let tasks = &self.tasks;
        let (due, later): (Vec<TaskId>, Vec<TaskId>) =
            self.delayed
                .iter()
                .partition(|&&t| match tasks[t as usize].state {
                    State::Backoff(at) => at <= now,
                    _ => true,
                });
        self.delayed = later;
        for t in due {
            if matches!(self.tasks[t as usize].state, State::Backoff(_)) {
                self.tasks[t as usize].state = State::Waiting;
                self.requeue(t, now);
            }
        }
        self.fill_all(now, out);
    }

    /// When the next backed-off task may go, if any waits.
    pub fn next_retry_at(&self) -> Option<Instant> {
        self.delayed
            .iter()
            .filter_map(|&t| match self.tasks[t as usize].state {
                State::Backoff(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Checks what must hold between events; tests call it after every step. Returns the
    /// first thing that does not hold.
    pub fn check_invariants(&self) -> Result<(), String> {
        let queued = |t: TaskId| {
            self.anywhere.contains(&t)
                || self.by_host.values().any(|q| q.contains(&t))
                || self
                    .workers
                    .values()
                    .any(|w| w.alive && w.queue.contains(&t))
        };
        for (id, w) in &self.workers {
            let running = self
                .tasks
                .iter()
                .filter(|t| t.state == State::Running(*id))
                .count() as u32;
            if w.alive && w.running != running {
                return Err(format!(
                    "worker {id} counts {} running tasks but {running} are running there",
                    w.running
                ));
            }
            let storing = self
                .tasks
                .iter()
                .filter(|t| t.state == State::Running(*id) && t.storing)
                .count() as u32;
            if w.alive && w.storing != storing {
                return Err(format!(
                    "worker {id} counts {} tasks storing output but {storing} are",
                    w.storing
                ));
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            let i = i as TaskId;
            if t.storing && !matches!(t.state, State::Running(_)) {
                return Err(format!("task {i} is {:?} but marked storing", t.state));
            }
            match t.state {
                State::Running(w) | State::Done(w) => {
                    if !self.workers.get(&w).is_some_and(|x| x.alive) {
                        return Err(format!(
                            "task {i} is {:?} on a worker that is gone",
                            t.state
                        ));
                    }
                    if matches!(t.state, State::Done(_)) && !self.workers[&w].results.contains(&i) {
                        return Err(format!("worker {w} does not list task {i}'s result"));
                    }
                }
                State::Ready if !self.halted && !queued(i) => {
                    return Err(format!("task {i} is ready but in no queue"));
                }
                State::Waiting if !self.halted && self.count_missing(i) == 0 => {
                    return Err(format!("task {i} has every input but waits forever"));
                }
                State::Backoff(_) if !self.delayed.contains(&i) => {
                    return Err(format!("task {i} backs off but nothing will wake it"));
                }
                _ => {}
            }
            if !self.halted && t.state == State::Waiting {
                for &d in &t.deps {
                    let dep = &self.tasks[d as usize];
                    if dep.state == State::Released && dep.pending == 0 {
                        return Err(format!(
                            "task {i} waits for task {d}, whose result is gone and not redone"
                        ));
                    }
                }
            }
        }
        let sinks = self
            .tasks
            .iter()
            .filter(|t| t.dependents.is_empty() && t.state == State::Released)
            .count();
        if sinks != self.sinks_done {
            return Err(format!(
                "{} sinks counted done but {sinks} are",
                self.sinks_done
            ));
        }
        Ok(())
    }

    fn count_missing(&self, t: TaskId) -> u32 {
        self.tasks[t as usize]
            .deps
            .iter()
            .filter(|&&d| !matches!(self.tasks[d as usize].state, State::Done(_)))
            .count() as u32
    }

    /// Puts a task that must run again back in line (or waiting for its inputs).
    fn requeue(&mut self, t: TaskId, now: Instant) {
        let missing = self.count_missing(t);
        self.tasks[t as usize].missing = missing;
        if missing == 0 {
            self.make_ready(t, true, now);
        } else {
            for d in self.tasks[t as usize].deps.clone() {
                if self.tasks[d as usize].state == State::Released {
                    self.resurrect(d, now);
                }
            }
        }
    }

    /// A lost result is needed again: recompute it, and whatever of its inputs is gone.
    fn resurrect(&mut self, r: TaskId, now: Instant) {
        for d in self.tasks[r as usize].deps.clone() {
            self.tasks[d as usize].pending += 1;
            if self.tasks[d as usize].state == State::Released {
                self.resurrect(d, now);
            }
        }
        self.tasks[r as usize].state = State::Waiting;
        let missing = self.count_missing(r);
        self.tasks[r as usize].missing = missing;
        if missing == 0 {
            self.make_ready(r, true, now);
        }
    }

    fn count_attempt(&mut self, t: TaskId, error: &str, out: &mut impl Output) -> bool {
        let task = &mut self.tasks[t as usize];
        task.attempts += 1;
        if task.attempts >= self.cfg.max_attempts {
            let attempts = task.attempts;
            self.fail(t, &format!("{error} (failed {attempts} attempts)"), out);
            return false;
        }
        true
    }

    fn fail(&mut self, t: TaskId, error: &str, out: &mut impl Output) {
        if !self.halted {
            self.halted = true;
            out.failed(t, error);
        }
    }

    fn release(&mut self, d: TaskId, out: &mut impl Output) {
        if let State::Done(w) = self.tasks[d as usize].state {
            self.tasks[d as usize].state = State::Released;
            let worker = self.worker_mut(w);
            if let Some(p) = worker.results.iter().rposition(|&x| x == d) {
                worker.results.swap_remove(p);
            }
            if worker.alive {
                out.release(d, w);
            }
        }
    }

    fn worker_mut(&mut self, w: WorkerId) -> &mut Worker {
        self.workers.get_mut(&w).expect("known worker")
    }

    fn load(w: &Worker) -> u64 {
        ((w.running - w.storing) as u64 + w.queue.len() as u64) * 1000 / w.slots as u64
    }
}
