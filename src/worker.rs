//! `spindle worker`: the worker role, started by `spindle run` or in a YARN container.

use spindle_appmaster::cmdline::WorkerCommand;
use spindle_appmaster::kv::client::KvClient;
use spindle_appmaster::yarn::am::{SCHEDULER_KEY, WORKERS_PREFIX};
use spindle_appmaster::yarn::app::KV_ENV;
use spindle_appmaster::yarn::tokens::put_in_place;
use spindle_io::client_env;
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
    // Without --master (in a YARN container) the application's key-value store names
    // the master, and hears where this worker serves its data.
    let (master, announce) = match args.master {
        Some(master) => (master, None),
        None => match master_from_store(&secret).await {
            Ok((master, client)) => {
                let container = std::env::var("CONTAINER_ID").ok();
                (
                    master,
                    Some(register(client, args.id, host.clone(), container)),
                )
            }
            Err(e) => {
                eprintln!("worker error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let opts = WorkerOptions {
        master,
        id: args.id,
        slots: args.slots,
        memory_bytes: args.memory_bytes,
        local_dir,
        secret,
        host,
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        peer_timeout: Duration::from_millis(args.peer_timeout_ms),
        announce,
        on_tokens: client_env::installed().token_file.as_ref().map(
            |file| -> spindle_worker::OnTokens {
                let path = file.to_string_lossy().into_owned();
                Box::new(move |creds| put_in_place(&path, creds))
            },
        ),
    };
    match run_worker(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How long a worker waits for its master to publish its address.
const MASTER_WITHIN: Duration = Duration::from_secs(120);

/// The scheduler address the application master published, and a client of the store.
async fn master_from_store(secret: &str) -> Result<(String, KvClient), String> {
    let address = std::env::var(KV_ENV)
        .map_err(|_| format!("no --master, and no key-value store ({KV_ENV}) to find it in"))?;
    let mut client = KvClient::connect(&address, secret).await?;
    let entry = client
        .wait(SCHEDULER_KEY, MASTER_WITHIN)
        .await?
        .ok_or_else(|| {
            format!(
                "the application master published no {SCHEDULER_KEY} within {} s",
                MASTER_WITHIN.as_secs()
            )
        })?;
    let master =
        String::from_utf8(entry.value).map_err(|_| format!("{SCHEDULER_KEY} is not text"))?;
    Ok((master, client))
}

/// Puts `spindle.workers/<id>` (the data address and host) as a key the worker's
/// container owns: when the container ends, the store deletes it.
fn register(
    mut client: KvClient,
    id: u32,
    host: String,
    container: Option<String>,
) -> spindle_worker::Announce {
    Box::new(move |data_addr| {
        Box::pin(async move {
            let value = serde_json::json!({ "data": data_addr, "host": host });
            let key = format!("{WORKERS_PREFIX}{id}");
            let put = client.put(&key, value.to_string().into_bytes(), container);
            if let Err(e) = put.await {
                tracing::warn!("cannot register {key}: {e}");
            }
        })
    })
}

/// The application secret, the first line of standard input (`spindle worker
/// --secret-stdin`, `spindle query-worker`).
pub(crate) fn secret_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    let secret = line.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err("standard input held no secret".into());
    }
    Ok(secret.to_string())
}
