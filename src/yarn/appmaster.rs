//! `spindle appmaster`: the YARN application master's entry point. It gathers what the
//! container gives it and runs `spindle_appmaster::yarn::am`.

use spindle_appmaster::cmdline::AppMasterCommand;
use spindle_appmaster::progress::Status;
use spindle_appmaster::yarn::am::{run_appmaster, AmEnv};
use spindle_job::Spec;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tracing::error;

/// The localized spec, read once by the binary (the runtime it gets depends on its kind).
pub fn read_spec(args: &AppMasterCommand) -> Result<Spec, String> {
    Spec::from_file(&args.spec.display().to_string()).map_err(|e| e.to_string())
}

pub async fn appmaster(args: AppMasterCommand, spec: Result<Spec, String>) -> ExitCode {
    crate::init_logging("info");
    let started = Instant::now();
    let env = match gather(args, spec) {
        Ok(env) => env,
        Err(e) => return before_registering(&e),
    };
    match run_appmaster(env, started).await {
        Ok(Status::Succeeded) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => before_registering(&e),
    }
}

fn gather(args: AppMasterCommand, spec: Result<Spec, String>) -> Result<AmEnv, String> {
    let mut protected = crate::run::protected_places();
    let cluster = super::cluster_in_container()?;
    protected.hdfs_home = Some(format!("/user/{}", cluster.identity.user));
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let log_dir = std::env::var("LOG_DIRS")
        .ok()
        .and_then(|dirs| dirs.split(',').next().map(PathBuf::from))
        .unwrap_or_else(|| cwd.clone());
    Ok(AmEnv {
        log_dir,
        path: std::env::var("PATH").ok(),
        spec,
        launch: args.launch,
        workers: args.workers,
        container_id: std::env::var("CONTAINER_ID").unwrap_or_default(),
        host: std::env::var("NM_HOST").unwrap_or_else(|_| spindle_io::splits::local_host()),
        credentials_file: super::credentials_file()?,
        cluster,
        cwd,
        protected,
    })
}

/// Errors before registering: YARN shows the container's exit and this log's tail as
/// diagnostics.
fn before_registering(e: &str) -> ExitCode {
    error!("application master failed before it could register: {e}");
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
