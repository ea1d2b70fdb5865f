//! `spindle service-run`: the command of every service container. It reads the service's
//! script and environment from the localized spec (so no user text passes through the
//! NodeManager's launch script, which does not quote) and becomes bash running it.

use spindle_appmaster::cmdline::ServiceCommand;
use spindle_job::{Spec, SpecError};
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

pub fn service_run(args: ServiceCommand) -> ExitCode {
    let spec = match Spec::from_file(&args.spec.display().to_string()) {
        Ok(Spec::App(app)) => app,
        Ok(Spec::Job(_)) => return fail(&format!("{} is a job spec", args.spec.display())),
        Err(SpecError::Read { path, source }) => return fail(&format!("{path}: {source}")),
        Err(e) => return fail(&e.to_string()),
    };
    let Some(service) = spec.services.get(&args.service) else {
        return fail(&format!("the spec has no service {}", args.service));
    };
    // The spindle binary sits in the working directory: `spindle kv ...` just works.
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let path = match std::env::var("PATH") {
        Ok(p) => format!("{}:{p}", cwd.display()),
        Err(_) => cwd.display().to_string(),
    };
    let err = std::process::Command::new("bash")
        .arg("-c")
        .arg(&service.script)
        .envs(&service.env)
        .env("PATH", path)
        .exec();
    fail(&format!("cannot run bash: {err}"))
}

fn fail(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::FAILURE
}
