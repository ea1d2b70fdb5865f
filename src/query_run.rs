//! `spindle run` of a query job (`inputs` + `query`): planned by DataFusion, its stages
//! run on worker processes, its output committed as every other job's is. A worker that
//! dies is replaced and the query run again, up to `workers.max_restarts` times.

use crate::query_workers::{LostWorker, WorkerProcesses, WorkerSetup};
use crate::run::{commit_options, listen_for_signals, worker_count};
use crate::ui;
use spindle_appmaster::commit::{CommitError, Committer, Inputs};
use spindle_appmaster::progress::{Status, Summary};
use spindle_job::QuerySpec;
use spindle_query::{PlannedQuery, QueryError, QueryOptions, QueryWorkers, Written};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A failed run is blamed on a worker whose process ends within this long of it.
const LOSS_SETTLES: Duration = Duration::from_millis(500);

/// What `spindle run` was asked, beyond the spec.
pub struct QueryRunArgs<'a> {
    pub workers: Option<u32>,
    pub json: bool,
    pub summary_json: Option<&'a Path>,
}

/// Plans `spec`; a spec-level error (an input, the query) is printed naming the key.
pub async fn plan(
    spec: &QuerySpec,
    spec_path: &str,
    workers: QueryWorkers,
) -> Result<PlannedQuery, ExitCode> {
    spindle_query::plan(spec, &options(spec, workers))
        .await
        .map_err(|e| {
            eprintln!("error: {spec_path}: {e}");
            ExitCode::from(2)
        })
}

fn options(spec: &QuerySpec, workers: QueryWorkers) -> QueryOptions {
    QueryOptions {
        workers,
        bytes_per_partition: spec.split_size.map(|s| s.bytes() as usize),
        memory_per_worker: spec.workers.memory.bytes(),
    }
}

/// How one run of the query ended.
enum Attempt {
    Written(Written),
    Failed(String),
    /// A worker died; the query's error, if it noticed first.
    Lost(LostWorker, Option<String>),
    Killed,
}

pub async fn run(spec: QuerySpec, spec_path: &str, args: QueryRunArgs<'_>) -> ExitCode {
    let started = Instant::now();
    let setup = WorkerSetup {
        count: worker_count(args.workers, spec.workers.instances) as usize,
        memory_bytes: spec.workers.memory.bytes(),
        encrypt: spec.encrypt,
        silent_after: spec.workers.heartbeat_timeout.duration(),
    };
    let mut processes = match WorkerProcesses::start(&setup).await {
        Ok(started) => started,
        Err(e) => {
            let summary = Summary::failed(&spec.name, e, started);
            return ui::finish(&summary, args.json, args.summary_json);
        }
    };
    let mut planned = match plan(&spec, spec_path, QueryWorkers::Remote(processes.remote())).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let commit = match commit_options() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let patterns = spec.input_paths();
    let inputs = Inputs {
        patterns: &patterns,
        files: &planned.files,
    };
    let committer = match Committer::prepare(&spec.output, &spec.name, &inputs, &commit).await {
        Ok(c) => c,
        Err(CommitError::Refused(why)) => {
            eprintln!("error: {spec_path}: key `output.path`: {why}");
            return ExitCode::from(2);
        }
        Err(CommitError::Failed(e)) => {
            let summary = Summary::failed(&spec.name, e, started);
            return ui::finish(&summary, args.json, args.summary_json);
        }
    };
    let (cancel_tx, mut cancel_rx) = watch::channel(false);
    let signal = Arc::new(AtomicU8::new(0));
    listen_for_signals(cancel_tx, signal.clone());
    // The timeout bounds every run of the query together, not each.
    let deadline = tokio::time::Instant::now() + spec.timeout.duration();
    let mut lost = 0u32;
    let mut runs = 0u64;
    let outcome = loop {
        runs += 1;
        let attempt = tokio::select! {
            r = write(&planned, &spec, &committer, deadline) => match r {
                Ok(written) => Attempt::Written(written),
                Err(e) => match tokio::time::timeout(LOSS_SETTLES, processes.lost()).await {
                    Ok(worker) => Attempt::Lost(worker, Some(e)),
                    Err(_) => Attempt::Failed(e),
                },
            },
            worker = processes.lost() => Attempt::Lost(worker, None),
            _ = cancel_rx.wait_for(|stop| *stop) => Attempt::Killed,
        };
        let Attempt::Lost(worker, error) = attempt else {
            break attempt;
        };
        lost += 1;
        let why = match error {
            Some(e) => format!("{}; the query stopped: {e}", worker.message),
            None => worker.message,
        };
        if lost > spec.workers.max_restarts {
            break Attempt::Failed(format!(
                "{why} (workers.max_restarts is {})",
                spec.workers.max_restarts
            ));
        }
        tracing::warn!("{why}; running the query again on a replacement");
        let replanned = async {
            processes.replace(worker.index).await?;
            let workers = QueryWorkers::Remote(processes.remote());
            spindle_query::plan(&spec, &options(&spec, workers))
                .await
                .map_err(|e| e.to_string())
        };
        match replanned.await {
            Ok(p) => planned = p,
            Err(e) => break Attempt::Failed(format!("{why}; no replacement: {e}")),
        }
    };
    // A signal stops the query, never a commit under way.
    let outcome = match outcome {
        Attempt::Written(written) => match committer.commit(&written.files).await {
            Ok(_) => Attempt::Written(written),
            Err(e) => Attempt::Failed(format!("commit: {e}")),
        },
        other => other,
    };
    let mut summary = Summary::new(&spec.name, Status::Failed);
    summary.input_files = planned.files.len() as u64;
    summary.bytes_read = planned.input_bytes;
    summary.workers = setup.count as u32 + lost;
    summary.workers_lost = lost;
    summary.encrypted = spec.encrypt;
    let (_, tasks) = planned.stages();
    summary.tasks = tasks as u64;
    summary.task_attempts = tasks as u64 * runs;
    summary.retries = runs - 1;
    match outcome {
        Attempt::Written(written) => {
            summary.status = Status::Succeeded;
            summary.rows_out = written.rows;
            summary.rows_in = written.rows_in.unwrap_or(0);
            summary.bytes_written = written.bytes;
            summary.output_files = written.files.len() as u64;
            summary.output = Some(committer.output().url());
        }
        Attempt::Failed(e) => {
            let _ = committer.abort().await;
            summary.error = Some(e);
        }
        Attempt::Killed => {
            let _ = committer.abort().await;
            summary.status = Status::Killed;
        }
        Attempt::Lost(..) => unreachable!("a lost worker is replaced or fails the query"),
    }
    summary.wall_time_s = started.elapsed().as_secs_f64();
    let code = ui::finish(&summary, args.json, args.summary_json);
    match signal.load(Ordering::SeqCst) {
        n if n > 0 && summary.status == Status::Killed => ExitCode::from(128 + n),
        _ => code,
    }
}

/// Runs the query into the commit's staging directory, by the deadline.
async fn write(
    planned: &PlannedQuery,
    spec: &QuerySpec,
    committer: &Committer,
    deadline: tokio::time::Instant,
) -> Result<Written, String> {
    tokio::time::timeout_at(
        deadline,
        planned.write(spec.output.format, committer.staging()),
    )
    .await
    .map_err(|_| format!("the query ran longer than its timeout ({})", spec.timeout))?
    .map_err(|e: QueryError| e.to_string())
}
