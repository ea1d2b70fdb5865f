//! `spindle`: data-local batch work on Hadoop YARN or local workers, from one binary.

mod bench;
mod run;
mod ui;
mod worker;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "spindle",
    version,
    about = "Run data-parallel batch jobs on local workers (and YARN), no JVM needed",
    long_about = "Run data-parallel batch jobs described in a YAML spec.\n\n\
        A job reads its input (file://, s3://, local paths; csv, jsonl, parquet, text),\n\
        runs its stages on every partition (DataFusion SQL, shuffles, external commands,\n\
        coalesce) and commits its output atomically.\n\n\
        Start with:  spindle run conf/examples/clicks.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(run::RunArgs),
    Bench(bench::BenchArgs),
    Worker(worker::WorkerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Bench(args) => bench::bench(args).await,
            Command::Worker(args) => worker::worker(args).await,
        }
    });
    // Don't wait for lingering blocking tasks (a stuck read) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// Logs go to stderr; `RUST_LOG` overrides the default level.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
