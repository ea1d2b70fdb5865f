//! The worker: joins the master, runs tasks on Arrow record batches, keeps their results
//! (spilling past its memory limit) and serves them to peers.

mod command;
mod data_server;
mod error;
mod exec;
mod fetch;
mod process_tree;
mod shuffle;
mod slot;
mod sql;
mod store;
mod transfer;

pub use error::TaskError;
pub use shuffle::hash_bytes;

use exec::Executor;
use futures::FutureExt;
use slot::Slot;
use spindle_io::net::{
    connect_auth, decode_msg, encode_msg, read_frame_within, seconds, within, write_frame, Role,
};
use spindle_io::IoError;
use spindle_job::wire::{RunTask, TaskStats, ToMaster, ToWorker, WorkerId};
use spindle_job::Timeout;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::ResultStore;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn};

pub struct WorkerOptions {
    pub master: String,
    pub id: WorkerId,
    pub slots: u32,
    /// Result bytes kept in memory before spilling.
    pub memory_bytes: u64,
    pub local_dir: PathBuf,
    pub secret: String,
    /// Host name reported for locality.
    pub host: String,
    /// How often to tell the master this worker is alive.
    pub heartbeat: Duration,
    /// Silence from the master, or from a peer mid-transfer, after which this worker gives
    /// up on it.
    pub peer_timeout: Duration,
    /// Called with the data server's address once it listens, to make it known beyond
    /// the master (in YARN: a key the worker's container owns in the key-value store).
    pub announce: Option<Announce>,
    /// Called with fresh delegation tokens (a Credentials file) when the master sends
    /// them; in YARN it replaces the container's credentials file.
    pub on_tokens: Option<OnTokens>,
}

/// Takes fresh tokens; failures are the hook's to report.
pub type OnTokens = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Publishes a worker's data address; failures are the hook's to report.
pub type Announce = Box<dyn FnOnce(String) -> futures::future::BoxFuture<'static, ()> + Send>;

/// Runs until the master says stop or goes away.
pub async fn run_worker(mut opts: WorkerOptions) -> Result<(), IoError> {
    let mut stream = connect_with_retry(&opts.master).await?;
    let session = connect_auth(&mut stream, &opts.secret, Role::Master).await?;
    stream.set_nodelay(true)?;
    // Serve data on the interface the master sees us on, as privately as the master
    // serves.
    let ip = stream.local_addr()?.ip();
    let wire = session.wire();
    let data_listener = TcpListener::bind((ip, 0)).await?;
    let data_addr = data_listener.local_addr()?.to_string();
    let secret: Arc<str> = Arc::from(opts.secret.as_str());
    let store = Arc::new(ResultStore::new(
        (opts.memory_bytes / 2).max(1 << 20),
        opts.local_dir.join("spill"),
    ));
    let data_server = tokio::spawn(data_server::serve(
        data_listener,
        secret.clone(),
        wire,
        store.clone(),
        opts.peer_timeout,
    ));
    info!(id = opts.id, %data_addr, "worker joined master {}", opts.master);
    if let Some(announce) = opts.announce.take() {
        tokio::spawn(announce(data_addr.clone()));
    }

    let (mut reader, mut writer) = session.channel(stream).into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<ToMaster>();
    tx.send(ToMaster::Hello {
        worker: opts.id,
        host: opts.host.clone(),
        data_addr,
        slots: opts.slots,
        pid: std::process::id(),
    })
    .ok();
    let peer_timeout = opts.peer_timeout;
    let writer_task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let Ok(body) = encode_msg(&batch) else { break };
            // A master that stops reading is gone, as one that stops writing is.
            if within(peer_timeout, write_frame(&mut writer, &body))
                .await
                .is_err()
            {
                break;
            }
        }
    });

    let beat = tx.clone();
    let heartbeat = tokio::spawn(async move {
        let mut every = tokio::time::interval(opts.heartbeat);
        loop {
            every.tick().await;
            if beat.send(ToMaster::Heartbeat).is_err() {
                return;
            }
        }
    });
    // Whatever ends this loop ends the worker: stop the heartbeat and the data server.
    let _stop = AbortOnDrop(vec![heartbeat.abort_handle(), data_server.abort_handle()]);

    let slot_count = opts.slots.max(1) as usize;
    let slots = Arc::new(Semaphore::new(slot_count));
    // Tasks received and not yet finished (uploads included); past the slots, a new one
    // reads ahead while it waits.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut executor: Option<Arc<Executor>> = None;
    loop {
        // The master writes at least every heartbeat; silence means it froze or its host
        // vanished without a reset.
        let frame = read_frame_within(&mut reader, opts.peer_timeout)
            .await
            .map_err(|_| {
                IoError::Protocol(format!(
                    "the master was silent for {}; stopping",
                    seconds(opts.peer_timeout)
                ))
            })?;
        let Some(body) = frame else {
            info!("master closed the connection; stopping");
            break;
        };
        let msgs: Vec<ToWorker> = decode_msg(&body)?;
        for msg in msgs {
            match msg {
                ToWorker::Setup(setup) => {
                    let ex = Executor::new(
                        *setup,
                        store.clone(),
                        secret.clone(),
                        opts.id,
                        opts.local_dir.clone(),
                        opts.peer_timeout,
                    )
                    .map_err(|e| IoError::Protocol(e.message))?;
                    executor = Some(Arc::new(ex));
                }
                ToWorker::Run(task) => {
                    let tx = tx.clone();
                    let ex = executor.clone();
                    let slots = slots.clone();
                    // A prefetched scan waits for a slot: its bytes need not.
                    let before = in_flight.fetch_add(1, Ordering::SeqCst);
                    if before >= slot_count {
                        if let Some(ex) = &ex {
                            ex.read_ahead(&task);
                        }
                    }
                    let in_flight = in_flight.clone();
                    tokio::spawn(async move {
                        let (id, attempt) = (task.task, task.attempt);
                        let storing = tx.clone();
                        // Closed never: the semaphore lives as long as this loop.
                        let mut slot = Slot::new(slots.acquire_owned().await.ok(), move || {
                            let _ = storing.send(ToMaster::Storing { task: id, attempt });
                        });
                        let run = run_task(ex.as_deref(), &task, &mut slot);
                        tokio::pin!(run);
                        // Most tasks end sooner: one message each, not two.
                        let result = tokio::select! {
                            r = &mut run => r,
                            _ = tokio::time::sleep(REPORT_BEGUN_AFTER) => {
                                let _ = tx.send(ToMaster::Started { task: id, attempt });
                                run.await
                            }
                        };
                        let msg = match result {
                            Ok(stats) => ToMaster::Done {
                                task: id,
                                attempt,
                                stats,
                            },
                            Err(e) => {
                                warn!(task = id, error = %e.message, "task failed");
                                ToMaster::Failed {
                                    task: id,
                                    attempt,
                                    kind: e.kind,
                                    error: e.message,
                                }
                            }
                        };
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let _ = tx.send(msg);
                    });
                }
                ToWorker::Release { task } => store.release(task),
                ToWorker::Tokens(credentials) => match &opts.on_tokens {
                    Some(take) => take(&credentials),
                    None => debug!("fresh tokens, and nowhere to put them"),
                },
                ToWorker::Shutdown => {
                    debug!("shutdown requested");
                    heartbeat.abort();
                    drop(tx);
                    let _ = tokio::time::timeout(Duration::from_secs(2), writer_task).await;
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// A task still running this long after it got its slot is reported begun: from then
/// on its worker's loss counts against its attempts, and the master times it.
const REPORT_BEGUN_AFTER: Duration = Duration::from_millis(100);

/// Runs one task within its phase's time limit; a panic inside becomes the task's failure
/// instead of a silent end.
async fn run_task(
    ex: Option<&Executor>,
    task: &RunTask,
    slot: &mut Slot,
) -> Result<TaskStats, TaskError> {
    let ex = match (ex, &task.input) {
        (_, spindle_job::wire::TaskInput::Noop) => return Ok(TaskStats::default()),
        (Some(ex), _) => ex,
        (None, _) => return Err(TaskError::retryable("task arrived before job setup")),
    };
    guarded(
        ex.setup.plan.phase_timeout(task.phase as usize),
        ex.run(task, slot),
    )
    .await
}

/// `run` within `limit`, with a panic turned into a failure carrying its message.
async fn guarded(
    limit: Duration,
    run: impl std::future::Future<Output = Result<TaskStats, TaskError>>,
) -> Result<TaskStats, TaskError> {
    let run = std::panic::AssertUnwindSafe(run).catch_unwind();
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(TaskError::retryable(format!(
            "panicked: {}",
            panic_message(panic.as_ref())
        ))),
        Err(_) => Err(TaskError::retryable(format!(
            "ran past its task_timeout of {}",
            Timeout(limit)
        ))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Aborts background tasks when the worker's main loop ends, however it ends.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// How long one attempt to reach the master may take: a host that drops the connection
/// attempt silently would otherwise hold each for the kernel's two minutes of retries.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

async fn connect_with_retry(addr: &str) -> Result<TcpStream, IoError> {
    let attempt = || within(CONNECT_WITHIN, TcpStream::connect(addr));
    let mut delay = Duration::from_millis(50);
    for _ in 0..8 {
        match attempt().await {
            Ok(s) => return Ok(s),
            Err(e) => {
                debug!(%addr, error = %e, "master not reachable yet");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    attempt().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_fails_with_its_message() {
        let err = guarded(Duration::from_secs(5), async {
            let v: Vec<u8> = vec![];
            if v.is_empty() {
                panic!("index {} out of range", 3);
            }
            Ok(TaskStats::default())
        })
        .await
        .unwrap_err();
        assert_eq!(err.message, "panicked: index 3 out of range");
        assert_eq!(err.kind, spindle_job::wire::FailureKind::Retryable);
    }

    #[tokio::test]
    async fn a_task_past_its_limit_is_stopped_and_says_so() {
        let started = std::time::Instant::now();
        let err = guarded(Duration::from_millis(200), async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(TaskStats::default())
        })
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.message, "ran past its task_timeout of 200ms");
    }
}
