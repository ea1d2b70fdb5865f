//! The command lines spindle starts itself with. Each is one typed structure: clap parses
//! it in the binary, and the launchers write it with [`WorkerCommand::to_args`] and
//! [`AppMasterCommand::to_args`], so a flag cannot be renamed on one side only.

use crate::yarn::launch::{LAUNCH_ENV, SPEC};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Run a worker (started by spindle itself; not usually typed by people)
#[derive(Args, Debug, Clone, PartialEq)]
pub struct WorkerCommand {
    /// The master's address, host:port. Without it (in a YARN container), the address
    /// the application master published in its key-value store as `spindle.scheduler`
    #[arg(long)]
    pub master: Option<String>,
    /// This worker's id, assigned by the master
    #[arg(long)]
    pub id: u32,
    /// Tasks run at once
    #[arg(long, default_value_t = 1)]
    pub slots: u32,
    /// Memory for task results before spilling to --local-dir
    #[arg(long, default_value_t = 2 << 30)]
    pub memory_bytes: u64,
    /// Directory for spill files and command scratch (in YARN: the container's first
    /// LOCAL_DIRS entry)
    #[arg(long, env = "LOCAL_DIRS", hide_env_values = true)]
    pub local_dir: Option<PathBuf>,
    /// Read the application's secret from the first line of stdin (how `spindle run`
    /// passes it); without this, from the YARN container's credentials. Never from the
    /// environment or the command line, which other processes of the user can read.
    #[arg(long)]
    pub secret_stdin: bool,
    /// Milliseconds between heartbeats to the master
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub heartbeat_ms: u64,
    /// Milliseconds of silence from the master, or from a peer mid-transfer, before
    /// giving up on it
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub peer_timeout_ms: u64,
}

impl WorkerCommand {
    /// A worker for `master` with the liveness settings derived from
    /// `heartbeat_timeout`; `id` and the directory are set per launch.
    pub fn new(
        master: Option<String>,
        slots: u32,
        memory_bytes: u64,
        heartbeat_timeout: Duration,
    ) -> Self {
        WorkerCommand {
            master,
            id: 0,
            slots,
            memory_bytes,
            local_dir: None,
            secret_stdin: false,
            heartbeat_ms: heartbeat_interval(heartbeat_timeout).as_millis() as u64,
            peer_timeout_ms: heartbeat_timeout.as_millis() as u64,
        }
    }

    /// The arguments after the binary's name, starting with the subcommand.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["worker".to_string()];
        if let Some(master) = &self.master {
            args.push("--master".into());
            args.push(master.clone());
        }
        args.extend([
            "--id".into(),
            self.id.to_string(),
            "--slots".into(),
            self.slots.to_string(),
            "--memory-bytes".into(),
            self.memory_bytes.to_string(),
            "--heartbeat-ms".into(),
            self.heartbeat_ms.to_string(),
            "--peer-timeout-ms".into(),
            self.peer_timeout_ms.to_string(),
        ]);
        if let Some(dir) = &self.local_dir {
            args.push("--local-dir".into());
            args.push(dir.to_string_lossy().into_owned());
        }
        if self.secret_stdin {
            args.push("--secret-stdin".into());
        }
        args
    }
}

/// How often a worker heartbeats when it is declared lost after `timeout` of silence:
/// ten beats per timeout, at most one a second, at least one per 100 ms.
pub fn heartbeat_interval(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Run the application master (started by YARN for `spindle submit`; not typed by people)
#[derive(Args, Debug, Clone, PartialEq)]
pub struct AppMasterCommand {
    /// The job spec, localized into the container
    #[arg(long, default_value = SPEC)]
    pub spec: PathBuf,
    /// What `submit` staged, as JSON (set by `submit` in the AM's environment)
    #[arg(long, env = LAUNCH_ENV, hide_env_values = true)]
    pub launch: String,
    /// Worker containers
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub workers: u32,
}

impl AppMasterCommand {
    /// The AM's arguments; what it launched with travels in [`LAUNCH_ENV`] instead.
    pub fn args_for(workers: u32) -> Vec<String> {
        vec![
            "appmaster".into(),
            "--spec".into(),
            SPEC.into(),
            "--workers".into(),
            workers.to_string(),
        ]
    }
}

/// Run a query's stage tasks for its coordinator (started by `spindle run`, or by the
/// application master in a YARN container; not typed by people)
#[derive(Args, Debug, Clone, PartialEq)]
pub struct QueryWorkerCommand {
    /// Memory this worker's tasks share; past it they spill or fail
    #[arg(long, value_name = "BYTES")]
    pub memory_bytes: u64,
    /// Address to serve on (port 0: any free port); default: loopback, or in a YARN
    /// container the NodeManager's host
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// Encrypt connections after the handshake, as well as authenticating them
    #[arg(long)]
    pub encrypt: bool,
    /// Milliseconds between heartbeat bytes on standard output (with `spindle run`)
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub heartbeat_ms: u64,
    /// In a YARN container: this worker's id. The secret then comes from the container's
    /// credentials, the address goes to the application's key-value store (a key the
    /// container owns), and the worker stops when the store goes away. Without it, the
    /// secret is the first line of standard input and the address the first line of
    /// standard output.
    #[arg(long)]
    pub worker_id: Option<u32>,
}

impl QueryWorkerCommand {
    pub const NAME: &'static str = "query-worker";

    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            Self::NAME.into(),
            "--memory-bytes".into(),
            self.memory_bytes.to_string(),
            "--heartbeat-ms".into(),
            self.heartbeat_ms.to_string(),
        ];
        if let Some(bind) = &self.bind {
            args.extend(["--bind".into(), bind.clone()]);
        }
        if self.encrypt {
            args.push("--encrypt".into());
        }
        if let Some(id) = self.worker_id {
            args.extend(["--worker-id".into(), id.to_string()]);
        }
        args
    }
}

/// Run one instance of a service (started by the application master in a YARN
/// container; not typed by people): the service's script from the localized spec, with
/// its environment, through bash
#[derive(Args, Debug, Clone, PartialEq)]
pub struct ServiceCommand {
    /// The service, as named under `services:`
    #[arg(long)]
    pub service: String,
    /// The application spec, localized into the container
    #[arg(long, default_value = SPEC)]
    pub spec: PathBuf,
}

impl ServiceCommand {
    pub const NAME: &'static str = "service-run";

    pub fn to_args(&self) -> Vec<String> {
        vec![
            Self::NAME.into(),
            "--service".into(),
            self.service.clone(),
            "--spec".into(),
            self.spec.to_string_lossy().into_owned(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    enum Cli {
        Worker(WorkerCommand),
        #[command(name = "appmaster")]
        AppMaster(AppMasterCommand),
        #[command(name = "service-run")]
        Service(ServiceCommand),
        #[command(name = "query-worker")]
        Query(QueryWorkerCommand),
    }

    #[test]
    fn a_written_query_worker_command_parses_back_to_itself() {
        for (encrypt, worker_id, bind) in [(false, None, None), (true, Some(3), Some("node7:0"))] {
            let cmd = QueryWorkerCommand {
                memory_bytes: 1 << 30,
                bind: bind.map(String::from),
                encrypt,
                heartbeat_ms: 250,
                worker_id,
            };
            let argv = std::iter::once("spindle".to_string()).chain(cmd.to_args());
            let Cli::Query(parsed) = Cli::try_parse_from(argv).unwrap() else {
                panic!("not a query worker command");
            };
            assert_eq!(parsed, cmd);
        }
    }

    #[test]
    fn a_written_service_command_parses_back_to_itself() {
        let cmd = ServiceCommand {
            service: "web-ui".into(),
            spec: PathBuf::from(SPEC),
        };
        let argv = std::iter::once("spindle".to_string()).chain(cmd.to_args());
        let Cli::Service(parsed) = Cli::try_parse_from(argv).unwrap() else {
            panic!("not a service command");
        };
        assert_eq!(parsed, cmd);
    }

    #[test]
    fn a_written_worker_command_parses_back_to_itself() {
        let mut cmd = WorkerCommand::new(
            Some("10.0.0.1:4000".into()),
            4,
            1 << 30,
            Duration::from_secs(3),
        );
        cmd.id = 7;
        for (dir, stdin) in [(None, false), (Some(PathBuf::from("/tmp/w 7")), true)] {
            cmd.local_dir = dir;
            cmd.secret_stdin = stdin;
            let argv = std::iter::once("spindle".to_string()).chain(cmd.to_args());
            let Cli::Worker(parsed) = Cli::try_parse_from(argv).unwrap() else {
                panic!("not a worker command");
            };
            if cmd.local_dir.is_none() {
                // YARN's LOCAL_DIRS may be set in the test's environment
                let mut parsed = parsed.clone();
                parsed.local_dir = None;
                assert_eq!(parsed, cmd);
            } else {
                assert_eq!(parsed, cmd);
            }
        }
        assert_eq!(cmd.heartbeat_ms, 300);
        assert_eq!(cmd.peer_timeout_ms, 3000);
    }

    #[test]
    fn the_appmaster_command_parses() {
        let argv = std::iter::once("spindle".to_string())
            .chain(AppMasterCommand::args_for(3))
            .chain(["--launch".to_string(), "{}".into()]);
        let Cli::AppMaster(parsed) = Cli::try_parse_from(argv).unwrap() else {
            panic!("not an appmaster command");
        };
        assert_eq!(parsed.workers, 3);
        assert_eq!(parsed.spec, PathBuf::from(SPEC));
    }

    #[test]
    fn heartbeats_are_ten_per_timeout_within_bounds() {
        assert_eq!(
            heartbeat_interval(Duration::from_secs(30)),
            Duration::from_secs(1)
        );
        assert_eq!(
            heartbeat_interval(Duration::from_secs(3)),
            Duration::from_millis(300)
        );
        assert_eq!(
            heartbeat_interval(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
    }
}
