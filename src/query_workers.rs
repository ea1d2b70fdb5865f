//! The processes a local query's stages run in: one `spindle query-worker` per worker,
//! started by `spindle run`, each told the run's fresh secret on its standard input and
//! reached over authenticated connections. They end with the run, however it ends.

use spindle_io::net::new_secret;
use spindle_query::remote::{worker_url, RemoteWorkers};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// A worker that has not said where it listens by then is not going to.
const STARTUP: Duration = Duration::from_secs(30);

/// Running worker processes; dropping this kills them.
pub struct WorkerProcesses {
    workers: Vec<(Child, ChildStdin)>,
}

/// What each worker is given.
pub struct WorkerSetup {
    pub count: usize,
    pub memory_bytes: u64,
    pub encrypt: bool,
}

/// Starts the workers and waits until each has said where it listens.
pub async fn start(setup: &WorkerSetup) -> Result<(WorkerProcesses, RemoteWorkers), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find spindle itself: {e}"))?;
    let secret: Arc<str> = new_secret().into();
    let mut processes = WorkerProcesses {
        workers: Vec::new(),
    };
    let mut outputs = Vec::new();
    for _ in 0..setup.count.max(1) {
        let mut cmd = Command::new(&exe);
        cmd.arg("query-worker")
            .arg("--memory-bytes")
            .arg(setup.memory_bytes.to_string());
        if setup.encrypt {
            cmd.arg("--encrypt");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start a query worker ({}): {e}", exe.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        stdin
            .write_all(format!("{secret}\n").as_bytes())
            .await
            .map_err(|e| format!("a query worker ended at start: {e}"))?;
        processes.workers.push((child, stdin));
        outputs.push(stdout);
    }
    let mut urls = Vec::new();
    for (i, stdout) in outputs.into_iter().enumerate() {
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        match tokio::time::timeout(STARTUP, stdout.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => urls.push(worker_url(line.trim())?),
            Ok(_) => return Err(format!("query worker {i} ended before it listened")),
            Err(_) => {
                return Err(format!(
                    "query worker {i} did not listen within {}s",
                    STARTUP.as_secs()
                ))
            }
        }
    }
    Ok((processes, RemoteWorkers::new(urls, secret)))
}

impl WorkerProcesses {
    /// Returns when a worker process ends (the query cannot finish without it), saying
    /// which and how.
    pub async fn lost(&mut self) -> String {
        let waits = self.workers.iter_mut().enumerate().map(|(i, (child, _))| {
            Box::pin(async move {
                let pid = child.id().unwrap_or_default();
                match child.wait().await {
                    Ok(status) => format!("query worker {i} (pid {pid}) ended: {status}"),
                    Err(e) => format!("query worker {i} (pid {pid}) is gone: {e}"),
                }
            })
        });
        futures::future::select_all(waits).await.0
    }
}
