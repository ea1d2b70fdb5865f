//! `spindle query-worker`: runs a query's stage tasks for the coordinator that started
//! it, in one of two places.
//!
//! Started by `spindle run`: the secret arrives on standard input (never the command
//! line or environment); the worker's address (`host:port`) goes out as the first line of
//! standard output, then a heartbeat byte every `--heartbeat-ms`, from a thread of its own
//! so that busy query threads never delay it (silence means the process is stopped or
//! gone); standard input closing (the coordinator gone, however it ended) stops it.
//!
//! In a YARN container (`--worker-id`): the secret comes from the container's
//! credentials, the address goes to the application's key-value store under a key the
//! container owns (the store drops it when the container ends), a thread of its own puts
//! a heartbeat key every `--heartbeat-ms` (the master replaces a worker silent past
//! `workers.heartbeat_timeout`: a stopped process), and the worker stops when the store,
//! and with it the application master, goes away.

use spindle_appmaster::cmdline::QueryWorkerCommand;
use spindle_appmaster::kv::client::KvClient;
use spindle_appmaster::yarn::app::KV_ENV;
use spindle_appmaster::yarn::query_job::{query_beat_key, query_worker_key};
use spindle_io::channel::Wire;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a container's worker waits on the store between checks that it is there.
const STORE_CHECK: Duration = Duration::from_secs(30);

pub async fn query_worker(args: QueryWorkerCommand) -> ExitCode {
    // A replayed scan is rare (a rerun after a lost worker) and worth a line in the log.
    crate::init_logging("warn,spindle_query::kept=info");
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("query worker error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: QueryWorkerCommand) -> Result<(), String> {
    // At start, before anything else runs: blocking here holds up nothing.
    let secret = match args.worker_id {
        Some(_) => crate::yarn::take_container_secret()?,
        None => crate::worker::secret_from_stdin()?,
    };
    // In a container, the NodeManager's host: the address the master reaches it at.
    let bind = match (&args.bind, args.worker_id) {
        (Some(bind), _) => bind.clone(),
        (None, Some(_)) => {
            let host =
                std::env::var("NM_HOST").unwrap_or_else(|_| spindle_io::splits::local_host());
            format!("{host}:0")
        }
        (None, None) => "127.0.0.1:0".into(),
    };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    // Reached by the name it bound (in a container the NodeManager's, as HDFS names the
    // hosts of blocks: scans are placed by it), not by what that name resolved to.
    let host = bind
        .rsplit_once(':')
        .map_or(bind.as_str(), |(host, _)| host);
    let addr = format!("{host}:{port}");
    let runtime = spindle_query::runtime(args.memory_bytes).map_err(|e| e.to_string())?;
    let secret: Arc<str> = secret.into();
    let worker = spindle_query::remote::worker(runtime, secret.clone());
    let wire = if args.encrypt {
        Wire::Encrypted
    } else {
        Wire::Authenticated
    };
    let served = spindle_query::remote::serve(listener, secret.clone(), wire, worker);
    let every = Duration::from_millis(args.heartbeat_ms.max(10));
    match args.worker_id {
        Some(id) => {
            let (store, place) = registered(id, &addr, &secret).await?;
            std::thread::spawn(move || beat_to_store(place, query_beat_key(id), every));
            tokio::select! {
                served = served => served,
                gone = store_gone(store) => Err(gone),
            }
        }
        None => {
            println!("{addr}");
            std::thread::spawn(move || beat(every));
            tokio::select! {
                served = served => served,
                () = coordinator_gone() => Ok(()),
            }
        }
    }
}

/// Writes a byte to standard output every `every` until nobody reads it.
fn beat(every: Duration) {
    let mut out = std::io::stdout();
    while out.write_all(b".").and_then(|()| out.flush()).is_ok() {
        std::thread::sleep(every);
    }
}

/// Returns when standard input closes: the coordinator holds it open while it lives.
async fn coordinator_gone() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Where the application's store is, and which container's keys this worker puts.
struct StorePlace {
    address: String,
    secret: Arc<str>,
    container: String,
}

/// Puts this worker's address into the application's store, owned by its container.
async fn registered(
    id: u32,
    addr: &str,
    secret: &Arc<str>,
) -> Result<(KvClient, StorePlace), String> {
    let address = std::env::var(KV_ENV)
        .map_err(|_| format!("--worker-id without the key-value store's address ({KV_ENV})"))?;
    let container = std::env::var("CONTAINER_ID")
        .map_err(|_| "--worker-id outside a YARN container (no CONTAINER_ID)".to_string())?;
    let mut client = KvClient::connect(&address, secret).await?;
    let key = query_worker_key(id);
    client
        .put(&key, addr.as_bytes().to_vec(), Some(container.clone()))
        .await
        .map_err(|e| format!("cannot register {key}: {e}"))?;
    let place = StorePlace {
        address,
        secret: secret.clone(),
        container,
    };
    Ok((client, place))
}

/// Puts `key` (owned by the container) every `every`, on a connection and a runtime of
/// its own so that busy query threads never delay it. A failed beat is retried on a new
/// connection at the next; the process ends when the store is gone for good.
fn beat_to_store(place: StorePlace, key: String, every: Duration) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return eprintln!("query worker: no heartbeat runtime: {e}"),
    };
    runtime.block_on(async {
        let mut client = None;
        for beat in 0u64.. {
            if client.is_none() {
                client = KvClient::connect(&place.address, &place.secret).await.ok();
            }
            if let Some(c) = client.as_mut() {
                let value = beat.to_string().into_bytes();
                if c.put(&key, value, Some(place.container.clone()))
                    .await
                    .is_err()
                {
                    client = None;
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Returns, saying why, once the store cannot be reached: the application master that
/// serves it has ended.
async fn store_gone(mut store: KvClient) -> String {
    loop {
        if let Err(e) = store.wait("spindle.query.never", STORE_CHECK).await {
            return format!("the application master's key-value store is gone: {e}");
        }
    }
}
