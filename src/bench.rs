//! `spindle bench tasks`: the runtime's own cost per task, through real worker processes.
//! `spindle bench commit`: the output commit alone, on any store.

use clap::{Args, Subcommand};
use spindle_appmaster::cmdline::WorkerCommand;
use spindle_appmaster::progress::Status;
use spindle_appmaster::scheduler::TaskGraph;
use spindle_appmaster::{run_job, DriverOptions, JobDef, LocalLauncher};
use spindle_io::channel::Wire;
use spindle_io::net::new_secret;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Measure the runtime itself
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

impl BenchArgs {
    /// Whether this measures a key-value store (a client of round trips only).
    pub fn is_kv(&self) -> bool {
        matches!(self.what, BenchWhat::Kv(_))
    }
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Empty tasks through the master and real worker processes: tasks per second
    Tasks {
        /// Number of tasks
        #[arg(long, default_value_t = 100_000)]
        tasks: usize,
        /// Worker processes
        #[arg(long, default_value_t = 2)]
        workers: u32,
        /// Tasks each worker runs at once
        #[arg(long, default_value_t = 1)]
        slots: u32,
        /// A binary tree reduction instead of independent tasks
        #[arg(long)]
        tree: bool,
        /// Encrypt the workers' connections, as under `encrypt: true` or privacy
        #[arg(long)]
        encrypt: bool,
        /// Print JSON: {"tasks":N,"seconds":S,"tasks_per_s":R}
        #[arg(long)]
        json: bool,
    },
    /// Stage N small files, commit them, then commit N more over them: seconds each
    Commit(crate::bench_commit::CommitBench),
    /// A running application's key-value store: latency, throughput, wake-ups, replay
    Kv(crate::bench_kv::KvBench),
    /// Plain hdfs-native reads of HDFS files, no parsing: MB per second
    Read(crate::bench_read::ReadBench),
}

pub async fn bench(args: BenchArgs) -> ExitCode {
    crate::init_logging("error");
    let (tasks, workers, slots, tree, encrypt, json) = match args.what {
        BenchWhat::Tasks {
            tasks,
            workers,
            slots,
            tree,
            encrypt,
            json,
        } => (tasks, workers, slots, tree, encrypt, json),
        BenchWhat::Commit(args) => return crate::bench_commit::run(args).await,
        BenchWhat::Kv(args) => return crate::bench_kv::kv(args).await,
        BenchWhat::Read(args) => return crate::bench_read::run(args).await,
    };
    let graph = if tree {
        TaskGraph::tree_reduction(tasks)
    } else {
        TaskGraph::independent(tasks)
    };
    let n = graph.len();
    let job = JobDef::noop("bench-tasks", graph);
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on loopback: {e}");
            return ExitCode::FAILURE;
        }
    };
    let master = listener.local_addr().expect("bound").to_string();
    let secret = new_secret();
    let dir = std::env::temp_dir().join(format!("spindle-bench-{}", std::process::id()));
    let (tx, rx) = mpsc::unbounded_channel();
    let exe = std::env::current_exe().expect("own binary");
    let heartbeat_timeout = Duration::from_secs(30);
    let command = WorkerCommand::new(Some(master), slots, 1 << 30, heartbeat_timeout);
    let mut launcher = LocalLauncher::new(exe, command, secret.clone(), dir.clone(), tx);
    let opts = DriverOptions {
        workers,
        max_restarts: 0,
        max_attempts: 1,
        locality_wait: Duration::ZERO,
        racks: Default::default(),
        join_timeout: Duration::from_secs(30),
        heartbeat_timeout,
        committer: None,
        progress: None,
        cancel: None,
        logs: None,
        tokens: None,
        wire: if encrypt {
            Wire::Encrypted
        } else {
            Wire::Authenticated
        },
    };
    // Time from the first worker joining to the last task done, excluding process start.
    let started = Instant::now();
    let summary = run_job(job, listener, &secret, &mut launcher, rx, opts).await;
    let total = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    if summary.status != Status::Succeeded {
        eprintln!(
            "error: benchmark failed: {}",
            summary.error.unwrap_or_default()
        );
        return ExitCode::FAILURE;
    }
    let rate = n as f64 / total;
    if json {
        println!("{{\"tasks\":{n},\"seconds\":{total:.4},\"tasks_per_s\":{rate:.0},\"workers\":{workers},\"tree\":{tree}}}");
    } else {
        println!("{n} tasks on {workers} workers in {total:.3}s: {rate:.0} tasks/s (including worker start-up)");
    }
    ExitCode::SUCCESS
}
