//! The scheduler fed events, with decisions asserted on a recording output.

use super::*;
use std::time::{Duration, Instant};

struct Env {
    s: Scheduler,
    out: Recorded,
    now: Instant,
}

impl Env {
    fn new(graph: TaskGraph) -> Env {
        Env::with(graph, SchedulerConfig::default())
    }
    fn with(graph: TaskGraph, cfg: SchedulerConfig) -> Env {
        let now = Instant::now();
        let mut env = Env {
            s: Scheduler::new(graph, cfg, now),
            out: Recorded::default(),
            now,
        };
        env.s.start(&mut env.out);
        env
    }
    fn worker(&mut self, id: WorkerId, host: &str, slots: u32) {
        self.s.add_worker(id, host, slots, self.now, &mut self.out);
    }
    fn take(&mut self) -> Vec<(TaskId, WorkerId, Locality)> {
        std::mem::take(&mut self.out.assigned)
    }
    fn finish(&mut self, t: TaskId, w: WorkerId, bytes: u64) {
        self.s.task_finished(t, w, bytes, self.now, &mut self.out);
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
    env.s.tick(env.now, &mut env.out);
    let late = env.take();
    assert!(!late.is_empty());
    assert!(
        late.iter()
            .all(|&(_, w, l)| w == 2 && l == Locality::OffSwitch),
        "{late:?}"
    );
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
    env.s.tick(env.now, &mut env.out);
    let got = env.take();
    assert_eq!(
        got,
        vec![(0, 2, Locality::RackLocal), (1, 2, Locality::OffSwitch)]
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
fn retryable_failures_retry_then_fail_with_the_last_error() {
    let mut env = Env::new(TaskGraph::independent(1));
    env.worker(1, "h", 1);
    for attempt in 1..=4 {
        let got = env.take();
        assert_eq!(got.len(), 1, "attempt {attempt}");
        env.s.task_failed(
            0,
            1,
            FailureKind::Retryable,
            &format!("boom {attempt}"),
            env.now,
            &mut env.out,
        );
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
    env.s.task_failed(
        1,
        1,
        FailureKind::Deterministic,
        "bad sql",
        env.now,
        &mut env.out,
    );
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
    env.s.remove_worker(2, env.now, &mut env.out);
    if on[&r1] == 1 {
        // r1 was fetching on the surviving worker: it reports the lost input
        env.s.task_failed(
            r1,
            1,
            FailureKind::InputLost { worker: 2 },
            "refused",
            env.now,
            &mut env.out,
        );
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
fn lost_input_reported_by_a_consumer_removes_the_holder_and_recomputes() {
    let mut g = TaskGraph::default();
    let a = g.add(vec![], vec!["h1".into()]);
    let r = g.add(vec![a], vec![]);
    let mut env = Env::new(g);
    env.worker(1, "h1", 1);
    env.take();
    env.finish(a, 1, 10);
    env.worker(2, "h2", 1);
    let got = env.take();
    let (_, w, _) = got[0];
    assert_eq!(got[0].0, r);
    // the consumer could not fetch from worker 1
    env.s.task_failed(
        r,
        w,
        FailureKind::InputLost { worker: 1 },
        "refused",
        env.now,
        &mut env.out,
    );
    // the scan's host has no worker now: it runs elsewhere once the locality wait is over
    env.now += Duration::from_secs(1);
    env.s.tick(env.now, &mut env.out);
    let again = env.take();
    assert_eq!(again.iter().map(|a| a.0).collect::<Vec<_>>(), vec![a]);
    assert_eq!(
        env.s.attempts(r),
        0,
        "a lost input does not count against the consumer"
    );
    env.finish(a, 2, 10);
    assert_eq!(env.take().iter().map(|a| a.0).collect::<Vec<_>>(), vec![r]);
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
    assert_eq!(env.out.released.len(), 1);
    let t = env.take();
    assert_eq!(t[0].0, c);
    let wc = t[0].1;
    if wc == wb {
        return; // c runs beside its input; losing that worker is the running-task case
    }
    env.s.remove_worker(wb, env.now, &mut env.out);
    // c is still running on the other worker with b fetched, or it will report InputLost;
    // here it reports the loss
    env.s.task_failed(
        c,
        wc,
        FailureKind::InputLost { worker: wb },
        "gone",
        env.now,
        &mut env.out,
    );
    let order: Vec<_> = env.drain().iter().map(|a| a.0).collect();
    assert_eq!(order, vec![a, b, c]);
    assert!(env.out.finished);
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
