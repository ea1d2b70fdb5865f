//! `spindle run`: a job on local worker processes, with the same master core and workers
//! that YARN runs.

use crate::ui;
use clap::{Args, ValueEnum};
use spindle_appmaster::commit::Committer;
use spindle_appmaster::progress::{LocalityCounts, Status, Summary};
use spindle_appmaster::{run_job, DriverOptions, JobDef, LocalLauncher};
use spindle_io::net::new_secret;
use spindle_job::wire::Compression;
use spindle_job::JobSpec;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Run a job on local worker processes
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle run conf/examples/clicks.yaml\n  \
    spindle run job.yaml --workers 4 --summary-json summary.json\n\n\
    Input and output URLs may be local paths, file:// or s3:// (credentials and endpoint\n\
    from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL).")]
pub struct RunArgs {
    /// The job spec (YAML)
    spec: PathBuf,
    /// Worker processes (default: the spec's workers.instances, else the number of cores)
    #[arg(long)]
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
    crate::init_logging("error");
    let started = Instant::now();
    let spec_path = args.spec.display().to_string();
    let spec = match JobSpec::from_file(&spec_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let summary = match run_spec(&spec, &args).await {
        Ok(s) => s,
        Err(error) => failed_summary(&spec.name, error, started),
    };
    ui::finish(&summary, args.json, args.summary_json.as_deref())
}

/// Checks the output and plans the job: the same in local mode and in the YARN AM.
pub async fn prepare(
    spec: &JobSpec,
    attempt: &str,
    compression: Compression,
) -> Result<(Committer, JobDef), String> {
    let committer = Committer::prepare(&spec.output, attempt)
        .await
        .map_err(|e| e.to_string())?;
    let job = JobDef::from_spec(spec, &committer.staging, compression)
        .await
        .map_err(|e| e.to_string())?;
    Ok((committer, job))
}

/// The summary of a job that failed before it could start.
pub fn failed_summary(job: &str, error: String, started: Instant) -> Summary {
    Summary {
        job: job.to_string(),
        status: Status::Failed,
        error: Some(error),
        input_files: 0,
        rows_in: 0,
        bytes_read: 0,
        rows_out: 0,
        bytes_written: 0,
        spilled_bytes: 0,
        output: None,
        output_files: 0,
        tasks: 0,
        task_attempts: 0,
        retries: 0,
        workers: 0,
        workers_lost: 0,
        locality: LocalityCounts::default(),
        wall_time_s: started.elapsed().as_secs_f64(),
        logs: None,
    }
}

async fn run_spec(spec: &JobSpec, args: &RunArgs) -> Result<Summary, String> {
    let workers = args
        .workers
        .or(spec.workers.instances)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32));
    let attempt = format!("{}-{}", std::process::id(), &new_secret()[..8]);
    let compression = match args.compression {
        CompressionArg::Auto => Compression::Auto,
        CompressionArg::Always => Compression::Always,
        CompressionArg::Never => Compression::Never,
    };
    let (committer, job) = prepare(spec, &attempt, compression).await?;
    let run_dir = std::env::temp_dir().join(format!("spindle-{}-{attempt}", spec.name));
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let master = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let secret = new_secret();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let mut launcher = LocalLauncher::new(
        exe,
        master,
        secret.clone(),
        spec.workers.vcores,
        spec.workers.memory.bytes(),
        run_dir.clone(),
        events_tx,
    );
    let (progress_tx, progress_rx) = watch::channel(Default::default());
    let (cancel_tx, cancel_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    let bar = (!args.quiet && !args.json).then(|| ui::progress(progress_rx));
    let opts = DriverOptions {
        workers,
        max_restarts: spec.workers.max_restarts,
        max_attempts: spec.max_task_attempts,
        locality_wait: Duration::from_millis(500),
        join_timeout: Duration::from_secs(60),
        committer: Some(committer),
        progress: Some(progress_tx),
        cancel: Some(cancel_rx),
        logs: Some(run_dir.display().to_string()),
    };
    let mut summary = run_job(job, listener, &secret, &mut launcher, events_rx, opts).await;
    if let Some(bar) = bar {
        bar.abort();
        let _ = bar.await;
    }
    ui::clear_progress();
    if summary.status == Status::Succeeded {
        let _ = std::fs::remove_dir_all(&run_dir);
        summary.logs = None;
    }
    Ok(summary)
}
