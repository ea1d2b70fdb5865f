//! The scheduler fed events, with decisions asserted on a recording output.

use super::*;
use std::time::{Duration, Instant};

struct Env {
    s: Scheduler,
    out: Recorded,
    now: Instant,
}

impl Env {
    /// Retries go again at once, unless a test sets a backoff.
    fn new(graph: TaskGraph) -> Env {
        let cfg = SchedulerConfig {
            retry_backoff: Duration::ZERO,
            ..Default::default()
        };
        Env::with(graph, cfg)
    }
    fn with(graph: TaskGraph, cfg: SchedulerConfig) -> Env {
        let now = Instant::now();
        let mut env = Env {
            s: Scheduler::new(graph, cfg, now),
            out: Recorded::default(),
            now,
        };
        env.s.start(&mut env.out);
        env.check();
        env
    }
    /// Every step of every test ends here: what must hold between events holds.
    fn check(&self) {
        if let Err(e) = self.s.check_invariants() {
            panic!("scheduler invariant broken: {e}");
        }
    }
    fn worker(&mut self, id: WorkerId, host: &str, slots: u32) {
        self.s.add_worker(id, host, slots, self.now, &mut self.out);
        self.check();
    }
    fn fail(&mut self, t: TaskId, w: WorkerId, kind: FailureKind, error: &str) {
        self.s
            .task_failed(t, w, kind, error, self.now, &mut self.out);
        self.check();
    }
    fn lose(&mut self, w: WorkerId) {
        self.s.remove_worker(w, self.now, &mut self.out);
        self.check();
    }
    fn tick(&mut self) {
        self.s.tick(self.now, &mut self.out);
        self.check();
    }
    fn take(&mut self) -> Vec<(TaskId, WorkerId, Locality)> {
        std::mem::take(&mut self.out.assigned)
    }
    fn finish(&mut self, t: TaskId, w: WorkerId, bytes: u64) {
        self.s.task_started(t, w);
        self.s.task_finished(t, w, bytes, self.now, &mut self.out);
        self.check();
    }
    /// Finishes everything assigned until the job ends; returns every assignment.
    fn drain(&mut self) -> Vec<(TaskId, WorkerId, Locality)> {
        let mut all = vec![];
        loop {
            let batch = self.take();
            if batch.is_empty() {
                return all;
            }
            for &(t, w, _) in &batch {
                self.finish(t, w, 100);
            }
            all.extend(batch);
        }
    }
}

fn scans(hosts: &[&str]) -> TaskGraph {
    let mut g = TaskGraph::default();
    for h in hosts {
        g.add(vec![], vec![h.to_string()]);
    }
    g
}

#[test]
fn runs_independent_tasks_in_graph_order_within_prefetch() {
    let mut env = Env::new(TaskGraph::independent(10));
    env.worker(1, "h", 1);
    let first = env.take();
    // one slot plus two prefetched
    assert_eq!(first.iter().map(|a| a.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    for (t, w, _) in first {
        env.finish(t, w, 0);
    }
    let rest = env.drain();
    assert_eq!(rest.len(), 7);
    assert!(env.out.finished);
    assert!(env.out.failed.is_none());
}

#[test]
fn tasks_storing_output_free_their_slot_within_a_bound() {
    let mut env = Env::new(TaskGraph::independent(30));
    env.worker(1, "h", 1);
    let mut held: Vec<TaskId> = env.take().iter().map(|a| a.0).collect();
    assert_eq!(held, vec![0, 1, 2]);
    // Each task in hand gives its slot back to store its output: one more is sent each
    // time, until 4 more per slot are in hand (7).
    for i in 0..4 {
        env.s.task_started(held[i], 1);
        env.s.task_storing(held[i], 1, env.now, &mut env.out);
        env.check();
        let sent: Vec<TaskId> = env.take().iter().map(|a| a.0).collect();
        assert_eq!(sent.len(), 1, "after {} storing: {sent:?}", i + 1);
        held.extend(sent);
    }
    env.s.task_storing(held[4], 1, env.now, &mut env.out);
    env.check();
    assert!(env.take().is_empty(), "5 storing is past the bound");
    // A repeated report changes nothing; a stored task's end makes room for one more.
    env.s.task_storing(held[0], 1, env.now, &mut env.out);
    env.check();
    assert!(env.take().is_empty());
    env.finish(held[0], 1, 0);
    assert_eq!(env.take().len(), 1);
    // A lost worker's storing tasks go again elsewhere, and the job still ends.
    env.lose(1);
    env.worker(2, "h", 1);
    let rest = env.drain();
    assert_eq!(rest.len(), 30 - 1);
    assert!(env.out.finished);
    assert!(env.out.failed.is_none());
}

#[test]
fn empty_graph_finishes_at_once() {
    let env = Env::new(TaskGraph::default());
    assert!(env.out.finished);
}

#[test]
fn scans_wait_for_their_host_then_go_elsewhere() {
    let mut env = Env::new(scans(&["a", "a", "a", "a", "a", "a", "a", "a"]));
    env.worker(1, "a", 1);
    env.worker(2, "b", 1);
    let got = env.take();
    assert!(
        got.iter()
            .all(|&(_, w, l)| w == 1 && l == Locality::DataLocal),
        "{got:?}"
    );
    env.s
        .tick(env.now + Duration::from_millis(10), &mut env.out);
    assert!(
        env.take().is_empty(),
        "b must not take a's scans before the wait"
    );
    env.now += Duration::from_secs(1);
    env.tick();
    let late = env.take();
    assert!(!late.is_empty());
    assert!(
        late.iter()
            .all(|&(_, w, l)| w == 2 && l == Locality::OffSwitch),
        "{late:?}"
    );
}

#[test]
fn a_worker_out_of_local_scans_waits_before_taking_another_hosts() {
    let cfg = SchedulerConfig {
        prefetch_per_slot: 0,
        ..Default::default()
    };
    // Host a holds 1 scan, host b 3; one single-slot worker on each.
    let mut env = Env::with(scans(&["a", "b", "b", "b"]), cfg);
    env.worker(1, "a", 1);
    env.worker(2, "b", 1);
    assert_eq!(
        env.take(),
        [(0, 1, Locality::DataLocal), (1, 2, Locality::DataLocal)]
    );
    // Long after the start, a's worker runs out of scans of its own. b's scans have
    // been ready for a second, but b's worker is getting through them: a's worker
    // waits its own locality wait before taking one.
    env.now += Duration::from_secs(1);
    env.finish(0, 1, 10);
    assert!(env.take().is_empty(), "took b's scan at once");
    env.now += Duration::from_millis(300);
    env.finish(1, 2, 10);
    assert_eq!(env.take(), [(2, 2, Locality::DataLocal)]);
    env.now += Duration::from_millis(300);
    env.tick();
    assert_eq!(env.take(), [(3, 1, Locality::OffSwitch)], "waited 600 ms");
}

#[test]
fn while_the_first_workers_start_none_takes_another_hosts_scans() {
    let cfg = SchedulerConfig {
        prefetch_per_slot: 0,
        ramp_up_limit: Duration::from_secs(20),
        ..Default::default()
    };
    // Three hosts, two scans each; three workers are coming, one per host.
    let mut env = Env::with(scans(&["a", "a", "b", "b", "c", "c"]), cfg.clone());
    env.s.expect_workers(3, env.now);
    env.worker(1, "a", 1);
    assert_eq!(env.take(), [(0, 1, Locality::DataLocal)]);
    env.now += Duration::from_secs(1);
    env.finish(0, 1, 10);
    assert_eq!(env.take(), [(1, 1, Locality::DataLocal)]);
    env.finish(1, 1, 10);
    // Out of its own scans, a's worker waits far past the locality wait: b's and c's
    // workers are still starting.
    env.now += Duration::from_secs(5);
    env.tick();
    assert!(env.take().is_empty(), "took a starting worker's scan");
    env.worker(2, "b", 1);
    env.worker(3, "c", 1);
    assert_eq!(
        env.take(),
        [(2, 2, Locality::DataLocal), (4, 3, Locality::DataLocal)]
    );

    // With ten workers coming, eight are enough: the last may come late or never.
    let hosts: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let mut env = Env::with(scans(&names), cfg.clone());
    env.s.expect_workers(10, env.now);
    for (i, h) in names.iter().take(8).enumerate() {
        env.worker(i as WorkerId + 1, h, 1);
    }
    let started = env.take().len();
    assert_eq!(started, 8);
    for t in 0..8 {
        env.finish(t, t as WorkerId + 1, 10);
    }
    env.now += Duration::from_secs(1);
    env.tick();
    assert_eq!(env.take().len(), 2, "the ramp-up ended at 8 of 10");

    // A worker that never comes is waited for only up to the ramp-up limit.
    let mut env = Env::with(scans(&["a", "b"]), cfg);
    env.s.expect_workers(2, env.now);
    env.worker(1, "a", 1);
    assert_eq!(env.take(), [(0, 1, Locality::DataLocal)]);
    env.finish(0, 1, 10);
    env.now += Duration::from_secs(19);
    env.tick();
    assert!(env.take().is_empty(), "gave up on the ramp-up early");
    env.now += Duration::from_secs(1);
    env.tick();
    assert_eq!(env.take(), [(1, 1, Locality::OffSwitch)]);
}

#[test]
fn scans_for_hosts_without_workers_go_elsewhere_after_the_wait() {
    let mut racks = std::collections::HashMap::new();
    racks.insert("x".to_string(), "/r1".to_string());
    racks.insert("b".to_string(), "/r1".to_string());
    let cfg = SchedulerConfig {
        racks,
        ..Default::default()
    };
    let mut env = Env::with(scans(&["x", "z"]), cfg);
    env.worker(2, "b", 2);
    assert!(
        env.take().is_empty(),
        "waits for a worker on x or z to join"
    );
    env.now += Duration::from_secs(1);
    env.tick();
    let got = env.take();
    assert_eq!(
        got,
        vec![(0, 2, Locality::RackLocal), (1, 2, Locality::OffSwitch)]
    );
}

/// Once every worker the job starts has joined, a scan of a host none of them is on has
/// nobody to wait for: it goes at once. A host with a worker still gets its wait.
#[test]
fn once_every_worker_has_joined_scans_of_hosts_without_one_go_at_once() {
    let cfg = SchedulerConfig {
        prefetch_per_slot: 0,
        locality_wait: Duration::from_secs(2),
        ..Default::default()
    };
    // One worker, on a; scans on a, b and c (a remote cluster's DataNodes, say).
    let mut env = Env::with(scans(&["a", "b", "c"]), cfg.clone());
    env.s.expect_workers(1, env.now);
    env.worker(1, "a", 1);
    assert_eq!(env.take(), [(0, 1, Locality::DataLocal)]);
    env.finish(0, 1, 10);
    assert_eq!(env.take(), [(1, 1, Locality::OffSwitch)], "no wait for b");
    env.finish(1, 1, 10);
    assert_eq!(env.take(), [(2, 1, Locality::OffSwitch)]);

    // Two workers, on a and b: a's worker, out of its own, waits for b's scans (b's
    // worker is busy with one) but not for c's, where no worker is.
    let mut env = Env::with(scans(&["a", "b", "b", "c"]), cfg.clone());
    env.s.expect_workers(2, env.now);
    env.worker(1, "a", 1);
    env.worker(2, "b", 1);
    assert_eq!(
        env.take(),
        [(0, 1, Locality::DataLocal), (1, 2, Locality::DataLocal)]
    );
    env.finish(0, 1, 10);
    assert_eq!(env.take(), [(3, 1, Locality::OffSwitch)], "c's at once");
    env.finish(3, 1, 10);
    assert!(env.take().is_empty(), "took b's scan before the wait");
    env.now += Duration::from_secs(2);
    env.tick();
    assert_eq!(env.take(), [(2, 1, Locality::OffSwitch)]);

    // Before the last worker joins, a scan waits as it always did: one may come for it.
    let mut env = Env::with(scans(&["a", "b"]), cfg);
    env.s.expect_workers(2, env.now);
    env.worker(1, "a", 1);
    assert_eq!(env.take(), [(0, 1, Locality::DataLocal)]);
    env.finish(0, 1, 10);
    assert!(
        env.take().is_empty(),
        "took b's scan while b's worker starts"
    );
}

#[test]
fn reducer_goes_where_its_input_bytes_are() {
    let mut g = TaskGraph::default();
    let a = g.add(vec![], vec!["h1".into()]);
    let b = g.add(vec![], vec!["h2".into()]);
    let r = g.add(vec![a, b], vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h1", 4);
    env.worker(2, "h2", 4);
    env.take();
    env.finish(a, 1, 1 << 30);
    env.finish(b, 2, 10);
    let got = env.take();
    assert_eq!(got, vec![(r, 1, Locality::Any)]);
    env.finish(r, 1, 0);
    assert!(env.out.finished);
    let mut released = env.out.released.clone();
    released.sort();
    assert_eq!(released, vec![(a, 1), (b, 2)]);
}

#[test]
fn results_are_released_once_no_dependent_needs_them() {
    let mut g = TaskGraph::default();
    let a = g.add(vec![], vec![]);
    let x = g.add(vec![a], vec![]);
    let y = g.add(vec![a], vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h", 4);
    env.take();
    env.finish(a, 1, 5);
    env.take();
    env.finish(x, 1, 0);
    assert!(env.out.released.is_empty(), "y still needs a");
    env.finish(y, 1, 0);
    assert_eq!(env.out.released, vec![(a, 1)]);
}

#[test]
fn idle_worker_steals_from_the_busiest_queue() {
    let mut g = TaskGraph::default();
    let root = g.add(vec![], vec![]);
    let kids: Vec<_> = (0..8).map(|_| g.add(vec![root], vec![])).collect();
    let mut env = Env::new(g);
    env.worker(1, "h", 1);
    env.take();
    env.finish(root, 1, 1 << 40); // huge: every child prefers worker 1
    let on_one = env.take();
    assert_eq!(on_one.len(), 3);
    env.worker(2, "h", 1);
    let stolen = env.take();
    assert_eq!(stolen.len(), 3, "{stolen:?}");
    assert!(stolen.iter().all(|a| a.1 == 2));
    // it steals from the back: the lowest-priority children
    assert!(stolen.iter().all(|a| a.0 >= kids[5]));
}

#[test]
fn an_idle_worker_steals_from_its_own_rack_first() {
    let mut racks = std::collections::HashMap::new();
    racks.insert("a".to_string(), "/r1".to_string());
    racks.insert("b".to_string(), "/r1".to_string());
    racks.insert("c".to_string(), "/r2".to_string());
    let cfg = SchedulerConfig {
        racks,
        prefetch_per_slot: 0,
        ..Default::default()
    };
    let mut g = TaskGraph::default();
    let near = g.add(vec![], vec![]);
    let far = g.add(vec![], vec![]);
    let near_kids: Vec<_> = (0..3).map(|_| g.add(vec![near], vec![])).collect();
    let far_kids: Vec<_> = (0..6).map(|_| g.add(vec![far], vec![])).collect();
    let mut env = Env::with(g, cfg);
    env.worker(1, "a", 1);
    env.worker(2, "c", 1);
    assert_eq!(env.take().len(), 2);
    env.finish(near, 1, 1 << 40); // each child goes where its parent's bytes are
    env.finish(far, 2, 1 << 40);
    env.take();
    // Worker 2's queue is the longer one, but worker 1 shares the new worker's rack.
    env.worker(3, "b", 2);
    let stolen: Vec<_> = env.take().iter().map(|a| a.0).collect();
    assert_eq!(stolen.len(), 2, "{stolen:?}");
    assert!(
        stolen.iter().all(|t| near_kids.contains(t)),
        "{stolen:?} {far_kids:?}"
    );
}

#[test]
fn retryable_failures_retry_then_fail_with_the_last_error() {
    let mut env = Env::new(TaskGraph::independent(1));
    env.worker(1, "h", 1);
    for attempt in 1..=4 {
        let got = env.take();
        assert_eq!(got.len(), 1, "attempt {attempt}");
        env.fail(0, 1, FailureKind::Retryable, &format!("boom {attempt}"));
    }
    let (t, err) = env.out.failed.clone().unwrap();
    assert_eq!(t, 0);
    assert!(
        err.contains("boom 4") && err.contains("4 attempts"),
        "{err}"
    );
    assert_eq!(env.s.retries(), 3);
}

#[test]
fn deterministic_failure_fails_at_once() {
    let mut env = Env::new(TaskGraph::independent(3));
    env.worker(1, "h", 1);
    env.take();
    env.fail(1, 1, FailureKind::Deterministic, "bad sql");
    assert_eq!(env.out.failed, Some((1, "bad sql".into())));
    env.finish(0, 1, 0);
    assert!(env.take().is_empty(), "nothing more runs after failure");
    assert!(!env.out.finished);
}

#[test]
fn losing_a_worker_recomputes_exactly_the_lost_needed_results() {
    // four maps, then two reducers each reading all four maps
    let mut g = TaskGraph::default();
    let maps: Vec<_> = (0..4).map(|_| g.add(vec![], vec![])).collect();
    let r0 = g.add(maps.clone(), vec![]);
    let r1 = g.add(maps.clone(), vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h", 1);
    env.worker(2, "h", 1);
    let mut on: std::collections::HashMap<TaskId, WorkerId> = Default::default();
    // run every map, remembering where each ran
    while maps.iter().any(|m| !on.contains_key(m)) {
        for (t, w, _) in env.take() {
            on.insert(t, w);
            if maps.contains(&t) {
                env.finish(t, w, 10);
            }
        }
    }
    for (t, w, _) in env.take() {
        on.insert(t, w);
    }
    assert!(on.contains_key(&r0) && on.contains_key(&r1), "{on:?}");
    env.finish(r0, on[&r0], 0);
    let lost_maps: Vec<TaskId> = maps.iter().copied().filter(|m| on[m] == 2).collect();
    assert!(!lost_maps.is_empty(), "both workers ran maps: {on:?}");
    env.lose(2);
    if on[&r1] == 1 {
        // r1 was fetching on the surviving worker: it reports the lost input
        env.fail(r1, 1, FailureKind::InputLost { worker: 2 }, "refused");
    }
    let mut rerun: Vec<TaskId> = env.take().iter().map(|a| a.0).collect();
    rerun.sort();
    assert_eq!(
        rerun, lost_maps,
        "exactly the lost maps rerun, nothing else"
    );
    for t in rerun {
        env.finish(t, 1, 10);
    }
    let next = env.take();
    assert_eq!(next.iter().map(|a| a.0).collect::<Vec<_>>(), vec![r1]);
    env.finish(r1, 1, 0);
    assert!(env.out.finished);
    assert!(env.out.failed.is_none());
}

#[test]
fn lost_input_recomputes_once_the_driver_condemns_the_holder() {
    // r reads a (small, on worker 1) and b (big, on worker 2), so r runs on worker 2
    let mut g = TaskGraph::default();
    let a = g.add(vec![], vec!["h1".into()]);
    let b = g.add(vec![], vec!["h2".into()]);
    let r = g.add(vec![a, b], vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h1", 1);
    env.worker(2, "h2", 1);
    env.take();
    env.finish(a, 1, 10);
    env.finish(b, 2, 1 << 30);
    assert_eq!(env.take(), vec![(r, 2, Locality::Any)]);
    // r could not fetch from worker 1; blame is the driver's to verify, so the scheduler
    // alone keeps the holder and only sends the consumer again
    env.fail(r, 2, FailureKind::InputLost { worker: 1 }, "refused");
    assert_eq!(env.take(), vec![(r, 2, Locality::Any)]);
    assert_eq!(env.s.result_location(a), Some(1));
    // the driver verified the loss and removed the holder; r, running, will report again
    env.s.task_started(r, 2);
    env.lose(1);
    env.fail(r, 2, FailureKind::InputLost { worker: 1 }, "refused");
    assert!(env.take().is_empty(), "a waits for a worker on its host");
    env.now += Duration::from_secs(1);
    env.tick();
    assert_eq!(env.take(), vec![(a, 2, Locality::OffSwitch)]);
    assert_eq!(
        env.s.attempts(r),
        0,
        "a lost input does not count against the consumer"
    );
    env.finish(a, 2, 10);
    assert_eq!(env.take().iter().map(|a| a.0).collect::<Vec<_>>(), vec![r]);
}

#[test]
fn a_fault_no_one_is_blamed_for_still_ends_the_job() {
    let mut g = TaskGraph::default();
    let a = g.add(vec![], vec![]);
    let r = g.add(vec![a], vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h", 1);
    env.take();
    env.finish(a, 1, 10);
    for _ in 0..10 {
        let got = env.take();
        assert_eq!(got.len(), 1, "{:?}", env.out.failed);
        env.fail(r, 1, FailureKind::InputLost { worker: 2 }, "refused");
    }
    let (t, err) = env.out.failed.clone().expect("the job fails");
    assert_eq!(t, r);
    assert!(err.contains("10 times"), "{err}");
}

#[test]
fn retries_back_off_doubling_up_to_the_cap() {
    let cfg = SchedulerConfig {
        retry_backoff: Duration::from_millis(100),
        max_retry_backoff: Duration::from_millis(300),
        max_attempts: 10,
        ..Default::default()
    };
    let mut env = Env::with(TaskGraph::independent(1), cfg);
    env.worker(1, "h", 1);
    env.take();
    let mut waits = vec![];
    for _ in 0..4 {
        env.fail(0, 1, FailureKind::Retryable, "flaky");
        assert!(env.take().is_empty(), "not sent again at once");
        let failed_at = env.now;
        while env.take().is_empty() {
            env.now += Duration::from_millis(10);
            env.tick();
        }
        waits.push((env.now - failed_at).as_millis());
    }
    assert_eq!(waits, vec![100, 200, 300, 300]);
}

#[test]
fn a_task_that_never_got_a_slot_is_not_charged_when_its_worker_dies() {
    let cfg = SchedulerConfig {
        max_attempts: 1,
        ..Default::default()
    };
    let mut env = Env::with(TaskGraph::independent(3), cfg);
    env.worker(1, "h", 1);
    let sent = env.take();
    assert_eq!(sent.len(), 3, "one slot, two prefetched");
    env.s.task_started(sent[0].0, 1);
    env.worker(2, "h", 1);
    env.lose(1);
    // only the task that began used its single attempt
    let (t, _) = env
        .out
        .failed
        .clone()
        .expect("the begun task used its only attempt");
    assert_eq!(t, sent[0].0);
    assert_eq!(env.s.attempts(sent[1].0), 0);
    assert_eq!(env.s.attempts(sent[2].0), 0);
}

#[test]
fn recompute_reaches_through_released_inputs() {
    // a -> b -> c: once b is done, a is released; losing b's worker needs a again
    let mut g = TaskGraph::default();
    let a = g.add(vec![], vec![]);
    let b = g.add(vec![a], vec![]);
    let c = g.add(vec![b], vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h", 1);
    env.worker(2, "h", 1);
    let t = env.take();
    env.finish(a, t[0].1, 10);
    let t = env.take();
    assert_eq!(t[0].0, b);
    let wb = t[0].1;
    env.finish(b, wb, 10);
    assert_eq!(
        env.out.released,
        vec![(a, t[0].1)],
        "a is released once b is done"
    );
    let t = env.take();
    assert_eq!(t, vec![(c, wb, Locality::Any)], "c runs beside its input");
    // b's worker dies with c on it (not yet begun): c goes again uncharged, and b and,
    // through it, the released a are recomputed on the survivor
    env.lose(wb);
    let order: Vec<_> = env.drain().iter().map(|a| a.0).collect();
    assert_eq!(order, vec![a, b, c]);
    assert!(env.out.finished);
    assert!(env.out.failed.is_none());
    assert_eq!(env.s.attempts(c), 0);
}

#[test]
fn tree_reduction_completes_on_many_workers() {
    let g = TaskGraph::tree_reduction(1000);
    let n = g.len();
    let mut env = Env::new(g);
    for w in 0..16 {
        env.worker(w, "h", 2);
    }
    let all = env.drain();
    assert_eq!(all.len(), n);
    assert!(env.out.finished);
    // every intermediate result is released exactly once
    assert_eq!(env.out.released.len(), n - 1);
}

#[test]
fn a_barrier_task_waits_for_all_and_runs_where_the_one_it_reads_is() {
    let mut g = TaskGraph::independent(2);
    g.add_reading(vec![0, 1], 1);
    g.add_reading(vec![0, 1], 0);
    let cfg = SchedulerConfig {
        prefetch_per_slot: 0,
        ..Default::default()
    };
    let mut env = Env::with(g, cfg);
    env.worker(1, "a", 1);
    env.worker(2, "b", 1);
    let mut first = env.take();
    first.sort_by_key(|a| (a.0, a.1));
    assert_eq!(
        first.iter().map(|a| (a.0, a.1)).collect::<Vec<_>>(),
        vec![(0, 1), (1, 2)]
    );
    env.finish(0, 1, 1 << 30);
    assert_eq!(env.take(), vec![], "task 2 waits for task 1 too");
    env.finish(1, 2, 1 << 30);
    let mut second = env.take();
    second.sort_by_key(|a| (a.0, a.1));
    assert_eq!(
        second.iter().map(|a| (a.0, a.1)).collect::<Vec<_>>(),
        vec![(2, 2), (3, 1)]
    );
}
