//! `spindle logs`: what an application's containers wrote, with no JVM. A running
//! application's logs come from the NodeManagers' web service; a finished one's from the
//! files the NodeManagers aggregated into the remote log directory, once they are done.

mod finished;
mod nm;
mod running;

use clap::Args;
use spindle_appmaster::services::state::Instance;
use spindle_hadoop::yarn::{ApplicationId, ApplicationState};
use spindle_job::Timeout;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

/// Show what an application's containers wrote (stdout, stderr, ...)
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    spindle logs application_1700000000000_0001\n  \
    spindle logs APP --service web --file web.log --tail 50\n  \
    spindle logs APP --container web_2 --follow\n\n\
    A running application's logs are read from its NodeManagers; a finished one's from\n\
    the remote log directory (yarn.nodemanager.remote-app-log-dir), after waiting for\n\
    the NodeManagers to finish moving them there (up to --timeout).\n\
    Each file is headed by `==> CONTAINER on NODE: FILE <==`, unless both --container\n\
    and --file name a single file.")]
pub struct LogsArgs {
    /// Application id (application_<timestamp>_<n>)
    app: String,
    /// Only this container: its YARN id, or a service instance's name such as web_2
    #[arg(long)]
    container: Option<String>,
    /// Only the containers of this service
    #[arg(long)]
    service: Option<String>,
    /// Only log files of this name: SERVICE.out and SERVICE.log (a service's stdout and
    /// stderr), worker-N.out and .log, appmaster.out and .log, prelaunch.err, ...
    #[arg(long)]
    file: Option<String>,
    /// Only the last N lines of each file
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Keep printing what running containers write until the application ends
    #[arg(long, short = 'f')]
    follow: bool,
    /// How long to wait for a finished application's logs to be aggregated
    #[arg(long, default_value = "5m", value_parser = Timeout::parse)]
    timeout: Timeout,
    /// One JSON object per file: container, node, file, bytes, content
    #[arg(long, conflicts_with = "follow")]
    json: bool,
}

/// Which containers and files to show.
struct Selection {
    /// YARN container ids; `None` for all.
    containers: Option<Vec<String>>,
    file: Option<String>,
    /// Every file name offered, and whether one was picked: `--file` naming no file of
    /// the containers is an error that lists theirs, not an empty success.
    offered: RefCell<BTreeSet<String>>,
    picked: Cell<bool>,
}

impl Selection {
    fn container(&self, id: &str) -> bool {
        self.containers
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|c| c == id))
    }

    fn file(&self, name: &str) -> bool {
        let picked = self.file.as_deref().is_none_or(|f| f == name);
        if !picked {
            self.offered.borrow_mut().insert(name.to_string());
        }
        self.picked.set(self.picked.get() | picked);
        picked
    }

    /// An error when `--file` named none of the files the containers have.
    fn check_picked(&self) -> Result<(), String> {
        let offered = self.offered.borrow();
        match &self.file {
            Some(f) if !self.picked.get() && !offered.is_empty() => Err(format!(
                "no log file named {f} in these containers; they have: {}",
                offered.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            _ => Ok(()),
        }
    }
}

/// Writes files out, with headers unless the selection names one file.
struct Printer {
    json: bool,
    headers: bool,
    tail: Option<usize>,
    /// The file the last bytes came from, so following only heads a change.
    last: Option<(String, String)>,
}

impl Printer {
    fn file(&mut self, container: &str, node: &str, name: &str, bytes: &[u8], truncated: bool) {
        let bytes = match self.tail {
            Some(n) => last_lines(bytes, n),
            None => bytes,
        };
        let mut out = std::io::stdout().lock();
        if self.json {
            let v = serde_json::json!({
                "container": container,
                "node": node,
                "file": name,
                "bytes": bytes.len(),
                "truncated": truncated,
                "content": String::from_utf8_lossy(bytes),
            });
            let _ = writeln!(out, "{v}");
            return;
        }
        self.more(container, node, name, bytes);
        if truncated {
            let _ = writeln!(out, "[{name} was cut short while its node uploaded it]");
        }
    }

    /// Bytes of a file, headed when they come from another file than the last.
    fn more(&mut self, container: &str, node: &str, name: &str, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let key = (container.to_string(), name.to_string());
        if self.headers && self.last.as_ref() != Some(&key) {
            let _ = writeln!(out, "==> {container} on {node}: {name} <==");
        }
        self.last = Some(key);
        let _ = out.write_all(bytes);
        if self.headers && !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let _ = writeln!(out);
        }
        let _ = out.flush();
    }
}

/// The last `n` lines (a final line without a newline counts).
fn last_lines(bytes: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(0, |(i, _)| i + 1);
    &bytes[start..]
}

pub async fn logs(args: LogsArgs) -> ExitCode {
    crate::init_logging("error");
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: LogsArgs) -> Result<(), String> {
    let id: ApplicationId = args.app.parse()?;
    let cluster = crate::yarn::cluster_from_env()?;
    let rm = cluster.resource_manager().await?;
    let report = rm
        .get_application_report(id)
        .await
        .map_err(|e| format!("getApplicationReport: {e}"))?;
    let is_running = !report.state.is_some_and(ApplicationState::is_terminal);
    let instances = if args.service.is_some()
        || args
            .container
            .as_deref()
            .is_some_and(|c| !c.starts_with("container_"))
    {
        Some(instances(&args.app, &report.user, &cluster, is_running).await?)
    } else {
        None
    };
    let selection = select(&args, instances.as_deref())?;
    let mut printer = Printer {
        json: args.json,
        headers: !(args.container.is_some() && args.file.is_some()),
        tail: args.tail,
        last: None,
    };
    if is_running {
        let follow = args.follow.then(|| args.timeout.duration());
        running::show(&cluster, &rm, report, &selection, &mut printer, follow).await?;
    } else {
        if args.follow {
            eprintln!("{}: has ended; showing its aggregated logs", args.app);
        }
        finished::show(
            &cluster,
            &rm,
            report,
            &selection,
            &mut printer,
            args.timeout.duration(),
        )
        .await?;
    }
    selection.check_picked()
}

/// The containers and files the arguments pick.
fn select(args: &LogsArgs, instances: Option<&[Instance]>) -> Result<Selection, String> {
    let mut containers: Option<Vec<String>> = None;
    if let Some(service) = &args.service {
        let all = instances.unwrap_or_default();
        if !all.iter().any(|i| &i.service == service) {
            return Err(format!("{} has no service {service}", args.app));
        }
        containers = Some(
            all.iter()
                .filter(|i| &i.service == service)
                .filter_map(|i| i.container.clone())
                .collect(),
        );
    }
    if let Some(wanted) = &args.container {
        let id = if wanted.starts_with("container_") {
            wanted.clone()
        } else {
            let all = instances.unwrap_or_default();
            let instance = all
                .iter()
                .find(|i| &i.name == wanted)
                .ok_or_else(|| format!("{} has no container {wanted}", args.app))?;
            instance
                .container
                .clone()
                .ok_or_else(|| format!("{wanted} never got a container"))?
        };
        containers = Some(match containers {
            Some(ids) if !ids.contains(&id) => Vec::new(),
            _ => vec![id],
        });
    }
    Ok(Selection {
        containers,
        file: args.file.clone(),
        offered: RefCell::default(),
        picked: Cell::new(false),
    })
}

/// The service containers of `app`: from its key-value store while it runs, from the
/// summary its master left in the staging directory once it has ended.
async fn instances(
    app: &str,
    owner: &str,
    cluster: &spindle_appmaster::yarn::cluster::Cluster,
    is_running: bool,
) -> Result<Vec<Instance>, String> {
    if is_running {
        let found = crate::control::instances(app).await?;
        if found.is_empty() {
            return Err(format!(
                "{app} runs no services: name containers by their YARN id"
            ));
        }
        return Ok(found);
    }
    let summary = crate::yarn::read_app_file(cluster, owner, app, "summary.json").await?;
    let summary: serde_json::Value = serde_json::from_slice(&summary)
        .map_err(|e| format!("{app}'s summary is unreadable: {e}"))?;
    let containers = summary
        .get("containers")
        .ok_or_else(|| format!("{app} ran no services: name containers by their YARN id"))?;
    serde_json::from_value(containers.clone())
        .map_err(|e| format!("{app}'s summary lists containers unreadably: {e}"))
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn tails_count_lines_from_the_end() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
        assert_eq!(last_lines(b"", 3), b"");
    }
}
