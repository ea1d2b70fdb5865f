//! Steering a running services application: `spindle container ls|kill`, `spindle scale`
//! and `spindle shutdown`. Commands go through the application's key-value store (its
//! authenticated endpoint); the application master answers each under its id.

use clap::{Args, Subcommand, ValueEnum};
use spindle_appmaster::kv::store::{KeyRange, Op, Txn};
use spindle_appmaster::services::control::{Command, Reply, COMMANDS, CONTAINERS, REPLIES};
use spindle_appmaster::services::state::{Instance, Outcome};
use std::process::ExitCode;
use std::time::Duration;

/// How long a command waits for the application master's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// List or kill the containers of a services application
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle container ls application_1700000000000_0001\n  \
    spindle container ls application_1700000000000_0001 --service web --json\n  \
    spindle container kill application_1700000000000_0001 web_2\n\n\
    Containers are named <service>_<n>; a restarted instance gets the next n.\n\
    A killed container is not replaced (the service wants one fewer).")]
pub struct ContainerArgs {
    #[command(subcommand)]
    op: ContainerOp,
}

#[derive(Subcommand)]
enum ContainerOp {
    /// One line per container: name, service, state, YARN container id, host
    Ls {
        app: String,
        /// Only this service's containers
        #[arg(long)]
        service: Option<String>,
        /// Every container, also those that have ended
        #[arg(long)]
        all: bool,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Stop one container for good
    Kill { app: String, container: String },
}

/// Run more or fewer instances of a service
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle scale APP web 4     # exactly four\n  \
    spindle scale APP web +2    # two more\n  \
    spindle scale APP web -1    # one fewer (the newest goes)")]
pub struct ScaleArgs {
    app: String,
    service: String,
    /// N, +N or -N
    #[arg(allow_hyphen_values = true)]
    count: String,
}

/// End a services application: its containers stop and YARN records the status
#[derive(Args)]
pub struct ShutdownArgs {
    app: String,
    /// The final status YARN records
    #[arg(long, value_enum, default_value_t = FinalState::Succeeded)]
    status: FinalState,
    /// Why, as YARN's diagnostics show it
    #[arg(long, default_value = "shut down by request")]
    diagnostics: String,
    /// Return once YARN records the end (at most 2 minutes), and say how it ended
    #[arg(long)]
    wait: bool,
}

/// How long `shutdown --wait` waits for YARN to record the end: the master stops its
/// containers (each within the NodeManager's grace period) and unregisters.
const ENDED_WITHIN: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum FinalState {
    Succeeded,
    Failed,
    Killed,
}

pub async fn container(args: ContainerArgs) -> ExitCode {
    crate::init_logging("error");
    let done = match args.op {
        ContainerOp::Ls {
            app,
            service,
            all,
            json,
        } => ls(&app, service.as_deref(), all, json).await,
        ContainerOp::Kill { app, container } => send(&app, Command::Kill { container }).await,
    };
    exit(done)
}

pub async fn scale(args: ScaleArgs) -> ExitCode {
    crate::init_logging("error");
    let command = match parse_count(&args.count) {
        Ok((count, delta)) => Command::Scale {
            service: args.service,
            count,
            delta,
        },
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    exit(send(&args.app, command).await)
}

pub async fn shutdown(args: ShutdownArgs) -> ExitCode {
    crate::init_logging("error");
    let outcome = match args.status {
        FinalState::Succeeded => Outcome::Succeeded,
        FinalState::Failed => Outcome::Failed,
        FinalState::Killed => Outcome::Killed,
    };
    let command = Command::Shutdown {
        outcome,
        diagnostics: args.diagnostics,
    };
    let mut done = send(&args.app, command).await;
    if done.is_ok() && args.wait {
        done = crate::yarn::apps::wait_until_ended(&args.app, ENDED_WITHIN)
            .await
            .map(|r| eprintln!("{}: {}", r.id, crate::yarn::apps::ending(&r)));
    }
    exit(done)
}

fn exit(done: Result<(), String>) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `3` → exactly three; `+2` / `-1` → relative.
fn parse_count(text: &str) -> Result<(Option<u32>, Option<i64>), String> {
    let bad = || format!("count {text:?} is not N, +N or -N");
    if text.starts_with(['+', '-']) {
        text.parse::<i64>()
            .map(|d| (None, Some(d)))
            .map_err(|_| bad())
    } else {
        text.parse::<u32>()
            .map(|n| (Some(n), None))
            .map_err(|_| bad())
    }
}

/// Every container the application's master lists under `spindle.containers/`.
pub async fn instances(app: &str) -> Result<Vec<Instance>, String> {
    let mut client = crate::kv::client(app).await?;
    let entries = client.get(KeyRange::Prefix(CONTAINERS.into())).await?;
    Ok(entries
        .iter()
        .filter_map(|(_, e)| serde_json::from_slice(&e.value).ok())
        .collect())
}

async fn ls(app: &str, service: Option<&str>, all: bool, json: bool) -> Result<(), String> {
    let mut rows: Vec<Instance> = instances(app)
        .await?
        .into_iter()
        .filter(|i: &Instance| service.is_none_or(|s| i.service == s))
        .filter(|i| all || i.state.is_active())
        .collect();
    rows.sort_by(|a, b| {
        (&a.service, a.name.len(), &a.name).cmp(&(&b.service, b.name.len(), &b.name))
    });
    if json {
        for i in rows {
            println!(
                "{}",
                serde_json::to_string(&i).expect("instances serialize")
            );
        }
        return Ok(());
    }
    println!(
        "{:<24} {:<16} {:<10} {:<40} HOST",
        "NAME", "SERVICE", "STATE", "CONTAINER"
    );
    for i in rows {
        let state = serde_json::to_value(i.state).expect("states serialize");
        println!(
            "{:<24} {:<16} {:<10} {:<40} {}",
            i.name,
            i.service,
            state.as_str().unwrap_or("?"),
            i.container.as_deref().unwrap_or("-"),
            i.host.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// Puts the command and waits for the application master's answer.
async fn send(app: &str, command: Command) -> Result<(), String> {
    let mut client = crate::kv::client(app).await?;
    // A job (not services) publishes no containers and answers no commands: say so now
    // rather than after the wait.
    if client
        .list(KeyRange::Prefix(CONTAINERS.into()))
        .await?
        .is_empty()
    {
        return Err(format!(
            "{app} runs no services (nothing under {CONTAINERS})"
        ));
    }
    let id = spindle_io::net::new_secret()[..16].to_string();
    let body = serde_json::to_vec(&command).expect("commands serialize");
    client.put(&format!("{COMMANDS}{id}"), body, None).await?;
    let reply_key = format!("{REPLIES}{id}");
    let Some(entry) = client.wait(&reply_key, ANSWER_WITHIN).await? else {
        return Err(format!(
            "{app} did not answer within {} s",
            ANSWER_WITHIN.as_secs()
        ));
    };
    let delete = Op::Delete {
        range: KeyRange::Key(reply_key),
        previous: false,
    };
    let _ = client.txn(Txn::ops(vec![delete])).await;
    let reply: Reply = serde_json::from_slice(&entry.value)
        .map_err(|e| format!("the application master's answer is unreadable: {e}"))?;
    if reply.ok {
        eprintln!("{}", reply.message);
        Ok(())
    } else {
        Err(reply.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_absolute_or_relative() {
        assert_eq!(parse_count("3"), Ok((Some(3), None)));
        assert_eq!(parse_count("+2"), Ok((None, Some(2))));
        assert_eq!(parse_count("-1"), Ok((None, Some(-1))));
        assert!(parse_count("two").is_err());
        assert!(parse_count("").is_err());
    }
}
