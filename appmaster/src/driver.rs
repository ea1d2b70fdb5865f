//! The driver: one event loop that feeds the scheduler core with what workers, the
//! launcher and the clock report, and carries out its decisions. Local mode and YARN
//! differ only in the [`ContainerLauncher`] behind it.

use crate::commit::Committer;
use crate::job::{JobDef, TaskKind};
use crate::launcher::{ContainerLauncher, LauncherEvent};
use crate::progress::{LocalityCounts, Progress, Status, Summary};
use crate::scheduler::{Locality, Recorded, Scheduler, SchedulerConfig};
use crate::server::{serve, ServerEvent};
use spindle_io::codec::{decode_schema, encode_schema};
use spindle_io::schema::unify;
use spindle_job::wire::{
    FailureKind, FetchSource, RunTask, TaskId, TaskInput, ToMaster, ToWorker, WorkerId,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

pub struct DriverOptions {
    pub workers: u32,
    pub max_restarts: u32,
    pub max_attempts: u32,
    pub locality_wait: Duration,
    /// How long a launched worker may take to connect.
    pub join_timeout: Duration,
    pub committer: Option<Committer>,
    pub progress: Option<watch::Sender<Progress>>,
    /// Flips to true when the user asks to stop (Ctrl-C, `spindle kill`).
    pub cancel: Option<watch::Receiver<bool>>,
    pub logs: Option<String>,
}

enum Slot {
    Launching(Instant),
    Live {
        outbox: mpsc::UnboundedSender<Vec<ToWorker>>,
        data_addr: String,
    },
    Gone,
}

struct Driver<'a> {
    job: JobDef,
    opts: DriverOptions,
    launcher: &'a mut dyn ContainerLauncher,
    sched: Scheduler,
    rec: Recorded,
    slots: HashMap<WorkerId, Slot>,
    outboxes: HashMap<WorkerId, Vec<ToWorker>>,
    next_worker: WorkerId,
    restarts: u32,
    attempts: Vec<u32>,
    counted: Vec<bool>,
    output_files: BTreeMap<TaskId, String>,
    /// What each undeclared command's task printed (Arrow IPC schemas), and their unions
    /// per spec stage, made when the first task that reads them is sent.
    schemas: HashMap<TaskId, Vec<u8>>,
    unified: HashMap<usize, Vec<u8>>,
    progress: Progress,
    locality: LocalityCounts,
    task_attempts: u64,
    workers_lost: u32,
    error: Option<String>,
}

/// Runs a job to its end with workers from `launcher`, which must start workers that
/// connect to `listener` with `secret`.
pub async fn run_job(
    job: JobDef,
    listener: TcpListener,
    secret: &str,
    launcher: &mut dyn ContainerLauncher,
    mut launcher_events: mpsc::UnboundedReceiver<LauncherEvent>,
    opts: DriverOptions,
) -> Summary {
    let started = Instant::now();
    let (server_tx, mut server_rx) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(listener, Arc::from(secret), server_tx));
    let cfg = SchedulerConfig {
        max_attempts: opts.max_attempts,
        locality_wait: opts.locality_wait,
        ..Default::default()
    };
    let mut job = job;
    let n = job.graph.len();
    let sched = Scheduler::new(std::mem::take(&mut job.graph), cfg, started);
    let mut d = Driver {
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
        output_files: BTreeMap::new(),
        schemas: HashMap::new(),
        unified: HashMap::new(),
        progress: Progress {
            tasks_total: n as u64,
            ..Default::default()
        },
        locality: LocalityCounts::default(),
        task_attempts: 0,
        workers_lost: 0,
        error: None,
        opts,
    };
    d.sched.start(&mut d.rec);
    for _ in 0..d.opts.workers {
        d.launch();
    }
    let mut cancel = d.opts.cancel.take();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut status = None;
    while status.is_none() {
        if d.rec.finished {
            status = Some(Status::Succeeded);
            break;
        }
        if let Some((task, e)) = d.rec.failed.take() {
            d.error = Some(format!("{}: {e}", d.describe(task)));
            status = Some(Status::Failed);
            break;
        }
        if d.error.is_some() {
            status = Some(Status::Failed);
            break;
        }
        tokio::select! {
            ev = server_rx.recv() => {
                if let Some(ev) = ev { d.on_server(ev); }
                while let Ok(ev) = server_rx.try_recv() { d.on_server(ev); }
            }
            Some(ev) = launcher_events.recv() => d.on_launcher(ev),
            _ = tick.tick() => d.on_tick(),
            _ = cancelled(&mut cancel) => {
                d.error = Some("killed by user".into());
                status = Some(Status::Killed);
            }
        }
        d.dispatch();
    }
    let status = status.unwrap_or(Status::Failed);
    // Stop every worker before touching the output, so no straggling attempt can write
    // into the staging directory after it has been committed or removed.
    d.shutdown(&mut launcher_events).await;
    let mut bytes_written = 0;
    let mut status = status;
    if let Some(c) = &d.opts.committer {
        if status == Status::Succeeded {
            let files: Vec<(u32, String)> = d
                .output_files
                .iter()
                .map(|(t, f)| (*t, f.clone()))
                .collect();
            match c.commit(&files).await {
                Ok(b) => bytes_written = b,
                Err(e) => {
                    d.error = Some(format!("commit failed: {e}"));
                    status = Status::Failed;
                    let _ = c.abort().await;
                }
            }
        } else if let Err(e) = c.abort().await {
            warn!(error = %e, "could not remove staged output");
        }
    }
    server.abort();
    d.publish();
    Summary {
        job: d.job.name.clone(),
        status,
        error: d.error.clone(),
        input_files: d.job.input_files as u64,
        rows_in: d.progress.rows_in,
        bytes_read: d.progress.bytes_read,
        rows_out: d.progress.rows_out,
        bytes_written,
        spilled_bytes: d.progress.spilled_bytes,
        output: d.opts.committer.as_ref().map(|c| c.output().url()),
        output_files: if status == Status::Succeeded {
            d.output_files.len() as u64
        } else {
            0
        },
        tasks: n as u64,
        task_attempts: d.task_attempts,
        retries: d.sched.retries(),
        workers: d.next_worker - 1,
        workers_lost: d.workers_lost,
        locality: d.locality.clone(),
        wall_time_s: started.elapsed().as_secs_f64(),
        logs: d.opts.logs.clone(),
    }
}

async fn cancelled(rx: &mut Option<watch::Receiver<bool>>) {
    match rx {
        Some(rx) => loop {
            if *rx.borrow() {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        },
        None => std::future::pending().await,
    }
}

impl Driver<'_> {
    fn launch(&mut self) {
        let id = self.next_worker;
        self.next_worker += 1;
        match self.launcher.launch(id) {
            Ok(()) => {
                self.slots.insert(id, Slot::Launching(Instant::now()));
            }
            Err(e) => {
                self.slots.insert(id, Slot::Gone);
                self.error = Some(format!("cannot start worker {id}: {e}"));
            }
        }
    }

    fn on_server(&mut self, ev: ServerEvent) {
        let now = Instant::now();
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
                self.slots.insert(worker, Slot::Live { outbox, data_addr });
                self.progress.workers += 1;
                self.sched
                    .add_worker(worker, &host, slots, now, &mut self.rec);
            }
            ServerEvent::Message(worker, msg) => self.on_message(worker, msg, now),
            ServerEvent::Left(worker) => self.worker_lost(worker, "connection to worker closed"),
        }
    }

    fn on_message(&mut self, worker: WorkerId, msg: ToMaster, now: Instant) {
        match msg {
            ToMaster::Hello { .. } => {}
            ToMaster::Done {
                task,
                attempt,
                stats,
            } => {
                if self.attempts[task as usize] != attempt {
                    return;
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
                if self.attempts[task as usize] != attempt {
                    return;
                }
                warn!(task, worker, ?kind, %error, "task failed");
                if let FailureKind::InputLost { worker: lost } = kind {
                    self.worker_lost(lost, &format!("could not serve data: {error}"));
                }
                self.sched
                    .task_failed(task, worker, kind, &error, now, &mut self.rec);
            }
        }
    }

    fn on_launcher(&mut self, ev: LauncherEvent) {
        let (worker, success, diagnostics) = match ev {
            LauncherEvent::Exited {
                worker,
                success,
                diagnostics,
            } => (worker, success, diagnostics),
            LauncherEvent::Fatal(why) => {
                self.error.get_or_insert(why);
                return;
            }
        };
        let why = if success {
            "exited early".to_string()
        } else {
            diagnostics
        };
        self.worker_lost(worker, &why);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let timeout = self.opts.join_timeout;
        let late: Vec<WorkerId> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Launching(t) if now.duration_since(*t) > timeout))
            .map(|(w, _)| *w)
            .collect();
        for w in late {
            self.worker_lost(w, &format!("did not connect within {timeout:?}"));
        }
        self.sched.tick(now, &mut self.rec);
        self.publish();
    }

    fn worker_lost(&mut self, worker: WorkerId, why: &str) {
        match self.slots.get(&worker) {
            None | Some(Slot::Gone) => return,
            Some(Slot::Live { .. }) => self.progress.workers -= 1,
            Some(Slot::Launching(_)) => {}
        }
        warn!(worker, %why, log = %self.launcher.log_hint(worker), "worker lost");
        self.slots.insert(worker, Slot::Gone);
        self.outboxes.remove(&worker);
        self.launcher.kill(worker);
        self.workers_lost += 1;
        self.sched
            .remove_worker(worker, Instant::now(), &mut self.rec);
        if self.rec.finished || self.rec.failed.is_some() {
            return;
        }
        if self.restarts < self.opts.max_restarts {
            self.restarts += 1;
            self.launch();
        } else if !self.slots.values().any(|s| !matches!(s, Slot::Gone)) {
            self.error = Some(format!(
                "all workers lost after {} restarts; last: worker {worker} {why} (log: {})",
                self.restarts,
                self.launcher.log_hint(worker)
            ));
        }
    }

    /// Turns the scheduler's decisions into messages and sends them, one batch per worker.
    fn dispatch(&mut self) {
        for (task, worker, locality) in std::mem::take(&mut self.rec.assigned) {
            self.attempts[task as usize] += 1;
            self.task_attempts += 1;
            match locality {
                Locality::DataLocal => self.locality.data_local += 1,
                Locality::RackLocal => self.locality.rack_local += 1,
                Locality::OffSwitch => self.locality.off_switch += 1,
                Locality::Any => {
                    if matches!(self.job.tasks[task as usize].1, TaskKind::Scan(_)) {
                        self.locality.no_preference += 1;
                    }
                }
            }
            let (phase, kind) = self.job.tasks[task as usize].clone();
            let input = match kind {
                TaskKind::Scan(split) => TaskInput::Split(split),
                TaskKind::Noop => TaskInput::Noop,
                TaskKind::Unify { from, stage } => match self.unified_schema(task, stage) {
                    Ok(schema_ipc) => {
                        let holder = self.sched.result_location(from).unwrap_or(0);
                        TaskInput::Unify {
                            source: FetchSource {
                                task: from,
                                bucket: 0,
                                worker: holder,
                                addr: self.data_addr(holder),
                            },
                            schema_ipc,
                        }
                    }
                    Err(e) => {
                        self.error
                            .get_or_insert(format!("stage {stage} (command): {e}"));
                        continue;
                    }
                },
                TaskKind::Fetch { bucket } => TaskInput::Fetch(
                    self.sched
                        .deps(task)
                        .iter()
                        .map(|&dep| {
                            let holder = self.sched.result_location(dep).unwrap_or(0);
                            FetchSource {
                                task: dep,
                                bucket,
                                worker: holder,
                                addr: self.data_addr(holder),
                            }
                        })
                        .collect(),
                ),
            };
            let run = RunTask {
                task,
                attempt: self.attempts[task as usize],
                phase,
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

    fn describe(&self, task: TaskId) -> String {
        match &self.job.tasks[task as usize] {
            (_, TaskKind::Scan(s)) => match s.row_groups {
                Some((a, b)) => format!("task {task} (scan of {} row groups {a}..{b})", s.url),
                None => format!(
                    "task {task} (scan of {} bytes {}..{})",
                    s.url, s.start, s.end
                ),
            },
            (phase, TaskKind::Fetch { bucket }) => {
                format!("task {task} (phase {phase}, partition {bucket})")
            }
            (phase, TaskKind::Unify { from, .. }) => {
                format!("task {task} (phase {phase}, the partition of task {from})")
            }
            (_, TaskKind::Noop) => format!("task {task}"),
        }
    }

    fn publish(&mut self) {
        self.progress.retries = self.sched.retries();
        if let Some(p) = &self.opts.progress {
            let _ = p.send(self.progress.clone());
        }
    }

    /// Asks every live worker to stop, waits briefly, then kills the rest.
    async fn shutdown(&mut self, events: &mut mpsc::UnboundedReceiver<LauncherEvent>) {
        let mut waiting = 0;
        for (w, slot) in &self.slots {
            match slot {
                Slot::Live { outbox, .. } => {
                    let _ = outbox.send(vec![ToWorker::Shutdown]);
                    waiting += 1;
                }
                Slot::Launching(_) => {
                    self.launcher.kill(*w);
                    waiting += 1;
                }
                Slot::Gone => {}
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        while waiting > 0 {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(LauncherEvent::Exited { worker, .. }) => {
                        if !matches!(self.slots.insert(worker, Slot::Gone), Some(Slot::Gone) | None) {
                            waiting -= 1;
                        }
                    }
                    Some(LauncherEvent::Fatal(_)) => {}
                    None => break,
                },
                _ = &mut deadline => break,
            }
        }
        let left: Vec<WorkerId> = self
            .slots
            .iter()
            .filter(|(_, s)| !matches!(s, Slot::Gone))
            .map(|(w, _)| *w)
            .collect();
        for w in left {
            self.launcher.kill(w);
        }
    }
}
