//! `spindle query-worker`: runs a query's stage tasks for the coordinator that started
//! it. The secret arrives on standard input (never the command line or environment);
//! the worker's address (`host:port`) goes out as the first line of standard output, then
//! a heartbeat byte every `--heartbeat-ms`, from a thread of its own so that busy query
//! threads never delay it (silence means the process is stopped or gone); standard input
//! closing (the coordinator gone, however it ended) stops the worker.

use spindle_io::channel::Wire;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A query worker's options.
#[derive(clap::Args, Debug)]
pub struct QueryWorkerArgs {
    /// Memory this worker's tasks share; past it they spill or fail
    #[arg(long, value_name = "BYTES")]
    pub memory_bytes: u64,
    /// Address to serve on (port 0: any free port)
    #[arg(long, default_value = "127.0.0.1:0", value_name = "HOST:PORT")]
    pub bind: String,
    /// Encrypt connections after the handshake, as well as authenticating them
    #[arg(long)]
    pub encrypt: bool,
    /// Milliseconds between heartbeat bytes on standard output
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub heartbeat_ms: u64,
}

pub async fn query_worker(args: QueryWorkerArgs) -> ExitCode {
    crate::init_logging("warn");
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("query worker error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: QueryWorkerArgs) -> Result<(), String> {
    // At start, before anything else runs: blocking here holds up nothing.
    let secret = crate::worker::secret_from_stdin()?;
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{addr}");
    let every = Duration::from_millis(args.heartbeat_ms.max(10));
    std::thread::spawn(move || beat(every));
    let runtime = spindle_query::runtime(args.memory_bytes).map_err(|e| e.to_string())?;
    let secret: Arc<str> = secret.into();
    let worker = spindle_query::remote::worker(runtime, secret.clone());
    let wire = if args.encrypt {
        Wire::Encrypted
    } else {
        Wire::Authenticated
    };
    tokio::select! {
        served = spindle_query::remote::serve(listener, secret, wire, worker) => served,
        () = coordinator_gone() => Ok(()),
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
