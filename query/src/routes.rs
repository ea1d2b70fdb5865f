//! Which worker each scan task went to, kept from one run of a query to the next. A run
//! after a lost worker sends each task back to the worker that kept its results
//! ([`crate::kept`]) while that worker is there, and spreads the lost worker's tasks
//! over the workers left, so that no one of them takes them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

#[derive(Clone, Default)]
pub struct Routes(Arc<Mutex<HashMap<u64, Url>>>);

impl Routes {
    /// Workers (indices into `workers`, where a worker may be named more than once) for
    /// the tasks `keys` name, given the planner's `chosen` ones:
    /// - a task that ran before on one of `workers` goes back to it;
    /// - a task that ran on a worker now gone goes to the worker left with the fewest of
    ///   this stage's tasks (the planner's choice when it is one of those);
    /// - a task that never ran goes where chosen.
    ///
    /// Remembers where each task goes now.
    pub(crate) fn stick(&self, keys: &[u64], chosen: Vec<usize>, workers: &[Url]) -> Vec<usize> {
        let mut ran = self.0.lock().expect("routes poisoned");
        let first = first_slots(workers);
        let placed: Vec<Placed> = keys
            .iter()
            .zip(chosen)
            .map(|(key, w)| match ran.get(key) {
                None => Placed::At(w),
                Some(url) => first.get(url).map_or(Placed::Lost(w), |&f| Placed::At(f)),
            })
            .collect();
        // Tasks per worker (at its first slot), before the lost worker's are placed.
        let slot_first = |w: usize| first[&workers[w]];
        let mut load = vec![0usize; workers.len()];
        for p in &placed {
            if let Placed::At(w) = p {
                load[slot_first(*w)] += 1;
            }
        }
        let chosen: Vec<usize> = placed
            .into_iter()
            .map(|p| match p {
                Placed::At(w) => w,
                Placed::Lost(w) => {
                    let fewest = fewest(&first, &load);
                    let w = if load[slot_first(w)] <= load[fewest] {
                        w
                    } else {
                        fewest
                    };
                    load[slot_first(w)] += 1;
                    w
                }
            })
            .collect();
        for (key, &w) in keys.iter().zip(&chosen) {
            ran.insert(*key, workers[w].clone());
        }
        chosen
    }
}

/// Where a task goes, before the tasks of a lost worker are spread.
enum Placed {
    /// This slot: where it ran before, or the planner's choice for a new task.
    At(usize),
    /// It ran on a worker no longer there; the planner chose this slot.
    Lost(usize),
}

/// The first slot of the worker with the fewest tasks (the earliest of those tied).
fn fewest(first: &HashMap<&Url, usize>, load: &[usize]) -> usize {
    let slots = first.values().copied();
    slots.min_by_key(|&f| (load[f], f)).unwrap_or(0)
}

/// Each worker's first slot in `workers` (a worker may be named more than once).
fn first_slots(workers: &[Url]) -> HashMap<&Url, usize> {
    let mut first = HashMap::new();
    for (w, url) in workers.iter().enumerate() {
        first.entry(url).or_insert(w);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(names: &[&str]) -> Vec<Url> {
        names
            .iter()
            .map(|n| Url::parse(&format!("spindle://{n}:1")).unwrap())
            .collect()
    }

    /// How many of `chosen` name each worker of `names`.
    fn counts(chosen: &[usize], slots: &[Url], names: &[&str]) -> Vec<usize> {
        let named = workers(names);
        named
            .iter()
            .map(|n| chosen.iter().filter(|&&w| slots[w] == *n).count())
            .collect()
    }

    #[test]
    fn a_task_goes_back_to_the_worker_it_ran_on_while_that_worker_is_there() {
        let routes = Routes::default();
        let three = workers(&["a", "b", "c"]);
        let keys = [11, 12, 13];
        assert_eq!(routes.stick(&keys, vec![0, 1, 2], &three), [0, 1, 2]);
        // b is lost: the planner's choice would move a's and c's tasks.
        let two = workers(&["a", "c"]);
        assert_eq!(routes.stick(&keys, vec![1, 0, 1], &two), [0, 0, 1]);
        // b's task stays where it went in that run; a new task goes where chosen.
        assert_eq!(routes.stick(&[12, 14], vec![1, 1], &two), [0, 1]);
    }

    #[test]
    fn a_lost_workers_tasks_are_spread_over_the_workers_left() {
        let routes = Routes::default();
        let three = workers(&["a", "b", "c"]);
        let keys: Vec<u64> = (0..9).collect();
        let first: Vec<usize> = (0..9).map(|t| t % 3).collect();
        assert_eq!(routes.stick(&keys, first.clone(), &three), first);
        // c is lost; the planner is told of as many workers as before, a named twice,
        // and (going round them as before) would send all of c's tasks to a.
        let left = workers(&["a", "b", "a"]);
        let chosen = routes.stick(&keys, first.clone(), &left);
        assert_eq!(counts(&chosen, &left, &["a", "b"]), [5, 4], "{chosen:?}");
        // a's and b's own tasks stayed.
        for t in 0..9 {
            if t % 3 < 2 {
                assert_eq!(left[chosen[t]], three[t % 3], "task {t}");
            }
        }
    }

    #[test]
    fn a_lost_workers_task_goes_where_chosen_when_that_worker_is_among_the_least_loaded() {
        let routes = Routes::default();
        let three = workers(&["a", "b", "c"]);
        routes.stick(&[1, 2, 3], vec![0, 1, 2], &three);
        // c's task: a and b hold one each, so the planner's choice (b) stands.
        let left = workers(&["a", "b"]);
        assert_eq!(routes.stick(&[1, 2, 3], vec![0, 1, 1], &left), [0, 1, 1]);
    }
}
