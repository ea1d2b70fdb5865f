//! The driver: one event loop that feeds the scheduler core with what workers, the
//! launcher and the clock report, and carries out its decisions. Local mode and YARN
//! differ only in the [`ContainerLauncher`] behind it. The reactions live in
//! [`state`], fed with the time of each event, so tests drive them without sockets.

mod blame;
mod state;
#[cfg(test)]
mod tests;

use crate::cmdline::heartbeat_interval;
use crate::commit::Committer;
use crate::job::JobDef;
use crate::launcher::{ContainerLauncher, LauncherEvent};
use crate::progress::{Progress, Status, Summary};
use crate::server::{serve, Liveness};
use spindle_io::channel::Wire;
use spindle_job::wire::{ToWorker, WorkerId};
use state::{Driver, Slot};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::warn;

pub struct DriverOptions {
    pub workers: u32,
    pub max_restarts: u32,
    pub max_attempts: u32,
    pub locality_wait: Duration,
    /// Host to rack, where the cluster says (YARN): a scan on another host of its
    /// split's rack is rack-local.
    pub racks: HashMap<String, String>,
    /// How long a launched worker may take to connect.
    pub join_timeout: Duration,
    /// A worker silent this long is lost (its launcher must start workers that heartbeat
    /// at [`heartbeat_interval`] of it).
    pub heartbeat_timeout: Duration,
    pub committer: Option<Committer>,
    pub progress: Option<watch::Sender<Progress>>,
    /// Flips to true when the user asks to stop (Ctrl-C, `spindle kill`).
    pub cancel: Option<watch::Receiver<bool>>,
    pub logs: Option<String>,
    /// Whether workers' connections to the master (and so to each other) are encrypted.
    pub wire: Wire,
    /// Fresh delegation tokens (Credentials files) as the master obtains them, for the
    /// workers.
    pub tokens: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
}

/// Runs a job to its end with workers from `launcher`, which must start workers that
/// connect to `listener` with `secret`.
pub async fn run_job(
    job: JobDef,
    listener: TcpListener,
    secret: &str,
    launcher: &mut dyn ContainerLauncher,
    mut launcher_events: mpsc::UnboundedReceiver<LauncherEvent>,
    opts: DriverOptions,
) -> Summary {
    let started = Instant::now();
    let (server_tx, mut server_rx) = mpsc::unbounded_channel();
    let liveness = Liveness {
        interval: heartbeat_interval(opts.heartbeat_timeout),
        timeout: opts.heartbeat_timeout,
    };
    let server = tokio::spawn(serve(
        listener,
        Arc::from(secret),
        opts.wire,
        liveness,
        server_tx,
    ));
    let n = job.graph.len();
    let mut d = Driver::new(job, opts, launcher, started);
    d.start(started);
    let mut cancel = d.opts.cancel.take();
    let mut tokens = d.opts.tokens.take();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut status = None;
    while status.is_none() {
        status = d.outcome();
        if status.is_some() {
            break;
        }
        // In this order: what workers said is heard before the clock judges their
        // silence, however long the loop was held up.
        tokio::select! {
            biased;
            _ = cancelled(&mut cancel) => {
                d.error = Some("killed by user".into());
                status = Some(Status::Killed);
            }
            Some(ev) = server_rx.recv() => {
                d.on_server(ev, Instant::now());
                while let Ok(ev) = server_rx.try_recv() { d.on_server(ev, Instant::now()); }
            }
            Some(ev) = launcher_events.recv() => d.on_launcher(ev, Instant::now()),
            Some(credentials) = next_tokens(&mut tokens) => d.on_tokens(credentials),
            _ = tick.tick() => {
                while let Ok(ev) = server_rx.try_recv() { d.on_server(ev, Instant::now()); }
                d.on_tick(Instant::now());
                d.publish();
            }
        }
        d.dispatch(Instant::now());
    }
    let status = status.unwrap_or(Status::Failed);
    // Stop every worker before touching the output, so no straggling attempt can write
    // into the staging directory after it has been committed or removed.
    shutdown(&mut d, &mut launcher_events).await;
    let mut bytes_written = 0;
    let mut status = status;
    if let Some(c) = &d.opts.committer {
        if status == Status::Succeeded {
            let files: Vec<(u32, String)> = d
                .output_files
                .iter()
                .map(|(t, f)| (*t, f.clone()))
                .collect();
            match c.commit(&files).await {
                Ok(b) => bytes_written = b,
                Err(e) => {
                    d.error = Some(format!("commit failed: {e}"));
                    status = Status::Failed;
                    let _ = c.abort().await;
                }
            }
        } else if let Err(e) = c.abort().await {
            warn!(error = %e, "could not remove staged output");
        }
    }
    server.abort();
    d.publish();
    Summary {
        job: d.job.name.clone(),
        status,
        error: d.error.clone(),
        input_files: d.job.input_files as u64,
        rows_in: d.progress.rows_in,
        bytes_read: d.progress.bytes_read,
        rows_out: d.progress.rows_out,
        bytes_written,
        spilled_bytes: d.progress.spilled_bytes,
        output: d.opts.committer.as_ref().map(|c| c.output().url()),
        output_files: if status == Status::Succeeded {
            d.output_files.len() as u64
        } else {
            0
        },
        tasks: n as u64,
        task_attempts: d.task_attempts,
        retries: d.sched.retries(),
        workers: d.next_worker - 1,
        workers_lost: d.workers_lost,
        locality: d.locality.clone(),
        wall_time_s: started.elapsed().as_secs_f64(),
        scan_time_s: d
            .scan_span
            .map_or(0.0, |(a, b)| b.saturating_duration_since(a).as_secs_f64()),
        encrypted: d.opts.wire == Wire::Encrypted,
        logs: d.opts.logs.clone(),
    }
}

async fn next_tokens(rx: &mut Option<mpsc::UnboundedReceiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn cancelled(rx: &mut Option<watch::Receiver<bool>>) {
    match rx {
        Some(rx) => loop {
            if *rx.borrow() {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        },
        None => std::future::pending().await,
    }
}

/// Asks every live worker to stop, waits briefly, then kills the rest.
async fn shutdown(d: &mut Driver<'_>, events: &mut mpsc::UnboundedReceiver<LauncherEvent>) {
    let mut waiting = 0;
    for (w, slot) in &d.slots {
        match slot {
            Slot::Live { outbox, .. } => {
                let _ = outbox.send(vec![ToWorker::Shutdown]);
                waiting += 1;
            }
            Slot::Launching(_) => {
                d.launcher.kill(*w);
                waiting += 1;
            }
            Slot::Gone => {}
        }
    }
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    while waiting > 0 {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(LauncherEvent::Exited { worker, .. }) => {
                    if !matches!(d.slots.insert(worker, Slot::Gone), Some(Slot::Gone) | None) {
                        waiting -= 1;
                    }
                }
                Some(LauncherEvent::Fatal(_) | LauncherEvent::Started { .. }) => {}
                None => break,
            },
            _ = &mut deadline => break,
        }
    }
    let left: Vec<WorkerId> = d
        .slots
        .iter()
        .filter(|(_, s)| !matches!(s, Slot::Gone))
        .map(|(w, _)| *w)
        .collect();
    for w in left {
        d.launcher.kill(w);
    }
}
