//! Local mode's launcher: each worker is a `spindle worker` child process connecting to
//! the master over loopback TCP, exactly as it would from a YARN container.

use crate::cmdline::WorkerCommand;
use crate::launcher::{ContainerLauncher, LauncherEvent};
use spindle_job::wire::WorkerId;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

pub struct LocalLauncher {
    exe: PathBuf,
    /// Every worker's command line but its id and directory.
    command: WorkerCommand,
    secret: String,
    dir: PathBuf,
    events: mpsc::UnboundedSender<LauncherEvent>,
    kills: HashMap<WorkerId, oneshot::Sender<()>>,
}

impl LocalLauncher {
    /// `dir` holds each worker's log and spill directory.
    pub fn new(
        exe: PathBuf,
        command: WorkerCommand,
        secret: String,
        dir: PathBuf,
        events: mpsc::UnboundedSender<LauncherEvent>,
    ) -> LocalLauncher {
        LocalLauncher {
            exe,
            command,
            secret,
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
        // The secret goes through a pipe: a process's environment and command line are
        // readable by the user's other processes, the programs of commands too.
        let command = WorkerCommand {
            id: worker,
            local_dir: Some(spill),
            secret_stdin: true,
            ..self.command.clone()
        };
        let mut child = tokio::process::Command::new(&self.exe)
            .args(command.to_args())
            .env_remove("SPINDLE_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            // Its own process group, holding the programs of its commands too: a kill
            // ends them all, as YARN's container kill does.
            .process_group(0)
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
                    if let Some(pid) = child.id() {
                        kill_group(pid);
                    }
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

/// SIGKILL to the process group `pid` leads: the worker and every program it started.
fn kill_group(pid: u32) {
    // SAFETY: killpg only sends a signal. The group is led by our own child, which has
    // not been waited for, so its id cannot have been reused.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
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
