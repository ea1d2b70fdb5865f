//! Where ready tasks wait and which worker runs each: queues by inputs, by host or
//! anywhere; delay scheduling for scans of other hosts; stealing.

use super::{Locality, Scheduler, State, Task, STORING_PER_SLOT};
use crate::scheduler::{Output, TaskId, WorkerId};
use std::collections::VecDeque;
use std::time::Instant;

impl Scheduler {
    /// Queues a task whose inputs are all available; returns the worker whose queue it
    /// joined, if it was placed on one.
    pub(super) fn make_ready(&mut self, t: TaskId, front: bool, now: Instant) -> Option<WorkerId> {
        let task = &mut self.tasks[t as usize];
        task.state = State::Ready;
        task.ready_at = now;
        let push = |q: &mut VecDeque<TaskId>| {
            if front {
                q.push_front(t)
            } else {
                q.push_back(t)
            }
        };
        if !task.deps.is_empty() {
            if let Some(w) = self.best_worker_for_inputs(t) {
                push(&mut self.worker_mut(w).queue);
                return Some(w);
            }
        } else if !task.hosts.is_empty() {
            for h in task.hosts.clone() {
                push(self.by_host.entry(h).or_default());
            }
            return None;
        }
        push(&mut self.anywhere);
        None
    }

    /// The worker where running `t` costs least: input bytes to move plus queued work.
    fn best_worker_for_inputs(&self, t: TaskId) -> Option<WorkerId> {
        let mut held: Vec<(WorkerId, u64)> = vec![];
        let mut total = 0u64;
        let node = &self.tasks[t as usize];
        let reads = node.reads.as_slice();
        for &d in if reads.is_empty() { &node.deps } else { reads } {
            if let State::Done(w) = self.tasks[d as usize].state {
                let b = self.tasks[d as usize].bytes.max(1);
                total += b;
                match held.iter_mut().find(|(x, _)| *x == w) {
                    Some((_, sum)) => *sum += b,
                    None => held.push((w, b)),
                }
            }
        }
        let least_loaded = self
            .workers
            .iter()
            .filter(|(_, w)| w.alive)
            .min_by_key(|(id, w)| (Self::load(w), **id))
            .map(|(id, _)| *id)?;
        if !held.iter().any(|(w, _)| *w == least_loaded) {
            held.push((least_loaded, 0));
        }
        let per_task = self.cfg.queued_task_cost_bytes;
        held.into_iter()
            .filter(|(w, _)| self.workers.get(w).is_some_and(|w| w.alive))
            .min_by_key(|(w, local)| {
                let queued = Self::load(&self.workers[w]) * per_task / 1000;
                (queued + (total - local), *w)
            })
            .map(|(w, _)| w)
    }

    /// Fills every worker: those with work queued for them first (so idle ones do not
    /// steal what was placed by its inputs), each group in id order.
    pub(super) fn fill_all(&mut self, now: Instant, out: &mut impl Output) {
        let mut ids: Vec<(bool, WorkerId)> = self
            .workers
            .iter()
            .map(|(id, w)| (w.queue.is_empty(), *id))
            .collect();
        ids.sort_unstable();
        let ids = ids.into_iter().map(|(_, id)| id);
        for w in ids {
            if self.halted {
                return;
            }
            self.fill(w, now, out);
        }
    }

    /// Sends tasks to `w` until its slots and prefetch are used; tasks only storing their
    /// output hold no slot, within [`STORING_PER_SLOT`](super::STORING_PER_SLOT) more per slot.
    pub(super) fn fill(&mut self, w: WorkerId, now: Instant, out: &mut impl Output) {
        loop {
            if self.halted {
                return;
            }
            let worker = &self.workers[&w];
            let in_hand = worker.slots * (1 + self.cfg.prefetch_per_slot);
            if !worker.alive
                || worker.running - worker.storing >= in_hand
                || worker.running >= in_hand + worker.slots * STORING_PER_SLOT
            {
                return;
            }
            let Some(t) = self.next_task_for(w, now) else {
                return;
            };
            let locality = self.locality(t, w);
            self.tasks[t as usize].state = State::Running(w);
            self.tasks[t as usize].began = false;
            self.worker_mut(w).running += 1;
            out.assign(t, w, locality);
        }
    }

    fn pop_ready(tasks: &[Task], q: &mut VecDeque<TaskId>) -> Option<TaskId> {
        while let Some(t) = q.pop_front() {
            if tasks[t as usize].state == State::Ready {
                return Some(t);
            }
        }
        None
    }

    fn next_task_for(&mut self, w: WorkerId, now: Instant) -> Option<TaskId> {
        if let Some(t) = self.own_task_for(w) {
            self.worker_mut(w).wants_since = None;
            return Some(t);
        }
        self.other_task_for(w, now)
    }

    /// Work meant for `w`: placed by its inputs, scans of its host, or anywhere.
    fn own_task_for(&mut self, w: WorkerId) -> Option<TaskId> {
        let host = self.workers[&w].host.clone();
        let tasks = &self.tasks;
        if let Some(t) = Self::pop_ready(tasks, &mut self.workers.get_mut(&w)?.queue) {
            return Some(t);
        }
        if let Some(t) = self
            .by_host
            .get_mut(&host)
            .and_then(|q| Self::pop_ready(tasks, q))
        {
            return Some(t);
        }
        Self::pop_ready(tasks, &mut self.anywhere)
    }

    /// Another host's scan, or another worker's queued task.
    fn other_task_for(&mut self, w: WorkerId, now: Instant) -> Option<TaskId> {
        let host = self.workers[&w].host.clone();
        // Scans preferring other hosts, once they have waited `locality_wait` for a slot
        // there (counted from the last worker joining, so a ramp-up does not count) and
        // this worker has waited as long for work of its own; scans of a host no worker
        // is on, once every worker has joined, at once. Among those, rack-local first,
        // then graph order.
        let wait = self.cfg.locality_wait;
        let wants_since = *self.workers.get_mut(&w)?.wants_since.get_or_insert(now);
        let waited = now.saturating_duration_since(wants_since) >= wait && !self.ramping_up(now);
        let staffed = Self::staffed_hosts(&self.workers, self.expected, self.joined);
        if !waited && staffed.is_none() {
            return self.steal_for(w);
        }
        let tasks = &self.tasks;
        let last_join = self.last_join;
        let my_rack = self.cfg.racks.get(&host);
        let mut best: Option<(bool, TaskId, String)> = None;
        for (h, q) in self.by_host.iter_mut() {
            while q
                .front()
                .is_some_and(|&t| tasks[t as usize].state != State::Ready)
            {
                q.pop_front();
            }
            let Some(&t) = q.front() else { continue };
            let nobody_coming = staffed.as_ref().is_some_and(|s| !s.contains(h.as_str()));
            let since = tasks[t as usize].ready_at.max(last_join);
            if !nobody_coming && (!waited || now.saturating_duration_since(since) < wait) {
                continue;
            }
            let off_rack = my_rack.is_none() || self.cfg.racks.get(h) != my_rack;
            if best
                .as_ref()
                .is_none_or(|(o, b, _)| (off_rack, t) < (*o, *b))
            {
                best = Some((off_rack, t, h.clone()));
            }
        }
        if let Some((_, t, h)) = best {
            self.by_host.get_mut(&h).and_then(|q| q.pop_front());
            return Some(t);
        }
        self.steal_for(w)
    }

    /// Takes the newest queued task of the busiest other worker on this worker's rack,
    /// else of the busiest anywhere: a task's inputs are on the worker it was queued at,
    /// and moving them within a rack costs less.
    fn steal_for(&mut self, w: WorkerId) -> Option<TaskId> {
        let my_rack = self.cfg.racks.get(&self.workers[&w].host);
        let victim = self
            .workers
            .iter()
            .filter(|(id, x)| **id != w && x.alive && !x.queue.is_empty())
            .max_by_key(|(id, x)| {
                let same_rack = my_rack.is_some() && self.cfg.racks.get(&x.host) == my_rack;
                (same_rack, x.queue.len(), **id)
            })
            .map(|(id, _)| *id)?;
        let tasks = &self.tasks;
        let q = &mut self.workers.get_mut(&victim)?.queue;
        while let Some(t) = q.pop_back() {
            if tasks[t as usize].state == State::Ready {
                return Some(t);
            }
        }
        None
    }

    fn locality(&self, t: TaskId, w: WorkerId) -> Locality {
        let hosts = &self.tasks[t as usize].hosts;
        if hosts.is_empty() {
            return Locality::Any;
        }
        let host = &self.workers[&w].host;
        if hosts.contains(host) {
            return Locality::DataLocal;
        }
        let rack = self.cfg.racks.get(host);
        if rack.is_some() && hosts.iter().any(|h| self.cfg.racks.get(h) == rack) {
            return Locality::RackLocal;
        }
        Locality::OffSwitch
    }
}
