//! `spindle worker`: the worker role, started by `spindle run` or in a YARN container.

use spindle_appmaster::cmdline::WorkerCommand;
use spindle_worker::{run_worker, WorkerOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub async fn worker(args: WorkerCommand) -> ExitCode {
    crate::init_logging("info");
    // YARN gives a comma-separated list of the container's local dirs; the first will do.
    let Some(local_dir) = args
        .local_dir
        .as_ref()
        .and_then(|d| d.to_string_lossy().split(',').next().map(PathBuf::from))
    else {
        eprintln!("worker error: no --local-dir and no LOCAL_DIRS in the environment");
        return ExitCode::FAILURE;
    };
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
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        peer_timeout: Duration::from_millis(args.peer_timeout_ms),
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
