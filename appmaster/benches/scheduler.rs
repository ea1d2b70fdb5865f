//! Scheduler core alone: decisions per second for independent tasks and for tree
//! reductions (10k, 100k, 1M tasks) on 16 simulated workers. The output only remembers what
//! was assigned (so the simulation can finish it): no I/O, no messages.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spindle_appmaster::scheduler::{
    Locality, Output, Scheduler, SchedulerConfig, TaskGraph, TaskId, WorkerId,
};
use std::time::Instant;

#[derive(Default)]
struct Assigned(Vec<(TaskId, WorkerId)>);

impl Output for Assigned {
    fn assign(&mut self, t: TaskId, w: WorkerId, _: Locality) {
        self.0.push((t, w));
    }
    fn release(&mut self, _: TaskId, _: WorkerId) {}
    fn finished(&mut self) {}
    fn failed(&mut self, _: TaskId, _: &str) {}
}

/// Runs a whole graph to completion on `workers` simulated workers.
fn simulate(graph: TaskGraph, workers: u32) -> usize {
    let now = Instant::now();
    let mut s = Scheduler::new(graph, SchedulerConfig::default(), now);
    let mut out = Assigned::default();
    for w in 0..workers {
        s.add_worker(w, "h", 2, now, &mut out);
    }
    let mut done = 0;
    let mut i = 0;
    while i < out.0.len() {
        let (t, w) = out.0[i];
        i += 1;
        s.task_finished(t, w, 1000, now, &mut out);
        done += 1;
    }
    done
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler");
    group.sample_size(10);
    // Per-task cost should stay flat as graphs grow: decisions are O(1) amortized.
    for n in [10_000usize, 100_000, 1_000_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("independent_{n}_16w"), |b| {
            b.iter(|| assert_eq!(simulate(TaskGraph::independent(n), 16), n))
        });
        let tree = TaskGraph::tree_reduction(n);
        let tree_len = tree.len();
        group.throughput(Throughput::Elements(tree_len as u64));
        group.bench_function(format!("tree_reduction_{n}_16w"), |b| {
            b.iter(|| assert_eq!(simulate(tree.clone(), 16), tree_len))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
