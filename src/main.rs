//! `spindle`: data-local batch work on Hadoop YARN or local workers, from one binary.

mod bench;
mod bench_commit;
mod bench_kv;
mod bench_read;
mod control;
mod explain;
mod kv;
mod logs;
mod malloc;
mod query_run;
mod query_worker;
mod query_workers;
mod run;
mod service_run;
mod ui;
mod worker;
mod yarn;

use clap::{Parser, Subcommand};
use spindle_job::Spec;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "spindle",
    version,
    about = "Run data-parallel batch jobs on local workers or YARN, no JVM needed",
    long_about = "Run data-parallel batch jobs described in a YAML spec.\n\n\
        A job reads its input (hdfs://, s3://, file://, local paths; csv, jsonl, parquet,\n\
        text), runs its stages on every partition (DataFusion SQL, shuffles, external\n\
        commands, coalesce) and commits its output atomically. A query job instead\n\
        names several inputs and one SQL query (joins, GROUP BY, ORDER BY ... LIMIT),\n\
        which DataFusion plans and spindle runs in stages. A services spec (Skein's\n\
        format: `services:`) runs long-lived containers on YARN instead, which find\n\
        each other through the application's key-value store (`spindle kv`).\n\n\
        Start with:  spindle run conf/examples/clicks.yaml\n\
        A query:     spindle explain conf/examples/revenue.yaml\n\
        On YARN:     HADOOP_CONF_DIR=/etc/hadoop/conf spindle submit job.yaml --wait\n\
        Services:    spindle submit conf/examples/services.yaml --wait"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// On a Kerberos cluster: log in as PRINCIPAL from --keytab instead of using the
    /// ticket cache of `kinit` (its tickets go to a private cache, removed at exit)
    #[arg(long, global = true, requires = "keytab", value_name = "PRINCIPAL")]
    principal: Option<String>,
    /// The keytab holding --principal's keys
    #[arg(long, global = true, requires = "principal", value_name = "FILE")]
    keytab: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    Run(run::RunArgs),
    Explain(explain::ExplainArgs),
    Submit(yarn::submit::SubmitArgs),
    Status(yarn::apps::StatusArgs),
    Ls(yarn::apps::LsArgs),
    Kill(yarn::apps::KillArgs),
    Clean(yarn::clean::CleanArgs),
    Kv(kv::KvArgs),
    Logs(logs::LogsArgs),
    Container(control::ContainerArgs),
    Scale(control::ScaleArgs),
    Shutdown(control::ShutdownArgs),
    Bench(bench::BenchArgs),
    Worker(spindle_appmaster::cmdline::WorkerCommand),
    #[command(name = "appmaster", hide = true)]
    AppMaster(spindle_appmaster::cmdline::AppMasterCommand),
    #[command(name = "service-run", hide = true)]
    ServiceRun(spindle_appmaster::cmdline::ServiceCommand),
    #[command(name = "query-worker", hide = true)]
    QueryWorker(spindle_appmaster::cmdline::QueryWorkerCommand),
}

fn main() -> ExitCode {
    malloc::keep_freed_memory_nearby();
    let cli = Cli::parse();
    install_client_env();
    // Before the runtime's threads start: it sets the Kerberos library's environment.
    let _keytab_cache = match (&cli.principal, &cli.keytab) {
        (Some(principal), Some(keytab)) => match yarn::use_keytab(principal, keytab) {
            Ok(cache) => Some(cache),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    if let Command::ServiceRun(args) = cli.command {
        // Becomes bash: no runtime.
        return service_run::service_run(args);
    }
    // A master reads its spec before its runtime starts: the runtime depends on the kind.
    let master_spec = match &cli.command {
        Command::AppMaster(args) => Some(yarn::appmaster::read_spec(args)),
        _ => None,
    };
    let mut builder = if round_trip_bound(&cli.command, master_spec.as_ref()) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = builder.enable_all().build().expect("tokio runtime");
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Explain(args) => explain::explain(args).await,
            Command::Submit(args) => yarn::submit::submit(args).await,
            Command::Status(args) => yarn::apps::status(args).await,
            Command::Ls(args) => yarn::apps::ls(args).await,
            Command::Kill(args) => yarn::apps::kill(args).await,
            Command::Clean(args) => yarn::clean::clean(args).await,
            Command::AppMaster(args) => {
                let spec = master_spec.expect("read before the runtime");
                yarn::appmaster::appmaster(args, spec).await
            }
            Command::Bench(args) => bench::bench(args).await,
            Command::Kv(args) => kv::kv(args).await,
            Command::Logs(args) => logs::logs(args).await,
            Command::Container(args) => control::container(args).await,
            Command::Scale(args) => control::scale(args).await,
            Command::Shutdown(args) => control::shutdown(args).await,
            Command::Worker(args) => worker::worker(args).await,
            Command::QueryWorker(args) => query_worker::query_worker(args).await,
            Command::ServiceRun(_) => unreachable!("run before the runtime starts"),
        }
    });
    // Don't wait for lingering blocking tasks (a stuck read) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// Hands the store clients the environment they use (`AWS_*`, `HADOOP_CONF_DIR`, the
/// Hadoop user, the token file): the libraries never read it themselves.
fn install_client_env() {
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    // vars_os: a variable that is not UTF-8 is skipped, not a panic.
    let vars = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    let env = spindle_io::client_env::ClientEnv::from_vars(vars, user);
    // The only install, before any store opens.
    let _ = spindle_io::client_env::install(env);
}

/// Key-value clients wait on one round trip after another: on a single thread the reply
/// wakes its waiter where it runs, with no hand-off between threads (measured in
/// BENCHMARKS.md, "Key-value store"). So does the master of a services application,
/// whose work is its store (a reply leaves on the thread where its batch's ack
/// arrived) and container events; a job's master plans and schedules on every core.
fn round_trip_bound(command: &Command, master_spec: Option<&Result<Spec, String>>) -> bool {
    match command {
        Command::Kv(_) => true,
        Command::Bench(b) => b.is_kv(),
        Command::AppMaster(_) => matches!(master_spec, Some(Ok(Spec::App(_)))),
        _ => false,
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default level.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Container logs are files: colour codes would only clutter `yarn logs`.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
