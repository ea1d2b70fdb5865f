//! The task graph the scheduler runs: tasks in priority order with their dependencies.

use super::TaskId;

#[derive(Debug, Clone, Default)]
pub struct TaskNode {
    pub deps: Vec<TaskId>,
    /// Hosts holding this task's input split (scans only).
    pub hosts: Vec<String>,
    /// The one dependency whose result it reads, when it waits for more (a barrier).
    pub reads: Option<TaskId>,
}

/// Tasks indexed by id; an id's position is its priority (lower runs first).
#[derive(Debug, Clone, Default)]
pub struct TaskGraph {
    pub tasks: Vec<TaskNode>,
}

impl TaskGraph {
    pub fn add(&mut self, deps: Vec<TaskId>, hosts: Vec<String>) -> TaskId {
        let id = self.tasks.len() as TaskId;
        debug_assert!(deps.iter().all(|&d| d < id), "dependencies come first");
        self.tasks.push(TaskNode {
            deps,
            hosts,
            reads: None,
        });
        id
    }

    /// A task that waits for all of `deps` but reads only the result of `reads`.
    pub fn add_reading(&mut self, deps: Vec<TaskId>, reads: TaskId) -> TaskId {
        debug_assert!(deps.contains(&reads));
        let id = self.add(deps, vec![]);
        self.tasks[id as usize].reads = Some(reads);
        id
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// `n` independent tasks (benchmarks).
    pub fn independent(n: usize) -> TaskGraph {
        let mut g = TaskGraph::default();
        for _ in 0..n {
            g.add(vec![], vec![]);
        }
        g
    }

    /// A binary tree reduction with about `n` tasks in all (benchmarks).
    pub fn tree_reduction(n: usize) -> TaskGraph {
        let mut g = TaskGraph::default();
        let mut level: Vec<TaskId> = (0..n.div_ceil(2)).map(|_| g.add(vec![], vec![])).collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| g.add(pair.to_vec(), vec![]))
                .collect();
        }
        g
    }
}
