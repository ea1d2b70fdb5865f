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
    /// Read the application's secret from the first line of stdin (how `spindle run`
    /// passes it); without this, from the YARN container's credentials. Never from the
    /// environment or the command line, which other processes of the user can read.
    #[arg(long)]
    secret_stdin: bool,
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
    let secret = if args.secret_stdin {
        secret_from_stdin()
    } else {
        crate::yarn::take_container_secret()
    };
    let secret = match secret {
        Ok(s) => s,
        Err(e) => {
            eprintln!("worker error: {e}");
            return ExitCode::FAILURE;
        }
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

fn secret_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    let secret = line.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err("--secret-stdin given but stdin held no secret".into());
    }
    Ok(secret.to_string())
}
