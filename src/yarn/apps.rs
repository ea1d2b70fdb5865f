//! `spindle status`, `spindle ls`, `spindle kill`: what the ResourceManager knows about
//! spindle applications, for people (a table) and scripts (`--json`).

use clap::Args;
use serde_json::json;
use spindle_appmaster::yarn::APPLICATION_TYPE;
use spindle_hadoop::yarn::{ApplicationFilter, ApplicationId, ApplicationReport, ApplicationState};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Show one application's state, progress, tracking URL and diagnostics
#[derive(Args)]
pub struct StatusArgs {
    /// Application id (application_<timestamp>_<n>)
    app: String,
    #[arg(long)]
    json: bool,
}

/// List spindle applications (running ones unless --all)
#[derive(Args)]
pub struct LsArgs {
    /// Include finished, failed and killed applications
    #[arg(long)]
    all: bool,
    #[arg(long)]
    json: bool,
}

/// Kill an application; its output is not committed
#[derive(Args)]
pub struct KillArgs {
    /// Application id (application_<timestamp>_<n>)
    app: String,
    #[arg(long)]
    json: bool,
}

pub fn state_name(state: Option<ApplicationState>) -> &'static str {
    state.map_or("UNKNOWN", ApplicationState::name)
}

pub fn report_json(r: &ApplicationReport) -> serde_json::Value {
    json!({
        "application_id": r.id.to_string(),
        "name": r.name,
        "user": r.user,
        "queue": r.queue,
        "type": r.application_type,
        "state": state_name(r.state),
        "final_status": r.final_status.map(|s| format!("{s:?}").to_uppercase()),
        "progress": r.progress,
        "am_host": r.host,
        "am_rpc_port": r.rpc_port,
        "tracking_url": r.tracking_url,
        "diagnostics": r.diagnostics,
        "tags": r.tags,
        "start_time_ms": r.start_time_ms,
        "finish_time_ms": r.finish_time_ms,
    })
}

fn parse_id(text: &str) -> Result<ApplicationId, ExitCode> {
    text.parse().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

pub async fn status(args: StatusArgs) -> ExitCode {
    crate::init_logging("error");
    let id = match parse_id(&args.app) {
        Ok(id) => id,
        Err(code) => return code,
    };
    let report = match connect_and(|rm| async move { rm.get_application_report(id).await }).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if args.json {
        println!("{}", report_json(&report));
    } else {
        let r = &report;
        println!("application  {}", r.id);
        println!("name         {}", r.name);
        println!("user/queue   {} / {}", r.user, r.queue);
        println!("state        {}", ending(r));
        println!("progress     {:.0}%", r.progress * 100.0);
        println!("master       {}:{}", r.host, r.rpc_port);
        println!("tracking     {}", r.tracking_url);
        if !r.diagnostics.trim().is_empty() {
            println!("diagnostics  {}", r.diagnostics.trim());
        }
    }
    ExitCode::SUCCESS
}

pub async fn ls(args: LsArgs) -> ExitCode {
    crate::init_logging("error");
    let mut filter = ApplicationFilter {
        application_types: vec![APPLICATION_TYPE.into()],
        ..Default::default()
    };
    if !args.all {
        filter.states = vec![
            ApplicationState::New,
            ApplicationState::NewSaving,
            ApplicationState::Submitted,
            ApplicationState::Accepted,
            ApplicationState::Running,
        ];
    }
    let mut apps = match connect_and(|rm| async move { rm.get_applications(&filter).await }).await {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    apps.sort_by_key(|a| a.id);
    if args.json {
        let list: Vec<_> = apps.iter().map(report_json).collect();
        println!("{}", serde_json::Value::Array(list));
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<32} {:<10} {:<10} {:>5}  {:<12} NAME",
        "APPLICATION", "STATE", "FINAL", "PROG", "QUEUE"
    );
    for a in &apps {
        println!(
            "{:<32} {:<10} {:<10} {:>4.0}%  {:<12} {}",
            a.id.to_string(),
            state_name(a.state),
            a.final_status
                .map(|s| format!("{s:?}").to_uppercase())
                .unwrap_or_default(),
            a.progress * 100.0,
            a.queue,
            a.name
        );
    }
    ExitCode::SUCCESS
}

pub async fn kill(args: KillArgs) -> ExitCode {
    crate::init_logging("error");
    let id = match parse_id(&args.app) {
        Ok(id) => id,
        Err(code) => return code,
    };
    let result = connect_and(|rm| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        // The RM answers "not yet" until the kill has gone through; ask until it has.
        while !rm
            .force_kill_application(id, Some("killed with spindle kill"))
            .await?
        {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        rm.get_application_report(id).await
    })
    .await;
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report_json(&report));
            } else {
                eprintln!("{}: {}", report.id, state_name(report.state));
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.contains("cannot perform operation MODIFY_APP") => fail(format!(
            "{e}\n(the cluster enforces application ACLs: only the owner, the cluster's \
             administrators and whoever the application's `acls.modify_users` and \
             `acls.modify_groups` name may kill it)"
        )),
        Err(e) => fail(e),
    }
}

/// Polls `app` until YARN records its end, within `within`; its last report.
pub async fn wait_until_ended(app: &str, within: Duration) -> Result<ApplicationReport, String> {
    let id = app.parse::<ApplicationId>().map_err(|e| e.to_string())?;
    let cluster = super::cluster_from_env()?;
    let rm = cluster.resource_manager().await?;
    tokio::time::timeout(within, super::submit::follow(&rm, id, false, false))
        .await
        .map_err(|_| format!("{app} had not ended {} s later", within.as_secs()))?
}

/// `FINISHED (SUCCEEDED)`: the state and the final status.
pub fn ending(r: &ApplicationReport) -> String {
    let status = r.final_status.map(|s| format!("{s:?}").to_uppercase());
    format!("{} ({})", state_name(r.state), status.unwrap_or_default())
}

async fn connect_and<T, F, Fut>(f: F) -> Result<T, String>
where
    F: FnOnce(spindle_hadoop::yarn::ApplicationClient) -> Fut,
    Fut: std::future::Future<Output = spindle_hadoop::Result<T>>,
{
    let cluster = super::cluster_from_env()?;
    let rm = cluster.resource_manager().await?;
    f(rm).await.map_err(|e| e.to_string())
}
