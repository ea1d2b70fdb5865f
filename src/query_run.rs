//! `spindle run` of a query job (`inputs` + `query`): planned by DataFusion, its stages
//! run on worker processes (`spindle_appmaster::query` runs it, as the application master
//! does on YARN), its output committed as every other job's is. `stages` after the query
//! run as a stage job over its result, on the workers `spindle run` starts for them.

use crate::query_workers::{WorkerProcesses, WorkerSetup};
use crate::run::{commit_options, listen_for_signals, run_stages, worker_count, LocalStages};
use crate::ui;
use spindle_appmaster::commit::{CommitError, Committer, Inputs};
use spindle_appmaster::prepare::prepare_stages;
use spindle_appmaster::progress::{Status, Summary};
use spindle_appmaster::query::{options, run_query, then_stages, QueryPool};
use spindle_job::wire::Compression;
use spindle_job::QuerySpec;
use spindle_query::{PlannedQuery, QueryError, QueryWorkers};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// What `spindle run` was asked, beyond the spec.
pub struct QueryRunArgs<'a> {
    pub workers: Option<u32>,
    pub json: bool,
    /// No progress line.
    pub quiet: bool,
    pub summary_json: Option<&'a Path>,
}

/// Plans `spec`; a spec-level error (an input, the query) is printed naming the key.
pub async fn plan(
    spec: &QuerySpec,
    spec_path: &str,
    workers: QueryWorkers,
) -> Result<PlannedQuery, ExitCode> {
    spindle_query::plan(spec, &options(spec, workers, spec.workers.memory.bytes()))
        .await
        .map_err(|e| refused(spec_path, e))
}

/// A spec-level error, printed naming the key: the spec's fault, so exit code 2.
fn refused(spec_path: &str, e: QueryError) -> ExitCode {
    eprintln!("error: {spec_path}: {e}");
    ExitCode::from(2)
}

/// Runs `spec`'s stages over the query's result (summarized in `query`), committing their
/// output through `committer`.
async fn stages_after(
    spec: &QuerySpec,
    query: &Summary,
    committer: Committer,
    local: LocalStages<'_>,
    started: Instant,
) -> Summary {
    let stages = spec
        .stage_job(&committer.scratch().url())
        .expect("a query with stages");
    let summary = match prepare_stages(&stages, &committer, Compression::Auto).await {
        Ok(job) => run_stages(&stages, committer, job, local).await,
        Err(e) => {
            let _ = committer.abort().await;
            Summary::failed(&spec.name, e, started)
        }
    };
    then_stages(query, summary, started)
}

pub async fn run(spec: QuerySpec, spec_path: &str, args: QueryRunArgs<'_>) -> ExitCode {
    let started = Instant::now();
    let memory = spec.workers.memory.bytes();
    let setup = WorkerSetup {
        count: worker_count(args.workers, spec.workers.instances) as usize,
        memory_bytes: memory,
        encrypt: spec.encrypt,
        silent_after: spec.workers.heartbeat_timeout.duration(),
    };
    // The inputs are listed while the workers start: neither needs the other.
    let (processes, registered) = tokio::join!(
        WorkerProcesses::start(&setup),
        // The coordinator's own tasks get a worker's memory, as `plan` gives them.
        spindle_query::register(&spec, memory)
    );
    let registered = match registered {
        Ok(r) => r,
        Err(e) => return refused(spec_path, e),
    };
    let mut processes = match processes {
        Ok(started) => started,
        Err(e) => {
            let summary = Summary::failed(&spec.name, e, started);
            return ui::finish(&summary, args.json, args.summary_json);
        }
    };
    let workers = QueryWorkers::Remote(processes.remote());
    let opts = options(&spec, workers, memory);
    let planned = match spindle_query::plan_registered(registered, &spec, &opts).await {
        Ok(p) => p,
        Err(e) => return refused(spec_path, e),
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
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let signal = Arc::new(AtomicU8::new(0));
    listen_for_signals(cancel_tx, signal.clone());
    let (progress_tx, progress_rx) = watch::channel(Default::default());
    let bar = (!args.quiet && !args.json).then(|| ui::progress(progress_rx));
    let mut summary = run_query(
        &spec,
        &mut processes,
        planned,
        &committer,
        cancel_rx.clone(),
        Some(&progress_tx),
        started,
    )
    .await;
    if !spec.stages.is_empty() && summary.status == Status::Succeeded {
        // The query's workers end before the stages' start: each gets the memory asked.
        drop(processes);
        let local = LocalStages {
            workers: setup.count as u32,
            attempt: &commit.owner.attempt,
            cancel: cancel_rx,
            progress: progress_tx,
        };
        summary = stages_after(&spec, &summary, committer, local, started).await;
    }
    if let Some(bar) = bar {
        bar.abort();
        let _ = bar.await;
    }
    ui::clear_progress();
    let code = ui::finish(&summary, args.json, args.summary_json);
    match signal.load(Ordering::SeqCst) {
        n if n > 0 && summary.status == Status::Killed => ExitCode::from(128 + n),
        _ => code,
    }
}
