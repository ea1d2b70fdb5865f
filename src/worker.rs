//! `spindle worker`: the worker role, started by `spindle run` or in a YARN container.

use clap::Args;
use spindle_worker::{run_worker, WorkerOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a worker (started by spindle itself; not usually typed by people)
#[derive(Args)]
pub struct WorkerArgs {
    /// The master's address, host:port
    #[arg(long)]
    master: String,
    /// This worker's id, assigned by the master
    #[arg(long)]
    id: u32,
    /// Tasks run at once
    #[arg(long, default_value_t = 1)]
    slots: u32,
    /// Memory for task results before spilling to --local-dir
    #[arg(long, default_value_t = 2 << 30)]
    memory_bytes: u64,
    /// Directory for spill files and command scratch
    #[arg(long, env = "LOCAL_DIRS")]
    local_dir: PathBuf,
    /// The application's secret (in YARN, read from the container's credentials)
    #[arg(long, env = "SPINDLE_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

pub async fn worker(args: WorkerArgs) -> ExitCode {
    crate::init_logging("info");
    let local_dir = args
        .local_dir
        .to_string_lossy()
        .split(',')
        .next()
        .map(PathBuf::from)
        .unwrap_or(args.local_dir.clone());
    let secret = match args.secret {
        Some(s) => s,
        None => match crate::yarn::container_secret() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("worker error: no secret given and {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    // In a container, the NodeManager's host name is the one HDFS block locations use.
    let host = std::env::var("NM_HOST").unwrap_or_else(|_| spindle_io::splits::local_host());
    let opts = WorkerOptions {
        master: args.master,
        id: args.id,
        slots: args.slots,
        memory_bytes: args.memory_bytes,
        local_dir,
        secret,
        host,
    };
    match run_worker(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker error: {e}");
            ExitCode::FAILURE
        }
    }
}
