//! A finished application's logs: wait until the NodeManagers have moved them into the
//! remote log directory (partial logs would look complete), then read the node files.

use super::{Printer, Selection};
use crate::yarn::apps::state_name;
use spindle_appmaster::yarn::aggregated_logs::{find_app_dirs, read_app_dir, NodeLogs};
use spindle_appmaster::yarn::cluster::Cluster;
use spindle_appmaster::yarn::staging::Staging;
use spindle_hadoop::logs::aggregated::LogFile;
use spindle_hadoop::yarn::{ApplicationClient, ApplicationReport, LogAggregationStatus};
use std::time::{Duration, Instant};

const POLL_EVERY: Duration = Duration::from_secs(1);

pub async fn show(
    cluster: &Cluster,
    rm: &ApplicationClient,
    report: ApplicationReport,
    selection: &Selection,
    printer: &mut Printer,
    timeout: Duration,
) -> Result<(), String> {
    let app = report.id;
    let nodes = aggregated(cluster, rm, report, timeout).await?;
    let mut shown = 0;
    for (container, node, f) in selected(&nodes, selection) {
        printer.file(container, &node, &f.name, &f.bytes, f.truncated);
        shown += 1;
    }
    if shown == 0 && selection.check_picked().is_ok() {
        eprintln!("{app}: no container has a matching log file");
    }
    Ok(())
}

/// The files the selection picks, with their container and node (`host:port`).
pub fn selected<'a>(
    nodes: &'a [NodeLogs],
    selection: &'a Selection,
) -> impl Iterator<Item = (&'a str, String, &'a LogFile)> + 'a {
    nodes.iter().flat_map(move |node| {
        let node_id = node_id(&node.node);
        node.containers
            .iter()
            .filter(|c| selection.container(&c.container))
            .flat_map(move |c| {
                let node_id = node_id.clone();
                c.files
                    .iter()
                    .filter(|f| selection.file(&f.name))
                    .map(move |f| (c.container.as_str(), node_id.clone(), f))
            })
    })
}

/// Every node's aggregated logs of the finished application, in container order, once
/// the NodeManagers are done with them.
pub async fn aggregated(
    cluster: &Cluster,
    rm: &ApplicationClient,
    report: ApplicationReport,
    timeout: Duration,
) -> Result<Vec<NodeLogs>, String> {
    let conf = &cluster.conf;
    let status = wait_for_aggregation(rm, report.clone(), timeout).await?;
    let app = report.id.to_string();
    let default_fs = conf
        .get("fs.defaultFS")
        .ok_or("fs.defaultFS is not set in HADOOP_CONF_DIR")?;
    let root = conf
        .get("yarn.nodemanager.remote-app-log-dir")
        .unwrap_or_else(|| "/tmp/logs".into());
    // A remote log directory given as a URL may be on another filesystem.
    let fs = match root.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => default_fs,
    };
    let client = Staging::connect(&fs, &cluster.conf_dirs[0], &cluster.identity)?.client();
    let dirs = find_app_dirs(&client, conf, &report.user, &app, report.id.id)
        .await
        .map_err(|e| refused_hint(e, &cluster.identity.user, &report.user))?;
    if dirs.is_empty() {
        return Err(match status {
            Some(LogAggregationStatus::Disabled) => format!(
                "{app}: log aggregation is off on this cluster (yarn.log-aggregation-enable), \
                 so a finished application's logs stay on its nodes"
            ),
            _ => format!(
                "{app}: no aggregated logs under {root} for user {}",
                report.user
            ),
        });
    }
    let mut nodes = Vec::new();
    for (format, dir) in dirs {
        let read = read_app_dir(&client, format, &dir).await;
        nodes.extend(read.map_err(|e| refused_hint(e, &cluster.identity.user, &report.user))?);
    }
    for node in &mut nodes {
        node.containers
            .sort_by(|a, b| a.container.cmp(&b.container));
    }
    Ok(nodes)
}

/// Waits (bounded) until no NodeManager will upload more. Returns the last status, which
/// is `None` from ResourceManagers that do not report one.
async fn wait_for_aggregation(
    rm: &ApplicationClient,
    mut report: ApplicationReport,
    timeout: Duration,
) -> Result<Option<LogAggregationStatus>, String> {
    let deadline = Instant::now() + timeout;
    let mut said = false;
    loop {
        match report.log_aggregation {
            None => return Ok(None),
            Some(s) if s.is_settled() => {
                if matches!(
                    s,
                    LogAggregationStatus::Failed | LogAggregationStatus::TimedOut
                ) {
                    eprintln!(
                        "{}: log aggregation ended {s:?}: some containers' logs may be missing",
                        report.id
                    );
                }
                return Ok(Some(s));
            }
            Some(s) => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{}: the NodeManagers are still aggregating its logs ({s:?}) after {} s; \
                         try again later or raise --timeout",
                        report.id,
                        timeout.as_secs()
                    ));
                }
                if !said {
                    eprintln!(
                        "{} ({}): waiting for its logs to be aggregated ({s:?})",
                        report.id,
                        state_name(report.state)
                    );
                    said = true;
                }
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
        report = rm
            .get_application_report(report.id)
            .await
            .map_err(|e| format!("getApplicationReport: {e}"))?;
    }
}

/// `host_port` (the node file's name, maybe with a rolling suffix) as `host:port`.
fn node_id(file: &str) -> String {
    let mut parts = file.rsplitn(3, '_').collect::<Vec<_>>();
    parts.reverse();
    match parts.as_slice() {
        [host, port] if port.parse::<u16>().is_ok() => format!("{host}:{port}"),
        [host, port, stamp] if port.parse::<u16>().is_ok() && stamp.parse::<u64>().is_ok() => {
            format!("{host}:{port}")
        }
        [host, port, last] if last.parse::<u16>().is_ok() => format!("{host}_{port}:{last}"),
        _ => file.to_string(),
    }
}

/// A refusal to read another user's aggregated logs, with what to do about it: they are
/// files of the owner's that HDFS guards, whatever the application's view ACL says (as
/// with `yarn logs`).
fn refused_hint(error: String, reader: &str, owner: &str) -> String {
    if reader == owner || !error.contains("Permission denied") {
        return error;
    }
    format!(
        "{error}\n{reader} may not read {owner}'s aggregated logs on HDFS: once an application \
         has ended its logs are {owner}'s files. Read them as {owner} (or a member of the log \
         directory's group), or while the application runs, from its NodeManagers"
    )
}

#[cfg(test)]
mod tests {
    use super::node_id;

    #[test]
    fn node_files_name_their_node() {
        assert_eq!(node_id("localhost_33547"), "localhost:33547");
        assert_eq!(
            node_id("worker-1.example.com_8041_1700000000000"),
            "worker-1.example.com:8041"
        );
        assert_eq!(node_id("host_a_8041"), "host_a:8041");
    }
}
