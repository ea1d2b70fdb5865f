//! `spindle service-run`: the command of every service container. It reads the service's
//! script and environment from the localized spec (so no user text passes through the
//! NodeManager's launch script, which does not quote) and becomes bash running it. When
//! the master hands out fresh delegation tokens (a keytab application), it runs bash as
//! its child instead and keeps the container's credentials file up to date beside it.

use spindle_appmaster::cmdline::ServiceCommand;
use spindle_appmaster::yarn::app::KV_ENV;
use spindle_appmaster::yarn::launch::{read_credentials, secret_from};
use spindle_appmaster::yarn::tokens::{follow_tokens, FRESH_TOKENS_ENV};
use spindle_job::{Spec, SpecError};
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use tokio::signal::unix::{signal, Signal, SignalKind};

pub fn service_run(args: ServiceCommand) -> ExitCode {
    let spec = match Spec::from_file(&args.spec.display().to_string()) {
        Ok(Spec::App(app)) => app,
        Ok(Spec::Job(_) | Spec::Query(_)) => {
            return fail(&format!("{} is a job spec", args.spec.display()))
        }
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
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(&service.script)
        .envs(&service.env)
        .env("PATH", path);
    if std::env::var_os(FRESH_TOKENS_ENV).is_some() {
        return run_with_fresh_tokens(bash);
    }
    let err = bash.exec();
    fail(&format!("cannot run bash: {err}"))
}

/// Runs `bash` to its end while following the master's fresh tokens into the
/// container's credentials file; SIGTERM, SIGINT and SIGHUP are passed on to bash.
fn run_with_fresh_tokens(bash: std::process::Command) -> ExitCode {
    let (Ok(kv), Ok(credentials)) = (std::env::var(KV_ENV), crate::yarn::credentials_file()) else {
        return fail("fresh tokens need the key-value store and the container's credentials");
    };
    let secret = match read_credentials(&credentials).and_then(|c| secret_from(&c)) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start a runtime: {e}")),
    };
    crate::init_logging("info");
    runtime.block_on(async move {
        let mut child = match tokio::process::Command::from(bash).spawn() {
            Ok(c) => c,
            Err(e) => return fail(&format!("cannot run bash: {e}")),
        };
        let pid = child.id().map(|p| p as i32);
        let follow = follow_tokens(&kv, &secret, &credentials);
        tokio::pin!(follow);
        let mut signals = [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::hangup(),
        ]
        .map(|kind| (kind, signal(kind).ok()));
        loop {
            let [(term, t), (int, i), (hup, h)] = &mut signals;
            let forward = tokio::select! {
                status = child.wait() => return exit_code(status),
                () = &mut follow => unreachable!("follow_tokens never ends"),
                Some(()) = recv(t) => *term,
                Some(()) = recv(i) => *int,
                Some(()) = recv(h) => *hup,
            };
            if let Some(pid) = pid {
                // SAFETY: kill(2) with a pid we spawned and a valid signal number.
                unsafe { libc::kill(pid, forward.as_raw_value()) };
            }
        }
    })
}

async fn recv(s: &mut Option<Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// bash's exit status as this process's: its code, or 128 + the signal that ended it.
fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => ExitCode::from(
            s.code()
                .or_else(|| s.signal().map(|n| 128 + n))
                .unwrap_or(1) as u8,
        ),
        Err(e) => fail(&format!("waiting for bash: {e}")),
    }
}

fn fail(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::FAILURE
}
