//! The processes a local query's stages run in: one `spindle query-worker` per worker,
//! started by `spindle run`, each told the run's fresh secret on its standard input and
//! reached over authenticated connections. They end with the run, however it ends.

use spindle_io::net::new_secret;
use spindle_query::remote::{worker_url, RemoteWorkers};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use url::Url;

/// A worker that has not said where it listens by then is not going to.
const STARTUP: Duration = Duration::from_secs(30);

/// What each worker is given.
pub struct WorkerSetup {
    pub count: usize,
    pub memory_bytes: u64,
    pub encrypt: bool,
}

/// Running worker processes; dropping this kills them.
pub struct WorkerProcesses {
    exe: PathBuf,
    memory_bytes: u64,
    encrypt: bool,
    secret: Arc<str>,
    /// Each worker's process, the pipe that keeps it alive, and its URL.
    workers: Vec<(Child, ChildStdin, Url)>,
}

/// A worker whose process ended.
pub struct LostWorker {
    pub index: usize,
    /// Which worker, and how it ended.
    pub message: String,
}

impl WorkerProcesses {
    /// Starts the workers and waits until each has said where it listens.
    pub async fn start(setup: &WorkerSetup) -> Result<WorkerProcesses, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find spindle itself: {e}"))?;
        let mut processes = WorkerProcesses {
            exe,
            memory_bytes: setup.memory_bytes,
            encrypt: setup.encrypt,
            secret: new_secret().into(),
            workers: Vec::new(),
        };
        // All start at once; then each is waited for.
        let mut starting = Vec::new();
        for _ in 0..setup.count.max(1) {
            starting.push(processes.spawn().await?);
        }
        for (i, (child, stdin, stdout)) in starting.into_iter().enumerate() {
            let url = address(i, stdout).await?;
            processes.workers.push((child, stdin, url));
        }
        Ok(processes)
    }

    /// The workers, as the query's coordinator reaches them.
    pub fn remote(&self) -> RemoteWorkers {
        let urls = self.workers.iter().map(|(_, _, url)| url.clone()).collect();
        RemoteWorkers::new(urls, self.secret.clone())
    }

    /// Returns when a worker process ends (the query cannot finish without it).
    pub async fn lost(&mut self) -> LostWorker {
        let waits = self
            .workers
            .iter_mut()
            .enumerate()
            .map(|(index, (child, _, _))| {
                Box::pin(async move {
                    let pid = child.id().unwrap_or_default();
                    let message = match child.wait().await {
                        Ok(status) => format!("query worker {index} (pid {pid}) ended: {status}"),
                        Err(e) => format!("query worker {index} (pid {pid}) is gone: {e}"),
                    };
                    LostWorker { index, message }
                })
            });
        futures::future::select_all(waits).await.0
    }

    /// Starts a new process in place of worker `index`.
    pub async fn replace(&mut self, index: usize) -> Result<(), String> {
        let (child, stdin, stdout) = self.spawn().await?;
        let url = address(index, stdout).await?;
        self.workers[index] = (child, stdin, url);
        Ok(())
    }

    async fn spawn(&self) -> Result<(Child, ChildStdin, ChildStdout), String> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("query-worker")
            .arg("--memory-bytes")
            .arg(self.memory_bytes.to_string());
        if self.encrypt {
            cmd.arg("--encrypt");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start a query worker ({}): {e}", self.exe.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        stdin
            .write_all(format!("{}\n", self.secret).as_bytes())
            .await
            .map_err(|e| format!("a query worker ended at start: {e}"))?;
        Ok((child, stdin, stdout))
    }
}

/// The first line a worker writes: where it listens.
async fn address(index: usize, stdout: ChildStdout) -> Result<Url, String> {
    let mut line = String::new();
    let mut stdout = BufReader::new(stdout);
    match tokio::time::timeout(STARTUP, stdout.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => worker_url(line.trim()),
        Ok(_) => Err(format!("query worker {index} ended before it listened")),
        Err(_) => Err(format!(
            "query worker {index} did not listen within {}s",
            STARTUP.as_secs()
        )),
    }
}
