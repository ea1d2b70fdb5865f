//! Local mode's launcher: each worker is a `spindle worker` child process connecting to
//! the master over loopback TCP, exactly as it would from a YARN container.

use crate::launcher::{ContainerLauncher, LauncherEvent};
use spindle_job::wire::WorkerId;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

pub struct LocalLauncher {
    exe: PathBuf,
    master: String,
    secret: String,
    slots: u32,
    memory: u64,
    dir: PathBuf,
    events: mpsc::UnboundedSender<LauncherEvent>,
    kills: HashMap<WorkerId, oneshot::Sender<()>>,
}

impl LocalLauncher {
    /// `dir` holds each worker's log and spill directory.
    pub fn new(
        exe: PathBuf,
        master: String,
        secret: String,
        slots: u32,
        memory: u64,
        dir: PathBuf,
        events: mpsc::UnboundedSender<LauncherEvent>,
    ) -> LocalLauncher {
        LocalLauncher {
            exe,
            master,
            secret,
            slots,
            memory,
            dir,
            events,
            kills: HashMap::new(),
        }
    }

    fn log_path(&self, worker: WorkerId) -> PathBuf {
        self.dir.join(format!("worker-{worker}.log"))
    }
}

impl ContainerLauncher for LocalLauncher {
    fn launch(&mut self, worker: WorkerId) -> Result<(), String> {
        let spill = self.dir.join(format!("worker-{worker}"));
        std::fs::create_dir_all(&spill).map_err(|e| format!("{}: {e}", spill.display()))?;
        let log_path = self.log_path(worker);
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut child = tokio::process::Command::new(&self.exe)
            .arg("worker")
            .args(["--master", &self.master])
            .args(["--id", &worker.to_string()])
            .args(["--slots", &self.slots.to_string()])
            .args(["--memory-bytes", &self.memory.to_string()])
            .arg("--local-dir")
            .arg(&spill)
            // The secret goes through a pipe: a process's environment and command line
            // are readable by the user's other processes, the programs of commands too.
            .arg("--secret-stdin")
            .env_remove("SPINDLE_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let line = format!("{}\n", self.secret);
        tokio::spawn(async move {
            let _ = stdin.write_all(line.as_bytes()).await; // dropping it closes the pipe
        });
        let (kill_tx, kill_rx) = oneshot::channel();
        self.kills.insert(worker, kill_tx);
        let events = self.events.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let (success, diagnostics) = match status {
                Ok(s) if s.success() => (true, "exited normally".to_string()),
                Ok(s) => (false, describe_exit(s)),
                Err(e) => (false, format!("lost track of the process: {e}")),
            };
            let log = tail_of(&log_path, 5);
            let diagnostics = if log.is_empty() {
                diagnostics
            } else {
                format!("{diagnostics}; log tail: {log}")
            };
            let _ = events.send(LauncherEvent::Exited {
                worker,
                success,
                diagnostics,
            });
        });
        Ok(())
    }

    fn kill(&mut self, worker: WorkerId) {
        if let Some(k) = self.kills.remove(&worker) {
            let _ = k.send(());
        }
    }

    fn log_hint(&self, worker: WorkerId) -> String {
        self.log_path(worker).display().to_string()
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(9)) => "killed (SIGKILL)".into(),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// The last `n` lines of a log file, joined for one-line diagnostics.
pub fn tail_of(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
