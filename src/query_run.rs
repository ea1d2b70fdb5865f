//! `spindle run` of a query job (`inputs` + `query`): planned by DataFusion, its stages
//! run on workers, its output committed as every other job's is.

use crate::query_workers::{self, WorkerProcesses, WorkerSetup};
use crate::run::{commit_options, listen_for_signals, worker_count};
use crate::ui;
use spindle_appmaster::commit::{CommitError, Committer, Inputs};
use spindle_appmaster::progress::{Status, Summary};
use spindle_job::QuerySpec;
use spindle_query::{PlannedQuery, QueryError, QueryOptions, QueryWorkers};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    let opts = QueryOptions {
        workers,
        bytes_per_partition: spec.split_size.map(|s| s.bytes() as usize),
        memory_per_worker: spec.workers.memory.bytes(),
    };
    spindle_query::plan(spec, &opts).await.map_err(|e| {
        eprintln!("error: {spec_path}: {e}");
        ExitCode::from(2)
    })
}

pub async fn run(spec: QuerySpec, spec_path: &str, args: QueryRunArgs<'_>) -> ExitCode {
    let started = Instant::now();
    let setup = WorkerSetup {
        count: worker_count(args.workers, spec.workers.instances) as usize,
        memory_bytes: spec.workers.memory.bytes(),
        encrypt: spec.encrypt,
    };
    let (mut processes, workers) = match query_workers::start(&setup).await {
        Ok(started) => started,
        Err(e) => {
            let summary = Summary::failed(&spec.name, e, started);
            return ui::finish(&summary, args.json, args.summary_json);
        }
    };
    let planned = match plan(&spec, spec_path, QueryWorkers::Remote(workers)).await {
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
    let outcome = tokio::select! {
        r = write(&planned, &spec, &committer) => Some(match r {
            Err(e) => Err(blame_lost_worker(&mut processes, e).await),
            written => written,
        }),
        lost = processes.lost() => Some(Err(lost)),
        _ = cancel_rx.wait_for(|stop| *stop) => None,
    };
    // A signal stops the query, never a commit under way.
    let outcome = match outcome {
        Some(Ok(written)) => Some(match committer.commit(&written.files).await {
            Ok(_) => Ok(written),
            Err(e) => Err(format!("commit: {e}")),
        }),
        other => other,
    };
    let mut summary = Summary::new(&spec.name, Status::Failed);
    summary.input_files = planned.files.len() as u64;
    summary.bytes_read = planned.input_bytes;
    summary.workers = setup.count as u32;
    summary.encrypted = spec.encrypt;
    let (_, tasks) = planned.stages();
    summary.tasks = tasks as u64;
    summary.task_attempts = tasks as u64;
    match outcome {
        Some(Ok(written)) => {
            summary.status = Status::Succeeded;
            summary.rows_out = written.rows;
            summary.bytes_written = written.bytes;
            summary.output_files = written.files.len() as u64;
            summary.output = Some(committer.output().url());
        }
        Some(Err(e)) => {
            let _ = committer.abort().await;
            summary.error = Some(e);
        }
        None => {
            let _ = committer.abort().await;
            summary.status = Status::Killed;
        }
    }
    summary.wall_time_s = started.elapsed().as_secs_f64();
    let code = ui::finish(&summary, args.json, args.summary_json);
    match signal.load(Ordering::SeqCst) {
        n if n > 0 && summary.status == Status::Killed => ExitCode::from(128 + n),
        _ => code,
    }
}

/// Runs the query into the commit's staging directory, within the spec's timeout.
async fn write(
    planned: &PlannedQuery,
    spec: &QuerySpec,
    committer: &Committer,
) -> Result<spindle_query::Written, String> {
    let limit = spec.timeout.duration();
    tokio::time::timeout(
        limit,
        planned.write(spec.output.format, committer.staging()),
    )
    .await
    .map_err(|_| format!("the query ran longer than its timeout ({})", spec.timeout))?
    .map_err(|e: QueryError| e.to_string())
}

/// A query whose worker died fails with a broken connection first; the worker's end is
/// the reason to report, when it follows within moments.
async fn blame_lost_worker(processes: &mut WorkerProcesses, error: String) -> String {
    match tokio::time::timeout(Duration::from_millis(500), processes.lost()).await {
        Ok(lost) => format!("{lost}; the query stopped: {error}"),
        Err(_) => error,
    }
}
