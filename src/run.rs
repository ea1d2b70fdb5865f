//! `spindle run`: a job on local worker processes, with the same master core and workers
//! that YARN runs.

use crate::ui;
use clap::{Args, ValueEnum};
use spindle_appmaster::cmdline::WorkerCommand;
use spindle_appmaster::commit::{CommitHooks, CommitOptions, Committer, LeaseOwner, Protected};
use spindle_appmaster::prepare::PrepareError;
use spindle_appmaster::progress::{Progress, Status, Summary};
use spindle_appmaster::{prepare, run_job, DriverOptions, JobDef, LocalLauncher};
use spindle_io::channel::Wire;
use spindle_io::net::new_secret;
use spindle_job::wire::Compression;
use spindle_job::{JobSpec, Spec};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Run a job on local worker processes
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle run conf/examples/clicks.yaml\n  \
    spindle run job.yaml --workers 4 --summary-json summary.json\n  \
    spindle run conf/examples/revenue.yaml     (a query job: inputs + query)\n  \
    spindle run conf/examples/revenue-report.yaml     (a query, then stages over its result)\n\n\
    Input and output URLs may be local paths, file:// or s3:// (credentials and endpoint\n\
    from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL).")]
pub struct RunArgs {
    /// The job spec (YAML)
    spec: PathBuf,
    /// Worker processes (default: the spec's workers.instances, else the number of cores; 1 to 10000)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: Option<u32>,
    /// Write the final summary as JSON to this file
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,
    /// Print the final summary as JSON on stdout instead of text
    #[arg(long)]
    json: bool,
    /// No progress display
    #[arg(long, short)]
    quiet: bool,
    /// When to lz4-compress intermediate results
    #[arg(long, value_enum, default_value = "auto")]
    compression: CompressionArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    /// Only when a sample compresses to 70% or less (Dask's rule)
    Auto,
    Always,
    Never,
}

pub async fn run(args: RunArgs) -> ExitCode {
    crate::init_logging("warn");
    let started = Instant::now();
    let spec_path = args.spec.display().to_string();
    let spec = match Spec::from_file(&spec_path) {
        Ok(Spec::Job(s)) => s,
        Ok(Spec::Query(q)) => {
            let opts = crate::query_run::QueryRunArgs {
                workers: args.workers,
                json: args.json,
                quiet: args.quiet,
                summary_json: args.summary_json.as_deref(),
            };
            return crate::query_run::run(q, &spec_path, opts).await;
        }
        Ok(Spec::App(_)) => {
            eprintln!(
                "error: {spec_path} describes services (it has `services:`), which run on YARN: spindle submit {spec_path}"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let commit = match commit_options() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let signal = Arc::new(AtomicU8::new(0));
    listen_for_signals(cancel_tx, signal.clone());
    let summary = match run_spec(&spec, &args, &commit, cancel_rx).await {
        Ok(s) => s,
        Err(PrepareError::Refused(why)) => {
            eprintln!("error: {spec_path}: {why}");
            return ExitCode::from(2);
        }
        Err(PrepareError::Failed(error)) => Summary::failed(&spec.name, error, started),
    };
    let code = ui::finish(&summary, args.json, args.summary_json.as_deref());
    match signal.load(Ordering::SeqCst) {
        n if n > 0 && summary.status == Status::Killed => ExitCode::from(128 + n),
        _ => code,
    }
}

/// SIGINT and SIGTERM stop the job in order: workers stop, staging goes, the output lease
/// is released; a commit under way finishes first. The exit status is 128 + the signal.
pub(crate) fn listen_for_signals(cancel: watch::Sender<bool>, signal: Arc<AtomicU8>) {
    use tokio::signal::unix::{signal as on, SignalKind};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) =
            (on(SignalKind::interrupt()), on(SignalKind::terminate()))
        else {
            return;
        };
        let number = tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
        };
        signal.store(number, Ordering::SeqCst);
        let _ = cancel.send(true);
    });
}

/// Who this process is to the output lease, what it must never write over, and the
/// commit's test hooks: read from the environment here, at the edge.
pub(crate) fn commit_options() -> Result<CommitOptions, String> {
    let hooks = match std::env::var(TEST_COMMIT_HOOK) {
        Ok(text) => CommitHooks::parse(&text)?,
        Err(_) => CommitHooks::default(),
    };
    Ok(CommitOptions {
        owner: LeaseOwner {
            attempt: format!("{}-{}", std::process::id(), &new_secret()[..8]),
            host: spindle_io::splits::local_host(),
            pid: std::process::id(),
            app: None,
        },
        protected: protected_places(),
        hooks,
        lease_ttl: spindle_appmaster::commit::LEASE_TTL,
    })
}

/// Pause or fail points inside the commit (`pause:<step>`, `fail:<step>`), for the
/// fault-injection tests only.
pub const TEST_COMMIT_HOOK: &str = "SPINDLE_TEST_COMMIT_HOOK";

/// The current and home directories, and the HDFS home of the user Hadoop clients act as.
pub fn protected_places() -> Protected {
    let user = std::env::var("HADOOP_USER_NAME")
        .or_else(|_| std::env::var("USER"))
        .ok();
    Protected {
        cwd: std::env::current_dir().ok(),
        home: std::env::var_os("HOME").map(PathBuf::from),
        hdfs_home: user.map(|u| format!("/user/{u}")),
    }
}

/// Workers for a local run: `--workers`, else the spec's `workers.instances`, else one
/// per core.
pub fn worker_count(flag: Option<u32>, instances: Option<u32>) -> u32 {
    flag.or(instances)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32))
}

async fn run_spec(
    spec: &JobSpec,
    args: &RunArgs,
    commit: &CommitOptions,
    cancel: watch::Receiver<bool>,
) -> Result<Summary, PrepareError> {
    let compression = match args.compression {
        CompressionArg::Auto => Compression::Auto,
        CompressionArg::Always => Compression::Always,
        CompressionArg::Never => Compression::Never,
    };
    let (committer, job) = prepare(spec, compression, commit).await?;
    let (progress_tx, progress_rx) = watch::channel(Default::default());
    let bar = (!args.quiet && !args.json).then(|| ui::progress(progress_rx));
    let local = LocalStages {
        workers: worker_count(args.workers, spec.workers.instances),
        attempt: &commit.owner.attempt,
        cancel,
        progress: progress_tx,
    };
    let summary = run_stages(spec, committer, job, local).await;
    if let Some(bar) = bar {
        bar.abort();
        let _ = bar.await;
    }
    ui::clear_progress();
    Ok(summary)
}

/// How a prepared stage job runs on local worker processes.
pub(crate) struct LocalStages<'a> {
    pub workers: u32,
    /// This run's attempt: names its private directory of logs and spill.
    pub attempt: &'a str,
    pub cancel: watch::Receiver<bool>,
    pub progress: watch::Sender<Progress>,
}

/// Runs `job` (prepared from `spec`, committing through `committer`) on local worker
/// processes until it is committed, fails or is cancelled; the committer is aborted
/// unless the job commits.
pub(crate) async fn run_stages(
    spec: &JobSpec,
    committer: Committer,
    job: JobDef,
    local: LocalStages<'_>,
) -> Summary {
    let started = Instant::now();
    let run_dir = std::env::temp_dir().join(format!("spindle-{}-{}", spec.name, local.attempt));
    let setup = async {
        private_dir(&run_dir)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let master = listener.local_addr().map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        Ok::<_, String>((listener, master.to_string(), exe))
    };
    let (listener, master, exe) = match setup.await {
        Ok(s) => s,
        Err(e) => {
            let _ = committer.abort().await;
            return Summary::failed(&spec.name, e, started);
        }
    };
    let secret = new_secret();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let heartbeat_timeout = spec.workers.heartbeat_timeout.duration();
    let command = WorkerCommand::new(
        Some(master),
        spec.workers.vcores,
        spec.workers.memory.bytes(),
        heartbeat_timeout,
    );
    let mut launcher = LocalLauncher::new(exe, command, secret.clone(), run_dir.clone(), events_tx);
    let opts = DriverOptions {
        workers: local.workers,
        max_restarts: spec.workers.max_restarts,
        max_attempts: spec.max_task_attempts,
        locality_wait: spec.locality_wait.duration(),
        racks: Default::default(),
        join_timeout: Duration::from_secs(60),
        heartbeat_timeout,
        committer: Some(committer),
        progress: Some(local.progress),
        cancel: Some(local.cancel),
        logs: Some(run_dir.display().to_string()),
        tokens: None,
        wire: if spec.encrypt {
            Wire::Encrypted
        } else {
            Wire::Authenticated
        },
    };
    let mut summary = run_job(job, listener, &secret, &mut launcher, events_rx, opts).await;
    if summary.status == Status::Succeeded {
        let _ = std::fs::remove_dir_all(&run_dir);
        summary.logs = None;
    }
    summary
}

/// A directory only this user can read: worker logs and spill may hold the job's data.
fn private_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
}
