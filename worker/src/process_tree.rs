//! Ending a command with everything it started. A command stays in the worker's process
//! group, so that YARN's container kill (and local mode's) takes it down with the worker;
//! when the worker itself ends a command (a timeout, a failed task), it stops the whole
//! tree first, so nothing can fork past it, then kills every process in it.

use std::collections::HashMap;

/// The processes descending from a child that has not been waited for, killed when
/// dropped. Once the child is reaped its pid may be reused: [`ProcessTree::disarm`] then.
pub struct ProcessTree(Option<u32>);

impl ProcessTree {
    pub fn new(pid: u32) -> Self {
        ProcessTree(Some(pid))
    }

    /// The child has been reaped: nothing is left to kill under its pid.
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            kill_tree(pid);
        }
    }
}

/// Stops `root` and its descendants, looking again until no new one appears, then kills
/// them all.
pub fn kill_tree(root: u32) {
    let mut stopped: Vec<u32> = vec![];
    for _ in 0..8 {
        let fresh: Vec<u32> = descendants(root)
            .into_iter()
            .chain([root])
            .filter(|p| !stopped.contains(p))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for &p in &fresh {
            signal(p, libc::SIGSTOP);
        }
        stopped.extend(fresh);
    }
    for &p in &stopped {
        signal(p, libc::SIGKILL);
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill only sends a signal. Every pid here was found below our own child a
    // moment ago; one that has exited since makes it fail harmlessly with ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Every process below `root`, from the parent ids in `/proc/<pid>/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![];
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if !out.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// The fourth field of `/proc/<pid>/stat`, after the command name in parentheses (which
/// may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn alive(pid: u32) -> bool {
        // a zombie has exited: only its entry is left for its parent to reap
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
            .unwrap_or(false)
    }

    #[test]
    fn the_whole_tree_goes_grandchildren_included() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // a shell that starts a pipeline in the background and a sleeper, and reports them
        let script = format!(
            "sleep 1000 | sleep 1001 & sleep 1002 & echo $! >> {p}; jobs -p >> {p}; wait",
            p = pids.display()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .spawn()
            .unwrap();
        let root = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut below = vec![];
        while below.len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            below = descendants(root);
        }
        assert!(below.len() >= 3, "sh started its sleepers: {below:?}");
        let started = Instant::now();
        drop(ProcessTree::new(root));
        let _ = child.wait();
        assert!(started.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(100));
        for p in below {
            assert!(!alive(p), "process {p} outlived its tree");
        }
    }
}
