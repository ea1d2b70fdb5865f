//! A query job's run, the same for `spindle run` (worker processes) and the application
//! master (worker containers): the planned query written into the commit's staging
//! directory by its deadline; a lost worker replaced and the query run again, up to
//! `workers.max_restarts` times; then the commit, or the staged output removed.

use crate::commit::Committer;
use crate::progress::{LocalityCounts, Progress, Status, Summary};
use spindle_job::{OutputFormat, QuerySpec};
use spindle_query::locality::{Blocks, Tally};
use spindle_query::remote::RemoteWorkers;
use spindle_query::{EarlierRun, PlannedQuery, QueryError, QueryOptions, QueryWorkers, Written};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The workers a query's stages run on, wherever they are.
pub trait QueryPool {
    /// How many workers the query runs on.
    fn count(&self) -> usize;
    /// How many workers were started, replacements included.
    fn started(&self) -> usize;
    /// What the coordinator's own tasks (the final stage) may hold, in bytes: where
    /// the coordinator runs decides it.
    fn coordinator_memory(&self) -> u64;
    /// The workers, as the query's coordinator reaches them.
    fn remote(&self) -> RemoteWorkers;
    /// Returns when a worker is lost: the query cannot finish without it.
    fn lost(&mut self) -> impl Future<Output = LostWorker>;
    /// How long after a failed run a lost worker may still be reported: the failure is
    /// blamed on it (and the query run again) if it is.
    fn loss_settles(&self) -> Duration;
    /// Starts a worker in place of worker `index`, which is gone, and returns once the
    /// query can run again: when the newcomer serves, or, where workers are slow to come
    /// (containers), at once while others remain (the newcomer joins a later run).
    fn replace(&mut self, index: usize) -> impl Future<Output = Result<(), String>>;
}

/// A worker that is gone.
pub struct LostWorker {
    pub index: usize,
    /// Which worker, and how it ended.
    pub message: String,
}

/// The query's planning options for `spec` over `workers`, with `memory` for the tasks
/// that run where it is planned.
pub fn options(spec: &QuerySpec, workers: QueryWorkers, memory: u64) -> QueryOptions {
    let compress = match &workers {
        QueryWorkers::Remote(remote) => !remote.on_this_machine(),
        QueryWorkers::InProcess(_) => false,
    };
    QueryOptions {
        compress,
        workers,
        bytes_per_partition: spec.split_size.map(|s| s.bytes() as usize),
        memory_per_worker: memory,
        blocks: None,
        earlier: None,
    }
}

/// Plans `spec` over the pool's workers, with the inputs' blocks if already known and
/// what the query's earlier run (if any) leaves to the next.
pub async fn plan(
    spec: &QuerySpec,
    pool: &impl QueryPool,
    blocks: Option<Arc<Blocks>>,
    earlier: Option<EarlierRun>,
) -> Result<PlannedQuery, QueryError> {
    let workers = QueryWorkers::Remote(pool.remote());
    let opts = QueryOptions {
        blocks,
        earlier,
        ..options(spec, workers, pool.coordinator_memory())
    };
    spindle_query::plan(spec, &opts).await
}

/// What becomes of a query's result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ResultGoes {
    /// Committed as the job's output.
    ToOutput,
    /// Written as parquet into the commit's scratch directory for the job's `stages` to
    /// read; nothing is committed (the stages' output is, later).
    ToStages,
}

impl ResultGoes {
    fn of(spec: &QuerySpec) -> ResultGoes {
        match spec.stages.is_empty() {
            true => ResultGoes::ToOutput,
            false => ResultGoes::ToStages,
        }
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

/// How often a running query's progress is published.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Runs `planned` (planned over `pool`) until it is committed (or, for a spec with
/// `stages`, its result is ready for them in the commit's scratch directory), fails, or
/// `cancel` says stop; the summary says which, and `progress` (if any) says how far it
/// got meanwhile. Staged output is removed when the query fails; a commit under way is
/// never cut short.
pub async fn run_query(
    spec: &QuerySpec,
    pool: &mut impl QueryPool,
    mut planned: PlannedQuery,
    committer: &Committer,
    mut cancel: watch::Receiver<bool>,
    progress: Option<&watch::Sender<Progress>>,
    started: Instant,
) -> Summary {
    let goes = ResultGoes::of(spec);
    // The timeout bounds every run of the query together, not each.
    let deadline = tokio::time::Instant::now() + spec.timeout.duration();
    let mut lost = 0u32;
    let mut runs = 0u64;
    let outcome = loop {
        runs += 1;
        let (stages, tasks) = planned.stages();
        let so_far = Progress {
            tasks_total: tasks as u64,
            workers: pool.count() as u32,
            retries: runs - 1,
            query_stages: stages as u64,
            ..Progress::default()
        };
        let writing = write(&planned, spec, committer, goes, deadline);
        let attempt = tokio::select! {
            r = reporting(writing, &planned, progress, so_far) => match r {
                Ok(written) => Attempt::Written(written),
                Err(e) => match tokio::time::timeout(pool.loss_settles(), pool.lost()).await {
                    Ok(worker) => Attempt::Lost(worker, Some(e)),
                    Err(_) => Attempt::Failed(e),
                },
            },
            worker = pool.lost() => Attempt::Lost(worker, None),
            _ = cancel.wait_for(|stop| *stop) => Attempt::Killed,
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
        tracing::warn!("{why}; replacing it and running the query again");
        let (blocks, earlier) = (planned.blocks(), planned.earlier_run());
        let replanned = async {
            pool.replace(worker.index).await?;
            let planned = plan(spec, pool, blocks, Some(earlier)).await;
            planned.map_err(|e| e.to_string())
        };
        // A replacement may be slow to come (a full cluster): the wait is the query's
        // time too, and a signal ends it.
        let replanned = tokio::select! {
            r = replanned => Some(r),
            _ = tokio::time::sleep_until(deadline) => Some(Err(format!(
                "none came within the query's timeout ({})",
                spec.timeout
            ))),
            _ = cancel.wait_for(|stop| *stop) => None,
        };
        match replanned {
            Some(Ok(p)) => planned = p,
            Some(Err(e)) => break Attempt::Failed(format!("{why}; no replacement: {e}")),
            None => break Attempt::Killed,
        }
    };
    // A signal stops the query, never a commit under way.
    let outcome = match outcome {
        Attempt::Written(written) if goes == ResultGoes::ToStages => Attempt::Written(written),
        Attempt::Written(written) => match committer.commit(&written.files).await {
            Ok(_) => Attempt::Written(written),
            Err(e) => Attempt::Failed(format!("commit: {e}")),
        },
        other => other,
    };
    let mut summary = Summary::new(&spec.name, Status::Failed);
    summary.input_files = planned.files.len() as u64;
    summary.bytes_read = planned.input_bytes;
    summary.workers = pool.started() as u32;
    summary.workers_lost = lost;
    summary.encrypted = spec.encrypt;
    summary.locality = locality_counts(planned.locality());
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
            if goes == ResultGoes::ToOutput {
                summary.output = Some(committer.output().url());
            }
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
    summary
}

/// One summary of a query and the stages that ran over its result: what was read is the
/// query's, what was written the stages', the work both's.
pub fn then_stages(query: &Summary, stages: Summary, started: Instant) -> Summary {
    Summary {
        input_files: query.input_files,
        rows_in: query.rows_in,
        bytes_read: query.bytes_read,
        locality: query.locality.clone(),
        scan_time_s: query.scan_time_s,
        spilled_bytes: query.spilled_bytes + stages.spilled_bytes,
        tasks: query.tasks + stages.tasks,
        task_attempts: query.task_attempts + stages.task_attempts,
        retries: query.retries + stages.retries,
        workers: query.workers.max(stages.workers),
        workers_lost: query.workers_lost + stages.workers_lost,
        encrypted: query.encrypted && stages.encrypted,
        wall_time_s: started.elapsed().as_secs_f64(),
        ..stages
    }
}

/// `fut`'s output; meanwhile `progress` hears, every [`PROGRESS_EVERY`], how many rows
/// `planned` has put out (added to `so_far`).
async fn reporting<T>(
    fut: impl Future<Output = T>,
    planned: &PlannedQuery,
    progress: Option<&watch::Sender<Progress>>,
    so_far: Progress,
) -> T {
    let Some(progress) = progress else {
        return fut.await;
    };
    let mut fut = std::pin::pin!(fut);
    let mut every = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = every.tick() => {
                progress.send_replace(Progress {
                    rows_out: planned.rows_out(),
                    ..so_far.clone()
                });
            }
        }
    }
}

/// Where the scans read, in the summary's terms (scans of S3 and local files have no
/// preference).
fn locality_counts(t: Tally) -> LocalityCounts {
    LocalityCounts {
        data_local: t.data_local,
        rack_local: t.rack_local,
        off_switch: t.off_switch,
        no_preference: t.no_preference,
        data_local_bytes: t.data_local_bytes,
        rack_local_bytes: t.rack_local_bytes,
        off_switch_bytes: t.off_switch_bytes,
        no_preference_bytes: t.no_preference_bytes,
    }
}

/// Runs the query into the commit's staging directory (or its scratch directory, emptied
/// of an earlier run's files first), by the deadline.
async fn write(
    planned: &PlannedQuery,
    spec: &QuerySpec,
    committer: &Committer,
    goes: ResultGoes,
    deadline: tokio::time::Instant,
) -> Result<Written, String> {
    let writing = async {
        match goes {
            ResultGoes::ToOutput => planned.write(spec.output.format, committer.staging()).await,
            ResultGoes::ToStages => {
                let scratch = committer.scratch();
                scratch
                    .remove_all()
                    .await
                    .map_err(|e| QueryError::Run(format!("{}: {e}", scratch.url())))?;
                planned.write(OutputFormat::Parquet, &scratch).await
            }
        }
    };
    tokio::time::timeout_at(deadline, writing)
        .await
        .map_err(|_| format!("the query ran longer than its timeout ({})", spec.timeout))?
        .map_err(|e: QueryError| e.to_string())
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
