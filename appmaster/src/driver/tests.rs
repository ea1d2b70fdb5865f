//! The driver fed events through a fake launcher and fake workers (outbox channels): no
//! processes, no sockets, and time passed in by hand.

use super::state::Driver;
use super::*;
use crate::launcher::Placement;
use crate::scheduler::TaskGraph;
use crate::server::ServerEvent;
use spindle_job::wire::{FailureKind, RunTask, TaskId, TaskStats, ToMaster};
use std::collections::HashMap;

/// What the driver asked of its launcher.
#[derive(Default)]
struct Calls {
    launched: Vec<WorkerId>,
    killed: Vec<WorkerId>,
    preferred: Vec<Placement>,
}

#[derive(Default, Clone)]
struct FakeLauncher(Arc<std::sync::Mutex<Calls>>);

impl ContainerLauncher for FakeLauncher {
    fn launch(&mut self, worker: WorkerId) -> Result<(), String> {
        self.0.lock().unwrap().launched.push(worker);
        Ok(())
    }
    fn kill(&mut self, worker: WorkerId) {
        self.0.lock().unwrap().killed.push(worker);
    }
    fn prefer(&mut self, placement: Placement) {
        self.0.lock().unwrap().preferred.push(placement);
    }
    fn log_hint(&self, worker: WorkerId) -> String {
        format!("log-{worker}")
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn opts(workers: u32, max_attempts: u32) -> DriverOptions {
    DriverOptions {
        workers,
        max_restarts: 3,
        max_attempts,
        locality_wait: Duration::ZERO,
        racks: Default::default(),
        join_timeout: Duration::from_secs(60),
        heartbeat_timeout: TIMEOUT,
        committer: None,
        progress: None,
        cancel: None,
        logs: None,
        wire: Default::default(),
        tokens: None,
    }
}

/// A driver with its launcher and the workers that joined it.
struct Env {
    calls: Arc<std::sync::Mutex<Calls>>,
    d: Driver<'static>,
    outboxes: HashMap<WorkerId, mpsc::UnboundedReceiver<Vec<ToWorker>>>,
    now: Instant,
}

impl Env {
    fn new(graph: TaskGraph, phase_timeouts: Vec<Duration>, opts: DriverOptions) -> Env {
        let mut job = JobDef::noop("t", graph);
        job.phase_timeouts = phase_timeouts;
        Env::with_job(job, opts)
    }

    fn with_job(job: JobDef, opts: DriverOptions) -> Env {
        let fake = FakeLauncher::default();
        let calls = fake.0.clone();
        // The driver borrows its launcher for the whole test.
        let launcher: &'static mut FakeLauncher = Box::leak(Box::new(fake));
        let now = Instant::now();
        let mut d = Driver::new(job, opts, launcher, now);
        d.start(now);
        Env {
            calls,
            d,
            outboxes: HashMap::new(),
            now,
        }
    }

    fn launched(&self) -> Vec<WorkerId> {
        self.calls.lock().unwrap().launched.clone()
    }

    fn killed(&self) -> Vec<WorkerId> {
        self.calls.lock().unwrap().killed.clone()
    }

    fn join(&mut self, worker: WorkerId) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.outboxes.insert(worker, rx);
        let ev = ServerEvent::Joined {
            worker,
            host: "h".into(),
            data_addr: format!("127.0.0.1:{}", 9000 + worker),
            slots: 1,
            outbox: tx,
        };
        self.event(ev);
    }

    fn event(&mut self, ev: ServerEvent) {
        self.d.on_server(ev, self.now);
        self.d.dispatch(self.now);
        self.check();
    }

    fn say(&mut self, worker: WorkerId, msg: ToMaster) {
        self.event(ServerEvent::Message(worker, msg));
    }

    fn tick(&mut self, after: Duration) {
        self.now += after;
        self.d.on_tick(self.now);
        self.d.dispatch(self.now);
        self.check();
    }

    fn check(&self) {
        if let Err(e) = self.d.sched.check_invariants() {
            panic!("scheduler invariant broken: {e}");
        }
    }

    /// The tasks sent to `worker` since last asked.
    fn runs(&mut self, worker: WorkerId) -> Vec<RunTask> {
        let rx = self.outboxes.get_mut(&worker).expect("joined");
        let mut out = vec![];
        while let Ok(batch) = rx.try_recv() {
            for m in batch {
                if let ToWorker::Run(r) = m {
                    out.push(r);
                }
            }
        }
        out
    }

    fn start(&mut self, worker: WorkerId, run: &RunTask) {
        self.say(
            worker,
            ToMaster::Started {
                task: run.task,
                attempt: run.attempt,
            },
        );
    }

    fn done(&mut self, worker: WorkerId, run: &RunTask) {
        self.done_with(worker, run, 10);
    }

    /// Finishes `run` with a result of `bytes`: big results pull their consumers.
    fn done_with(&mut self, worker: WorkerId, run: &RunTask, bytes: u64) {
        self.start(worker, run);
        let stats = TaskStats {
            result_bytes: bytes,
            ..Default::default()
        };
        self.say(
            worker,
            ToMaster::Done {
                task: run.task,
                attempt: run.attempt,
                stats,
            },
        );
    }

    fn fail(&mut self, worker: WorkerId, run: &RunTask, kind: FailureKind, error: &str) {
        self.say(
            worker,
            ToMaster::Failed {
                task: run.task,
                attempt: run.attempt,
                kind,
                error: error.into(),
            },
        );
    }

    /// Every joined worker but `except` heartbeats now.
    fn beat_all_but(&mut self, except: WorkerId) {
        let ids: Vec<WorkerId> = self.outboxes.keys().copied().collect();
        for w in ids.into_iter().filter(|&w| w != except) {
            self.say(w, ToMaster::Heartbeat);
        }
    }

    /// Joins workers `1..=n`; each takes three of the producers (its slot and its
    /// prefetch); then all finish, with results of `bytes(worker)`.
    fn producers_on(&mut self, n: WorkerId, bytes: impl Fn(WorkerId) -> u64) {
        let mut sent = vec![];
        for w in 1..=n {
            self.join(w);
            let runs = self.runs(w);
            assert_eq!(runs.len(), 3, "worker {w}");
            sent.push((w, runs));
        }
        for (w, runs) in sent {
            for r in runs {
                self.done_with(w, &r, bytes(w));
            }
        }
    }

    /// The one task sent anywhere since last asked, and where.
    fn the_run(&mut self) -> (WorkerId, RunTask) {
        let ids: Vec<WorkerId> = self.outboxes.keys().copied().collect();
        let mut all: Vec<(WorkerId, RunTask)> = vec![];
        for w in ids {
            all.extend(self.runs(w).into_iter().map(|r| (w, r)));
        }
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn tasks(runs: &[RunTask]) -> Vec<TaskId> {
        let mut t: Vec<TaskId> = runs.iter().map(|r| r.task).collect();
        t.sort();
        t
    }
}

#[test]
fn fresh_tokens_reach_every_live_worker_and_each_that_joins_later() {
    let mut env = Env::new(TaskGraph::independent(4), vec![], opts(2, 4));
    env.join(1);
    env.d.on_tokens(b"creds-1".to_vec());
    env.join(2);
    env.d.on_tokens(b"creds-2".to_vec());
    let mut tokens = |worker: WorkerId| {
        let rx = env.outboxes.get_mut(&worker).expect("joined");
        let mut got = vec![];
        while let Ok(batch) = rx.try_recv() {
            for m in batch {
                if let ToWorker::Tokens(t) = m {
                    got.push(String::from_utf8(t).unwrap());
                }
            }
        }
        got
    };
    assert_eq!(tokens(1), ["creds-1", "creds-2"]);
    assert_eq!(
        tokens(2),
        ["creds-1", "creds-2"],
        "the latest on joining, then the next"
    );
}

#[test]
fn a_task_storing_its_output_makes_room_and_a_stale_report_does_not() {
    let mut env = Env::new(TaskGraph::independent(6), vec![], opts(1, 4));
    env.join(1);
    let first = env.runs(1);
    assert_eq!(
        Env::tasks(&first),
        vec![0, 1, 2],
        "one slot and its prefetch"
    );
    let storing = |run: &RunTask, attempt| ToMaster::Storing {
        task: run.task,
        attempt,
    };
    env.say(1, storing(&first[0], first[0].attempt + 1));
    assert!(
        env.runs(1).is_empty(),
        "a report on another attempt is stale"
    );
    env.say(1, storing(&first[0], first[0].attempt));
    assert_eq!(
        Env::tasks(&env.runs(1)),
        vec![3],
        "sent in the storing task's place"
    );
    // Its end frees no slot (it held none); another task's end does.
    env.done(1, &first[0]);
    assert!(env.runs(1).is_empty());
    env.done(1, &first[1]);
    assert_eq!(Env::tasks(&env.runs(1)), vec![4]);
    assert_eq!(env.d.outcome(), None);
}

#[test]
fn a_silent_worker_is_killed_replaced_and_its_tasks_go_elsewhere() {
    let mut env = Env::new(TaskGraph::independent(2), vec![], opts(2, 4));
    env.join(1);
    let on1 = env.runs(1);
    assert_eq!(on1.len(), 2, "one slot and its prefetch");
    env.start(1, &on1[0]);
    env.join(2);
    // worker 1 freezes: worker 2 keeps beating, 1 says nothing
    for _ in 0..29 {
        env.tick(Duration::from_secs(1));
        env.beat_all_but(1);
    }
    assert!(env.killed().is_empty(), "not before the timeout");
    env.tick(Duration::from_millis(1500));
    assert_eq!(env.killed(), vec![1]);
    assert_eq!(env.launched(), vec![1, 2, 3], "a replacement");
    assert_eq!(Env::tasks(&env.runs(2)), vec![0, 1]);
    assert_eq!(env.d.workers_lost, 1);
    assert_eq!(
        env.d.sched.attempts(on1[0].task),
        1,
        "the begun task was charged"
    );
    assert_eq!(
        env.d.sched.attempts(on1[1].task),
        0,
        "the queued one was not"
    );
    assert_eq!(env.d.outcome(), None);
}

#[test]
fn a_task_its_worker_cannot_stop_costs_the_worker_after_the_limit() {
    let limit = Duration::from_secs(10);
    let mut env = Env::new(TaskGraph::independent(1), vec![limit], opts(1, 4));
    env.join(1);
    let run = env.runs(1).remove(0);
    env.start(1, &run);
    // the worker heartbeats but never reports the task's end
    for _ in 0..(10 + 30) {
        env.tick(Duration::from_secs(1));
        env.say(1, ToMaster::Heartbeat);
    }
    assert!(env.killed().is_empty(), "limit plus grace not yet over");
    env.tick(Duration::from_secs(1));
    assert_eq!(env.killed(), vec![1]);
    // the task ran, so that attempt counts; a replacement runs it again
    env.join(2);
    let again = env.runs(2);
    assert_eq!(Env::tasks(&again), vec![run.task]);
    assert_eq!(again[0].attempt, 2);
}

#[test]
fn a_panic_fails_the_job_naming_the_task_and_the_message() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(1, 1));
    env.join(1);
    let run = env.runs(1).remove(0);
    env.start(1, &run);
    env.fail(
        1,
        &run,
        FailureKind::Retryable,
        "panicked: index out of bounds",
    );
    assert_eq!(env.d.outcome(), Some(Status::Failed));
    let err = env.d.error.clone().unwrap();
    assert!(
        err.starts_with("task 0") && err.contains("panicked: index out of bounds"),
        "{err}"
    );
}

#[test]
fn a_timed_out_task_is_retried_then_fails_naming_the_timeout() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(1, 2));
    env.join(1);
    for attempt in 1..=2 {
        // a retry waits out its backoff first
        env.say(1, ToMaster::Heartbeat);
        env.tick(Duration::from_secs(10));
        let run = env.runs(1).remove(0);
        assert_eq!(run.attempt, attempt);
        env.start(1, &run);
        env.fail(
            1,
            &run,
            FailureKind::Retryable,
            "ran past its task_timeout of 2s",
        );
    }
    assert_eq!(env.d.outcome(), Some(Status::Failed));
    let err = env.d.error.clone().unwrap();
    assert!(
        err.contains("task_timeout of 2s") && err.contains("2 attempts"),
        "{err}"
    );
}

#[test]
fn a_failed_fetch_alone_does_not_condemn_a_heartbeating_producer() {
    // nine producers, three per worker; r1 reads those of workers 1 and 2, r2 those of
    // workers 1 and 3; worker 1's results are small, so r1 runs on 2 and r2 on 3
    let mut g = TaskGraph::default();
    let p: Vec<TaskId> = (0..9).map(|_| g.add(vec![], vec![])).collect();
    let r1 = g.add(p[0..6].to_vec(), vec![]);
    let r2 = g.add([&p[0..3], &p[6..9]].concat(), vec![]);
    let mut env = Env::new(g, vec![], opts(3, 4));
    env.producers_on(3, |w| if w == 1 { 10 } else { 1 << 30 });
    let on2 = env.runs(2);
    let on3 = env.runs(3);
    assert_eq!(Env::tasks(&on2), vec![r1]);
    assert_eq!(Env::tasks(&on3), vec![r2]);
    env.start(2, &on2[0]);
    env.fail(
        2,
        &on2[0],
        FailureKind::InputLost { worker: 1 },
        "connection reset",
    );
    assert!(
        env.killed().is_empty(),
        "one report, and the producer heartbeats"
    );
    // a second, different consumer fails against it too: now it is condemned
    env.start(3, &on3[0]);
    env.fail(
        3,
        &on3[0],
        FailureKind::InputLost { worker: 1 },
        "timed out",
    );
    assert_eq!(env.killed(), vec![1]);
    assert_eq!(env.launched(), vec![1, 2, 3, 4]);
    assert_eq!(env.d.outcome(), None, "worker 1's results are recomputed");
}

#[test]
fn a_silent_producer_is_condemned_on_the_first_failed_fetch() {
    let mut g = TaskGraph::default();
    let p: Vec<TaskId> = (0..6).map(|_| g.add(vec![], vec![])).collect();
    g.add(p.clone(), vec![]);
    let mut env = Env::new(g, vec![], opts(2, 4));
    env.producers_on(2, |w| if w == 1 { 10 } else { 1 << 30 });
    let (w, run) = env.the_run();
    assert_eq!(w, 2, "the consumer goes where most of its input is");
    // worker 1 has been silent for five seconds; heartbeats are a second apart
    env.now += Duration::from_secs(5);
    env.say(2, ToMaster::Heartbeat);
    env.start(2, &run);
    env.fail(2, &run, FailureKind::InputLost { worker: 1 }, "refused");
    assert_eq!(env.killed(), vec![1]);
}

#[test]
fn a_consumer_that_fails_against_three_healthy_producers_is_replaced() {
    // twelve producers on four workers; the consumer reads them all and runs on worker
    // 4, which holds most of the bytes
    let mut g = TaskGraph::default();
    let p: Vec<TaskId> = (0..12).map(|_| g.add(vec![], vec![])).collect();
    g.add(p, vec![]);
    let mut env = Env::new(g, vec![], opts(4, 4));
    env.producers_on(4, |w| if w == 4 { 1 << 30 } else { 10 });
    for producer in 1..=3 {
        let (w, run) = env.the_run();
        assert_eq!(w, 4, "attempt {}", run.attempt);
        env.start(4, &run);
        env.fail(
            4,
            &run,
            FailureKind::InputLost { worker: producer },
            "reset",
        );
        if producer < 3 {
            assert!(env.killed().is_empty(), "after {producer} reports");
            env.tick(Duration::from_secs(5)); // the retry's backoff
            env.beat_all_but(0);
        }
    }
    assert_eq!(env.killed(), vec![4], "the consumer, not its healthy peers");
}

#[test]
fn a_report_about_a_task_that_does_not_exist_costs_the_worker() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(1, 4));
    env.join(1);
    env.say(
        1,
        ToMaster::Done {
            task: 4_000_000_000,
            attempt: 1,
            stats: TaskStats::default(),
        },
    );
    assert_eq!(env.killed(), vec![1]);
    assert_eq!(env.launched(), vec![1, 2]);
}

#[test]
fn stale_reports_from_an_earlier_attempt_are_ignored() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(2, 4));
    env.join(1);
    let first = env.runs(1).remove(0);
    env.start(1, &first);
    env.event(ServerEvent::Left(1, "connection to worker closed".into()));
    env.join(3); // the replacement
    let second = env.runs(3).remove(0);
    assert_eq!(second.attempt, 2);
    // the lost worker's late report changes nothing
    env.done(1, &first);
    assert_eq!(env.d.outcome(), None);
    env.done(3, &second);
    assert_eq!(env.d.outcome(), Some(Status::Succeeded));
}

#[test]
fn a_worker_that_never_joins_is_given_up_after_the_join_timeout() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(1, 4));
    env.tick(Duration::from_secs(59));
    assert!(env.killed().is_empty());
    env.tick(Duration::from_secs(2));
    assert_eq!(env.killed(), vec![1]);
    assert_eq!(env.launched(), vec![1, 2]);
}

#[test]
fn losing_every_worker_past_the_restarts_ends_the_job() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(1, 4));
    for w in 1..=4 {
        env.event(ServerEvent::Left(w, "connection to worker closed".into()));
        env.d.on_launcher(
            LauncherEvent::Exited {
                worker: w,
                success: false,
                diagnostics: "exited with status 1".into(),
            },
            env.now,
        );
    }
    assert_eq!(env.d.outcome(), Some(Status::Failed));
    let err = env.d.error.clone().unwrap();
    assert!(err.contains("all workers lost after 3 restarts"), "{err}");
}

#[tokio::test]
async fn shutdown_asks_live_workers_to_stop_and_kills_the_rest() {
    let mut env = Env::new(TaskGraph::independent(1), vec![], opts(2, 4));
    env.join(1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    // worker 1 exits when asked; worker 2 never joined
    tx.send(LauncherEvent::Exited {
        worker: 1,
        success: true,
        diagnostics: String::new(),
    })
    .unwrap();
    tx.send(LauncherEvent::Exited {
        worker: 2,
        success: false,
        diagnostics: "killed".into(),
    })
    .unwrap();
    let started = Instant::now();
    shutdown(&mut env.d, &mut rx).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let mut asked: Vec<ToWorker> = vec![];
    while let Ok(batch) = env.outboxes.get_mut(&1).unwrap().try_recv() {
        asked.extend(batch);
    }
    assert!(
        asked.iter().any(|m| matches!(m, ToWorker::Shutdown)),
        "{asked:?}"
    );
    assert_eq!(env.killed(), vec![2]);
}

/// A split of `hdfs://nn/f` (300 bytes).
fn split(start: u64, end: u64, hosts: &[&str]) -> spindle_job::wire::Split {
    spindle_job::wire::Split {
        url: "hdfs://nn/f".into(),
        start,
        end,
        file_size: 300,
        row_groups: None,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        more: Vec::new(),
    }
}

#[test]
fn the_scan_time_runs_from_the_first_scan_sent_to_the_last_one_done() {
    use crate::job::TaskKind;
    let mut g = TaskGraph::default();
    g.add(vec![], vec![]);
    g.add(vec![], vec![]);
    let mut job = JobDef::noop("t", g);
    job.tasks = vec![
        (0, TaskKind::Scan(split(0, 100, &[]))),
        (0, TaskKind::Scan(split(100, 300, &[]))),
    ];
    let mut env = Env::with_job(job, opts(1, 1));
    env.now += Duration::from_millis(200);
    env.join(1);
    let sent = env.now;
    let runs = env.runs(1);
    assert_eq!(runs.len(), 2);
    // Short scans: the worker says they are done, never that they began.
    for (run, after) in runs.iter().zip([300, 500]) {
        env.now = sent + Duration::from_millis(after);
        let done = ToMaster::Done {
            task: run.task,
            attempt: run.attempt,
            stats: TaskStats::default(),
        };
        env.say(1, done);
    }
    assert_eq!(
        env.d.scan_span,
        Some((sent, sent + Duration::from_millis(500)))
    );
}

#[test]
fn the_launcher_hears_where_the_input_bytes_are_before_the_first_launch() {
    use crate::job::TaskKind;
    let job = || {
        let mut g = TaskGraph::default();
        for hosts in [vec!["a".to_string()], vec!["a".into(), "b".into()], vec![]] {
            g.add(vec![], hosts);
        }
        let mut job = JobDef::noop("t", g);
        job.tasks = vec![
            (0, TaskKind::Scan(split(0, 100, &["a"]))),
            (0, TaskKind::Scan(split(100, 250, &["a", "b"]))),
            (0, TaskKind::Scan(split(250, 300, &[]))),
        ];
        job
    };
    let preferred = |locality_wait: Duration| {
        let fake = FakeLauncher::default();
        let calls = fake.0.clone();
        let launcher: &'static mut FakeLauncher = Box::leak(Box::new(fake));
        let now = Instant::now();
        let mut o = opts(2, 1);
        o.locality_wait = locality_wait;
        let mut d = Driver::new(job(), o, launcher, now);
        d.start(now);
        let calls = calls.lock().unwrap();
        assert_eq!(calls.launched, [1, 2], "worker ids count from 1");
        calls.preferred.clone()
    };
    assert_eq!(
        preferred(Duration::from_millis(500)),
        [Placement::Near(vec![
            ("a".to_string(), 250),
            ("b".to_string(), 150)
        ])]
    );
    // A job that waives locality asks anywhere.
    assert_eq!(preferred(Duration::ZERO), [Placement::Anywhere]);
}
