//! The driver's state and its reactions to events: what workers, the launcher and the
//! clock report goes in (each with the time it happened), decisions come out as messages
//! in workers' outboxes and launches or kills on the launcher. No sockets and no clock of
//! its own, so tests feed it events as they feed the scheduler.

use super::blame::{Blame, Verdict};
use super::DriverOptions;
use crate::job::{JobDef, TaskKind};
use crate::launcher::{ContainerLauncher, LauncherEvent, Placement};
use crate::progress::{LocalityCounts, Progress, Status};
use crate::scheduler::{Locality, Recorded, Scheduler, SchedulerConfig};
use crate::server::ServerEvent;
use spindle_io::codec::{decode_schema, encode_schema};
use spindle_io::schema::unify;
use spindle_job::wire::{
    FailureKind, FetchSource, RunTask, TaskId, TaskInput, ToMaster, ToWorker, WorkerId,
};
use spindle_job::Timeout;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// How long a task may run when the job sets no limit (runtime benchmarks).
const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(3600);

pub(crate) enum Slot {
    Launching(Instant),
    Live {
        outbox: mpsc::UnboundedSender<Vec<ToWorker>>,
        data_addr: String,
        last_heard: Instant,
    },
    Gone,
}

pub(crate) struct Driver<'a> {
    pub job: JobDef,
    pub opts: DriverOptions,
    pub launcher: &'a mut dyn ContainerLauncher,
    pub sched: Scheduler,
    pub rec: Recorded,
    pub slots: HashMap<WorkerId, Slot>,
    outboxes: HashMap<WorkerId, Vec<ToWorker>>,
    pub next_worker: WorkerId,
    restarts: u32,
    attempts: Vec<u32>,
    counted: Vec<bool>,
    /// Tasks a worker reported begun, and when: the master's own check on task_timeout,
    /// for a worker that cannot stop a task (code that never yields).
    begun: HashMap<TaskId, (WorkerId, Instant)>,
    blame: Blame,
    pub output_files: BTreeMap<TaskId, String>,
    /// What each undeclared command's task printed (Arrow IPC schemas), and their unions
    /// per spec stage, made when the first task that reads them is sent.
    schemas: HashMap<TaskId, Vec<u8>>,
    unified: HashMap<usize, Vec<u8>>,
    pub progress: Progress,
    pub locality: LocalityCounts,
    /// The latest delegation tokens the master obtained (a Credentials file), for
    /// workers that join after they were handed out.
    fresh_tokens: Option<Vec<u8>>,
    /// When the first scan was sent to a worker and the last one finished. (A worker
    /// says a task began only if it runs past a moment, so short scans never do.)
    pub scan_span: Option<(Instant, Instant)>,
    pub task_attempts: u64,
    pub workers_lost: u32,
    pub error: Option<String>,
}

impl<'a> Driver<'a> {
    pub fn new(
        mut job: JobDef,
        opts: DriverOptions,
        launcher: &'a mut dyn ContainerLauncher,
        now: Instant,
    ) -> Driver<'a> {
        let cfg = SchedulerConfig {
            max_attempts: opts.max_attempts,
            locality_wait: opts.locality_wait,
            racks: opts.racks.clone(),
            ..Default::default()
        };
        let n = job.graph.len();
        let sched = Scheduler::new(std::mem::take(&mut job.graph), cfg, now);
        Driver {
            job,
            launcher,
            sched,
            rec: Recorded::default(),
            slots: HashMap::new(),
            outboxes: HashMap::new(),
            next_worker: 1,
            restarts: 0,
            attempts: vec![0; n],
            counted: vec![false; n],
            begun: HashMap::new(),
            blame: Blame::default(),
            output_files: BTreeMap::new(),
            schemas: HashMap::new(),
            unified: HashMap::new(),
            fresh_tokens: None,
            progress: Progress {
                tasks_total: n as u64,
                ..Default::default()
            },
            locality: LocalityCounts::default(),
            scan_span: None,
            task_attempts: 0,
            workers_lost: 0,
            error: None,
            opts,
        }
    }

    /// Launches the first workers.
    pub fn start(&mut self, now: Instant) {
        self.sched.expect_workers(self.opts.workers as usize, now);
        self.sched.start(&mut self.rec);
        let placement = if self.opts.locality_wait.is_zero() {
            Placement::Anywhere
        } else {
            Placement::Near(self.input_bytes_by_host())
        };
        self.launcher.prefer(placement);
        for _ in 0..self.opts.workers {
            self.launch(now);
        }
    }

    /// The bytes of the scans' splits each host holds, most first.
    fn input_bytes_by_host(&self) -> Vec<(String, u64)> {
        let mut bytes: HashMap<&str, u64> = HashMap::new();
        for (_, kind) in &self.job.tasks {
            if let TaskKind::Scan(split) = kind {
                for host in &split.hosts {
                    *bytes.entry(host.as_str()).or_default() += split.len();
                }
            }
        }
        let mut out: Vec<(String, u64)> =
            bytes.into_iter().map(|(h, b)| (h.to_string(), b)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// How the job ended, once it has.
    pub fn outcome(&mut self) -> Option<Status> {
        if self.rec.finished {
            return Some(Status::Succeeded);
        }
        if let Some((task, e)) = self.rec.failed.take() {
            self.error = Some(format!("{}: {e}", self.describe(task)));
            return Some(Status::Failed);
        }
        self.error.is_some().then_some(Status::Failed)
    }

    fn launch(&mut self, now: Instant) {
        let id = self.next_worker;
        self.next_worker += 1;
        match self.launcher.launch(id) {
            Ok(()) => {
                self.slots.insert(id, Slot::Launching(now));
            }
            Err(e) => {
                self.slots.insert(id, Slot::Gone);
                self.error = Some(format!("cannot start worker {id}: {e}"));
            }
        }
    }

    /// Fresh delegation tokens: every live worker gets them now, and every worker that
    /// joins later.
    pub fn on_tokens(&mut self, credentials: Vec<u8>) {
        for slot in self.slots.values() {
            if let Slot::Live { outbox, .. } = slot {
                let _ = outbox.send(vec![ToWorker::Tokens(credentials.clone())]);
            }
        }
        self.fresh_tokens = Some(credentials);
    }

    pub fn on_server(&mut self, ev: ServerEvent, now: Instant) {
        match ev {
            ServerEvent::Joined {
                worker,
                host,
                data_addr,
                slots,
                outbox,
            } => {
                if !matches!(self.slots.get(&worker), Some(Slot::Launching(_))) {
                    warn!(worker, "unexpected worker joined; ignoring it");
                    let _ = outbox.send(vec![ToWorker::Shutdown]);
                    return;
                }
                info!(worker, %host, %data_addr, slots, "worker joined");
                if let Some(setup) = &self.job.setup {
                    let _ = outbox.send(vec![ToWorker::Setup(Box::new(setup.clone()))]);
                }
                if let Some(tokens) = &self.fresh_tokens {
                    let _ = outbox.send(vec![ToWorker::Tokens(tokens.clone())]);
                }
                self.slots.insert(
                    worker,
                    Slot::Live {
                        outbox,
                        data_addr,
                        last_heard: now,
                    },
                );
                self.progress.workers += 1;
                self.sched
                    .add_worker(worker, &host, slots, now, &mut self.rec);
            }
            ServerEvent::Message(worker, msg) => {
                let Some(Slot::Live { last_heard, .. }) = self.slots.get_mut(&worker) else {
                    return; // a worker already given up on
                };
                *last_heard = now;
                self.on_message(worker, msg, now);
            }
            ServerEvent::Left(worker, why) => self.worker_lost(worker, &why, now),
        }
    }

    /// The attempt number a report names is current, or the report is stale (`false`);
    /// a task that does not exist is a protocol error that costs the worker.
    fn current(&mut self, worker: WorkerId, task: TaskId, attempt: u32, now: Instant) -> bool {
        match self.attempts.get(task as usize) {
            Some(&a) => a == attempt,
            None => {
                let why = format!("reported on task {task}, which does not exist");
                self.worker_lost(worker, &why, now);
                false
            }
        }
    }

    fn on_message(&mut self, worker: WorkerId, msg: ToMaster, now: Instant) {
        match msg {
            ToMaster::Hello { .. } | ToMaster::Heartbeat => {}
            ToMaster::Started { task, attempt } => {
                if self.current(worker, task, attempt, now) {
                    self.sched.task_started(task, worker);
                    self.begun.insert(task, (worker, now));
                }
            }
            ToMaster::Storing { task, attempt } => {
                if self.current(worker, task, attempt, now) {
                    self.sched.task_storing(task, worker, now, &mut self.rec);
                }
            }
            ToMaster::Done {
                task,
                attempt,
                stats,
            } => {
                if !self.current(worker, task, attempt, now) {
                    return;
                }
                self.begun.remove(&task);
                if self.is_scan(task) {
                    let span = self.scan_span.get_or_insert((now, now));
                    span.1 = span.1.max(now);
                }
                self.sched
                    .task_finished(task, worker, stats.result_bytes, now, &mut self.rec);
                self.progress.spilled_bytes += stats.spilled_bytes;
                if !self.counted[task as usize] {
                    self.counted[task as usize] = true;
                    self.progress.tasks_done += 1;
                    self.progress.rows_in += stats.rows_in;
                    self.progress.bytes_read += stats.bytes_read;
                }
                if let Some(file) = stats.output_file {
                    self.progress.rows_out += stats.rows_out;
                    self.output_files.insert(task, file);
                }
                if let Some(schema) = stats.schema_ipc {
                    // A recomputed task reports again; unions are made afresh.
                    self.schemas.insert(task, schema);
                    self.unified.clear();
                }
            }
            ToMaster::Failed {
                task,
                attempt,
                kind,
                error,
            } => {
                if !self.current(worker, task, attempt, now) {
                    return;
                }
                self.begun.remove(&task);
                warn!(task, worker, ?kind, %error, "task failed");
                let FailureKind::InputLost { worker: producer } = kind else {
                    self.sched
                        .task_failed(task, worker, kind, &error, now, &mut self.rec);
                    return;
                };
                let verdict = match self.slots.get(&producer) {
                    Some(Slot::Live { last_heard, .. }) => {
                        let heartbeats = now.saturating_duration_since(*last_heard)
                            < 3 * crate::cmdline::heartbeat_interval(self.opts.heartbeat_timeout);
                        self.blame.report(worker, producer, heartbeats)
                    }
                    _ => Verdict::Undecided, // already gone; its results are being redone
                };
                if verdict == Verdict::Producer {
                    let why = format!("peers could not fetch from it: {error}");
                    self.worker_lost(producer, &why, now);
                }
                self.sched
                    .task_failed(task, worker, kind, &error, now, &mut self.rec);
                if verdict == Verdict::Consumer {
                    let why = format!("could not fetch from several healthy peers; last: {error}");
                    self.worker_lost(worker, &why, now);
                }
            }
        }
    }

    pub fn on_launcher(&mut self, ev: LauncherEvent, now: Instant) {
        match ev {
            LauncherEvent::Exited {
                worker,
                success,
                diagnostics,
            } => {
                let why = if success {
                    "exited early".to_string()
                } else {
                    diagnostics
                };
                self.worker_lost(worker, &why, now);
            }
            LauncherEvent::Fatal(why) => {
                self.error.get_or_insert(why);
            }
            LauncherEvent::Started { .. } => {}
        }
    }

    /// Gives up on workers that did not join, went silent, or cannot stop a task; lets
    /// the scheduler act on time passing.
    pub fn on_tick(&mut self, now: Instant) {
        let join = self.opts.join_timeout;
        let silence = self.opts.heartbeat_timeout;
        let mut lost: Vec<(WorkerId, String)> = vec![];
        for (w, slot) in &self.slots {
            match slot {
                Slot::Launching(t) if now.saturating_duration_since(*t) > join => {
                    lost.push((*w, format!("did not connect within {}", Timeout(join))));
                }
                Slot::Live { last_heard, .. }
                    if now.saturating_duration_since(*last_heard) > silence =>
                {
                    lost.push((
                        *w,
                        format!(
                            "sent no heartbeat for {} (workers.heartbeat_timeout)",
                            Timeout(silence)
                        ),
                    ));
                }
                _ => {}
            }
        }
        for (task, (w, since)) in &self.begun {
            let limit = self.task_limit(*task);
            // The worker stops a task at its limit; past that and a heartbeat timeout
            // more, the worker cannot, and only killing it frees the slot.
            if now.saturating_duration_since(*since) > limit + silence {
                lost.push((
                    *w,
                    format!(
                        "could not stop task {task} past its task_timeout of {}",
                        Timeout(limit)
                    ),
                ));
            }
        }
        lost.sort();
        lost.dedup_by_key(|(w, _)| *w);
        for (w, why) in lost {
            self.worker_lost(w, &why, now);
        }
        self.sched.tick(now, &mut self.rec);
    }

    fn task_limit(&self, task: TaskId) -> Duration {
        let phase = self.job.tasks[task as usize].0 as usize;
        self.job
            .phase_timeouts
            .get(phase)
            .copied()
            .unwrap_or(DEFAULT_TASK_TIMEOUT)
    }

    pub fn worker_lost(&mut self, worker: WorkerId, why: &str, now: Instant) {
        match self.slots.get(&worker) {
            None | Some(Slot::Gone) => return,
            Some(Slot::Live { .. }) => self.progress.workers -= 1,
            Some(Slot::Launching(_)) => {}
        }
        warn!(worker, %why, log = %self.launcher.log_hint(worker), "worker lost");
        self.slots.insert(worker, Slot::Gone);
        self.outboxes.remove(&worker);
        self.begun.retain(|_, (w, _)| *w != worker);
        self.blame.forget(worker);
        self.launcher.kill(worker);
        self.workers_lost += 1;
        self.sched.remove_worker(worker, now, &mut self.rec);
        if self.rec.finished || self.rec.failed.is_some() {
            return;
        }
        if self.restarts < self.opts.max_restarts {
            self.restarts += 1;
            self.launch(now);
        } else if !self.slots.values().any(|s| !matches!(s, Slot::Gone)) {
            self.error = Some(format!(
                "all workers lost after {} restarts; last: worker {worker} {why} (log: {})",
                self.restarts,
                self.launcher.log_hint(worker)
            ));
        }
    }

    /// Turns the scheduler's decisions into messages and sends them, one batch per worker.
    pub fn dispatch(&mut self, now: Instant) {
        for (task, worker, locality) in std::mem::take(&mut self.rec.assigned) {
            if self.is_scan(task) {
                self.scan_span.get_or_insert((now, now));
            }
            self.attempts[task as usize] += 1;
            self.task_attempts += 1;
            self.count_locality(task, locality);
            let Some(input) = self.input_of(task) else {
                continue;
            };
            let run = RunTask {
                task,
                attempt: self.attempts[task as usize],
                phase: self.job.tasks[task as usize].0,
                input,
            };
            self.outboxes
                .entry(worker)
                .or_default()
                .push(ToWorker::Run(run));
        }
        for (task, worker) in std::mem::take(&mut self.rec.released) {
            self.outboxes
                .entry(worker)
                .or_default()
                .push(ToWorker::Release { task });
        }
        for (worker, msgs) in self.outboxes.drain() {
            if let Some(Slot::Live { outbox, .. }) = self.slots.get(&worker) {
                let _ = outbox.send(msgs);
            }
        }
    }

    fn is_scan(&self, task: TaskId) -> bool {
        matches!(self.job.tasks[task as usize].1, TaskKind::Scan(_))
    }

    fn count_locality(&mut self, task: TaskId, locality: Locality) {
        let scanned = match &self.job.tasks[task as usize].1 {
            TaskKind::Scan(split) => Some(split.len()),
            _ => None,
        };
        let l = &mut self.locality;
        let (count, bytes) = match locality {
            Locality::DataLocal => (&mut l.data_local, &mut l.data_local_bytes),
            Locality::RackLocal => (&mut l.rack_local, &mut l.rack_local_bytes),
            Locality::OffSwitch => (&mut l.off_switch, &mut l.off_switch_bytes),
            Locality::Any => match scanned {
                Some(_) => (&mut l.no_preference, &mut l.no_preference_bytes),
                None => return,
            },
        };
        *count += 1;
        *bytes += scanned.unwrap_or(0);
    }

    /// What `task` reads, with where each input lives now; `None` (and the job's error
    /// set) when it cannot be made.
    fn input_of(&mut self, task: TaskId) -> Option<TaskInput> {
        let source = |d: &Self, dep: TaskId, bucket: u32| {
            let holder = d.sched.result_location(dep).unwrap_or(0);
            FetchSource {
                task: dep,
                bucket,
                worker: holder,
                addr: d.data_addr(holder),
            }
        };
        Some(match self.job.tasks[task as usize].1.clone() {
            TaskKind::Scan(split) => TaskInput::Split(split),
            TaskKind::Noop => TaskInput::Noop,
            TaskKind::Unify { from, stage } => match self.unified_schema(task, stage) {
                Ok(schema_ipc) => TaskInput::Unify {
                    source: source(self, from, 0),
                    schema_ipc,
                },
                Err(e) => {
                    self.error
                        .get_or_insert(format!("stage {stage} (command): {e}"));
                    return None;
                }
            },
            TaskKind::Fetch { bucket } => TaskInput::Fetch(
                self.sched
                    .deps(task)
                    .iter()
                    .map(|&dep| source(self, dep, bucket))
                    .collect(),
            ),
        })
    }

    /// The union of the schemas that `task`'s dependencies, the partitions of the
    /// undeclared command of spec stage `stage`, printed.
    fn unified_schema(&mut self, task: TaskId, stage: usize) -> Result<Vec<u8>, String> {
        if let Some(s) = self.unified.get(&stage) {
            return Ok(s.clone());
        }
        let mut parts = vec![];
        for &dep in self.sched.deps(task) {
            let ipc = self
                .schemas
                .get(&dep)
                .ok_or_else(|| format!("task {dep} reported no output schema"))?;
            parts.push(decode_schema(ipc).map_err(|e| format!("task {dep}'s schema: {e}"))?);
        }
        let union = Arc::new(unify(&parts).map_err(|c| c.to_string())?);
        let ipc = encode_schema(&union).map_err(|e| e.to_string())?;
        self.unified.insert(stage, ipc.clone());
        Ok(ipc)
    }

    fn data_addr(&self, worker: WorkerId) -> String {
        match self.slots.get(&worker) {
            Some(Slot::Live { data_addr, .. }) => data_addr.clone(),
            _ => String::new(),
        }
    }

    pub fn describe(&self, task: TaskId) -> String {
        match &self.job.tasks[task as usize] {
            (_, TaskKind::Scan(s)) => {
                let file = self.job.input_file_name(&s.url);
                match s.row_groups {
                    Some((a, b)) => format!("task {task} (scan of {file} row groups {a}..{b})"),
                    None if !s.more.is_empty() => format!(
                        "task {task} (scan of {file} and {} more small files)",
                        s.more.len()
                    ),
                    None => format!("task {task} (scan of {file} bytes {}..{})", s.start, s.end),
                }
            }
            (phase, TaskKind::Fetch { bucket }) => {
                format!("task {task} (phase {phase}, partition {bucket})")
            }
            (phase, TaskKind::Unify { from, .. }) => {
                format!("task {task} (phase {phase}, the partition of task {from})")
            }
            (_, TaskKind::Noop) => format!("task {task}"),
        }
    }

    pub fn publish(&mut self) {
        self.progress.retries = self.sched.retries();
        if let Some(p) = &self.opts.progress {
            let _ = p.send(self.progress.clone());
        }
    }
}
