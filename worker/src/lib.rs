//! The worker: joins the master, runs tasks on Arrow record batches, keeps their results
//! (spilling past its memory limit) and serves them to peers.

mod command;
mod data_server;
mod error;
mod exec;
mod fetch;
mod shuffle;
mod sql;
mod store;

pub use error::TaskError;
pub use shuffle::hash_bytes;

use exec::Executor;
use spindle_io::net::{connect_auth, decode_msg, encode_msg, read_frame, write_frame, Role};
use spindle_io::IoError;
use spindle_job::wire::{TaskStats, ToMaster, ToWorker, WorkerId};
use std::path::PathBuf;
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
}

/// Runs until the master says stop or goes away.
pub async fn run_worker(opts: WorkerOptions) -> Result<(), IoError> {
    let mut stream = connect_with_retry(&opts.master).await?;
    connect_auth(&mut stream, &opts.secret, Role::Master).await?;
    stream.set_nodelay(true)?;
    // Serve data on the interface the master sees us on.
    let ip = stream.local_addr()?.ip();
    let data_listener = TcpListener::bind((ip, 0)).await?;
    let data_addr = data_listener.local_addr()?.to_string();
    let secret: Arc<str> = Arc::from(opts.secret.as_str());
    let store = Arc::new(ResultStore::new(
        (opts.memory_bytes / 2).max(1 << 20),
        opts.local_dir.join("spill"),
    ));
    tokio::spawn(data_server::serve(
        data_listener,
        secret.clone(),
        store.clone(),
    ));
    info!(id = opts.id, %data_addr, "worker joined master {}", opts.master);

    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<ToMaster>();
    tx.send(ToMaster::Hello {
        worker: opts.id,
        host: opts.host.clone(),
        data_addr,
        slots: opts.slots,
        pid: std::process::id(),
    })
    .ok();
    let writer_task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let Ok(body) = encode_msg(&batch) else { break };
            if write_frame(&mut writer, &body).await.is_err() {
                break;
            }
        }
    });

    let slots = Arc::new(Semaphore::new(opts.slots.max(1) as usize));
    let mut executor: Option<Arc<Executor>> = None;
    loop {
        let Some(body) = read_frame(&mut reader).await? else {
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
                    )
                    .map_err(|e| IoError::Protocol(e.message))?;
                    executor = Some(Arc::new(ex));
                }
                ToWorker::Run(task) => {
                    let tx = tx.clone();
                    let ex = executor.clone();
                    let slots = slots.clone();
                    tokio::spawn(async move {
                        let _permit = slots.acquire_owned().await;
                        let (id, attempt) = (task.task, task.attempt);
                        let result = match (&ex, &task.input) {
                            (_, spindle_job::wire::TaskInput::Noop) => Ok(TaskStats::default()),
                            (Some(ex), _) => ex.run(&task).await,
                            (None, _) => Err(TaskError::retryable("task arrived before job setup")),
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
                        let _ = tx.send(msg);
                    });
                }
                ToWorker::Release { task } => store.release(task),
                ToWorker::Shutdown => {
                    debug!("shutdown requested");
                    drop(tx);
                    let _ = tokio::time::timeout(Duration::from_secs(2), writer_task).await;
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

async fn connect_with_retry(addr: &str) -> Result<TcpStream, IoError> {
    let mut delay = Duration::from_millis(50);
    for _ in 0..8 {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                debug!(%addr, error = %e, "master not reachable yet");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    Ok(TcpStream::connect(addr).await?)
}
