//! `spindle bench commit`: what publishing an output costs on a store, for the commit as
//! it is and, with `--legacy`, as it was before manifests (per-file renames out of
//! `<output>/_temporary/`, the old files deleted first), so both are measured alike.

use clap::Args;
use futures::{StreamExt, TryStreamExt};
use spindle_appmaster::commit::{CommitHooks, CommitOptions, Committer, Inputs, LeaseOwner};
use spindle_io::{IoError, Location};
use spindle_job::{OutputFormat, OutputMode, OutputSpec};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct CommitBench {
    /// A directory URL that does not exist yet (local path, s3://, hdfs://)
    #[arg(long)]
    output: String,
    /// Files per commit
    #[arg(long, default_value_t = 1000)]
    files: usize,
    /// Measure the commit as it was before manifests
    #[arg(long)]
    legacy: bool,
    /// Print JSON: {"files":N,"first_s":S,"replace_s":S,"legacy":B}
    #[arg(long)]
    json: bool,
}

pub async fn run(args: CommitBench) -> ExitCode {
    match measure(&args).await {
        Ok((first, replace)) => {
            if args.json {
                println!(
                    "{{\"output\":\"{}\",\"files\":{},\"first_s\":{first:.4},\"replace_s\":{replace:.4},\"legacy\":{}}}",
                    args.output, args.files, args.legacy
                );
            } else {
                println!(
                    "{} files to {}: first commit {first:.3}s, replacing commit {replace:.3}s{}",
                    args.files,
                    args.output,
                    if args.legacy { " (legacy)" } else { "" }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn measure(args: &CommitBench) -> Result<(f64, f64), String> {
    let output = Location::parse(&args.output).map_err(|e| e.to_string())?;
    if output.stat().await.map_err(|e| e.to_string())?.is_some() {
        return Err(format!("{} exists; give a new output", output.url()));
    }
    let mut times = vec![];
    for round in 0..2 {
        let took = if args.legacy {
            legacy_round(&output, args.files, round)
                .await
                .map_err(|e| e.to_string())
        } else {
            current_round(&args.output, args.files, round).await
        };
        times.push(took?.as_secs_f64());
    }
    Ok((times[0], times[1]))
}

/// Stages `n` small files as workers would name them; returns their names.
async fn stage(dir: &Location, n: usize, round: usize) -> Result<Vec<(u32, String)>, IoError> {
    let names: Vec<(u32, String)> = (0..n as u32)
        .map(|i| (i, format!("task-{i:05}-{round}.csv")))
        .collect();
    futures::stream::iter(names.iter().map(|(i, name)| async move {
        dir.child(name).put(format!("a\n{i}\n").into_bytes()).await
    }))
    .buffer_unordered(32)
    .try_collect::<Vec<()>>()
    .await?;
    Ok(names)
}

async fn current_round(url: &str, n: usize, round: usize) -> Result<Duration, String> {
    let spec = OutputSpec {
        path: url.to_string(),
        format: OutputFormat::Csv,
        mode: OutputMode::Overwrite,
    };
    let opts = CommitOptions {
        owner: LeaseOwner {
            attempt: format!("bench-{}-{round}", std::process::id()),
            host: spindle_io::splits::local_host(),
            pid: std::process::id(),
            app: None,
        },
        protected: crate::run::protected_places(),
        hooks: CommitHooks::default(),
        lease_ttl: spindle_appmaster::commit::LEASE_TTL,
    };
    let inputs = Inputs {
        patterns: &[],
        files: &[],
    };
    let started = Instant::now();
    let c = Committer::prepare(&spec, "bench", &inputs, &opts)
        .await
        .map_err(|e| e.to_string())?;
    let prepare = started.elapsed();
    let files = stage(c.staging(), n, round)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    c.commit(&files).await.map_err(|e| e.to_string())?;
    Ok(prepare + started.elapsed())
}

async fn legacy_round(output: &Location, n: usize, round: usize) -> Result<Duration, IoError> {
    let staging = output.child(&format!("_temporary/{round}"));
    let files = stage(&staging, n, round).await?;
    let started = Instant::now();
    for meta in output.list().await? {
        let rel = meta.location.as_ref()[output.path.as_ref().len()..].trim_start_matches('/');
        if !rel.starts_with("_temporary") {
            output.child(rel).delete().await?;
        }
    }
    for (i, (_, rel)) in files.iter().enumerate() {
        staging
            .child(rel)
            .rename_to(&output.child(&format!("part-{i:05}.csv")))
            .await?;
    }
    output.child("_temporary").remove_all().await?;
    output.child("_SUCCESS").put(vec![]).await?;
    Ok(started.elapsed())
}
