//! The processes a local query's stages run in: one `spindle query-worker` per worker,
//! started by `spindle run`, each told the run's fresh secret on its standard input and
//! reached over authenticated connections. They end with the run, however it ends.

use spindle_appmaster::cmdline::QueryWorkerCommand;
use spindle_appmaster::query::{LostWorker, QueryPool};
use spindle_io::net::new_secret;
use spindle_query::remote::{worker_url, RemoteWorkers};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use url::Url;

/// A worker that has not said where it listens by then is not going to.
const STARTUP: Duration = Duration::from_secs(30);

/// What each worker is given.
#[derive(Clone)]
pub struct WorkerSetup {
    pub count: usize,
    pub memory_bytes: u64,
    pub encrypt: bool,
    /// A worker whose heartbeat stops for this long is lost (`workers.heartbeat_timeout`).
    pub silent_after: Duration,
}

/// Running worker processes; dropping this kills them.
pub struct WorkerProcesses {
    exe: PathBuf,
    setup: WorkerSetup,
    secret: Arc<str>,
    workers: Vec<Worker>,
    /// Workers started, replacements included.
    started: usize,
}

/// One worker process.
struct Worker {
    child: Child,
    /// Kept: the child forgets it once reaped.
    pid: u32,
    /// Held open: the worker stops when it closes.
    _stdin: ChildStdin,
    /// Its heartbeat: a byte every so often.
    beats: BufReader<ChildStdout>,
    url: Url,
    /// Why it was killed, if it was: told in place of how it ended.
    killed_for: Option<String>,
}

impl Worker {
    /// Waits for the worker to say where it listens.
    async fn started(index: usize, (child, stdin, stdout): Started) -> Result<Worker, String> {
        let mut beats = BufReader::new(stdout);
        let url = address(index, &mut beats).await?;
        Ok(Worker {
            pid: child.id().unwrap_or_default(),
            child,
            _stdin: stdin,
            beats,
            url,
            killed_for: None,
        })
    }
}

/// A worker process just started, and its pipes.
type Started = (Child, ChildStdin, ChildStdout);

impl WorkerProcesses {
    /// Starts the workers and waits until each has said where it listens.
    pub async fn start(setup: &WorkerSetup) -> Result<WorkerProcesses, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find spindle itself: {e}"))?;
        let mut processes = WorkerProcesses {
            exe,
            setup: setup.clone(),
            secret: new_secret().into(),
            workers: Vec::new(),
            started: 0,
        };
        // All start at once; then each is waited for.
        let mut starting = Vec::new();
        for _ in 0..setup.count.max(1) {
            starting.push(processes.spawn().await?);
        }
        for (i, started) in starting.into_iter().enumerate() {
            processes.workers.push(Worker::started(i, started).await?);
        }
        Ok(processes)
    }

    async fn spawn(&mut self) -> Result<Started, String> {
        self.started += 1;
        // A few beats within the time allowed: one late beat is not silence.
        let beat =
            (self.setup.silent_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let args = QueryWorkerCommand {
            memory_bytes: self.setup.memory_bytes,
            bind: None,
            encrypt: self.setup.encrypt,
            heartbeat_ms: beat.as_millis() as u64,
            worker_id: None,
        };
        let mut child = Command::new(&self.exe)
            .args(args.to_args())
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

impl QueryPool for WorkerProcesses {
    fn count(&self) -> usize {
        self.workers.len()
    }

    fn started(&self) -> usize {
        self.started
    }

    /// A process's end is seen at once.
    fn loss_settles(&self) -> Duration {
        Duration::from_millis(500)
    }

    /// The coordinator is this process, with a worker's memory.
    fn coordinator_memory(&self) -> u64 {
        self.setup.memory_bytes
    }

    fn remote(&self) -> RemoteWorkers {
        let urls = self.workers.iter().map(|w| w.url.clone()).collect();
        RemoteWorkers::new(urls, self.secret.clone())
    }

    /// Returns when a worker is lost (the query cannot finish without it): its process
    /// ended, or its heartbeat stopped for `silent_after` (a stopped process) and it was
    /// killed.
    async fn lost(&mut self) -> LostWorker {
        let silent_after = self.setup.silent_after;
        let waits = self.workers.iter_mut().enumerate().map(|(index, worker)| {
            Box::pin(async move {
                let pid = worker.pid;
                let message = tokio::select! {
                    ended = worker.child.wait() => match (ended, worker.killed_for.take()) {
                        (_, Some(why)) => why,
                        (Ok(status), None) => {
                            format!("query worker {index} (pid {pid}) ended: {status}")
                        }
                        (Err(e), None) => format!("query worker {index} (pid {pid}) is gone: {e}"),
                    },
                    () = silent(&mut worker.beats, silent_after) => {
                        // Said before the kill: the query may see the broken
                        // connection, and ask again, before this returns.
                        let why = format!(
                            "query worker {index} (pid {pid}) was silent for {}s \
                             (workers.heartbeat_timeout) and was killed",
                            silent_after.as_secs_f64()
                        );
                        worker.killed_for = Some(why.clone());
                        let _ = worker.child.kill().await;
                        worker.killed_for = None;
                        why
                    }
                };
                LostWorker { index, message }
            })
        });
        futures::future::select_all(waits).await.0
    }

    /// A process starts in milliseconds: the query waits for it.
    async fn replace(&mut self, index: usize) -> Result<(), String> {
        let started = self.spawn().await?;
        self.workers[index] = Worker::started(index, started).await?;
        Ok(())
    }
}

/// The first line a worker writes: where it listens.
async fn address(index: usize, stdout: &mut BufReader<ChildStdout>) -> Result<Url, String> {
    let mut line = String::new();
    match tokio::time::timeout(STARTUP, stdout.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => worker_url(line.trim()),
        Ok(_) => Err(format!("query worker {index} ended before it listened")),
        Err(_) => Err(format!(
            "query worker {index} did not listen within {}s",
            STARTUP.as_secs()
        )),
    }
}

/// Returns once `beats` has been silent for `limit`. At its end (the process ending) it
/// never returns: the process's exit says how it ended.
async fn silent(beats: &mut BufReader<ChildStdout>, limit: Duration) {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(limit, beats.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => continue,
            Ok(_) => return std::future::pending().await,
            Err(_) => return,
        }
    }
}
