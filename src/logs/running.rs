//! A running application's logs: the ResourceManager names its containers and their
//! nodes, each NodeManager serves its containers' files. Following polls the files' sizes
//! and prints what was added.

use super::nm::{LogFileInfo, NodeManagerLogs};
use super::{Printer, Selection};
use crate::yarn::apps::state_name;
use spindle_appmaster::yarn::cluster::Cluster;
use spindle_hadoop::yarn::{
    ApplicationClient, ApplicationReport, ApplicationState, ContainerReport, ContainerState,
};
use std::collections::HashMap;
use std::time::Duration;

/// How often `--follow` looks for new output.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

pub async fn show(
    cluster: &Cluster,
    rm: &ApplicationClient,
    mut report: ApplicationReport,
    selection: &Selection,
    printer: &mut Printer,
    follow: Option<Duration>,
) -> Result<(), String> {
    let nm = NodeManagerLogs::new()?;
    // How much of each (container, file) has been printed.
    let mut printed: HashMap<(String, String), u64> = HashMap::new();
    loop {
        let mut shown = 0;
        for c in containers(rm, &report, selection).await? {
            let id = c.id.to_string();
            let node = c.node.to_string();
            let files = match nm.files(&c.node_http_address, &id).await {
                Ok(files) => files,
                // It may have ended since the ResourceManager listed it.
                Err(e) if follow.is_some() || c.state != Some(ContainerState::Running) => {
                    tracing::debug!("{e}");
                    continue;
                }
                Err(e) => {
                    eprintln!("warning: {id}: {e}");
                    continue;
                }
            };
            for f in files.iter().filter(|f| selection.file(&f.name)) {
                let key = (id.clone(), f.name.clone());
                match printed.get(&key).copied() {
                    None => {
                        let piece = nm.read(&c.node_http_address, &id, &f.name, None).await?;
                        printer.file(&id, &node, &f.name, &piece.bytes, false);
                        printed.insert(key, piece.file_len);
                    }
                    Some(done) if f.size > done => {
                        let (bytes, len) = added(&nm, &c, f, done).await?;
                        printer.more(&id, &node, &f.name, &bytes);
                        printed.insert(key, len);
                    }
                    Some(_) => {}
                }
                shown += 1;
            }
        }
        let Some(aggregation_timeout) = follow else {
            if shown == 0 && selection.check_picked().is_ok() {
                eprintln!(
                    "{}: no running container has a matching log file",
                    report.id
                );
            }
            return Ok(());
        };
        tokio::time::sleep(FOLLOW_EVERY).await;
        report = rm
            .get_application_report(report.id)
            .await
            .map_err(|e| format!("getApplicationReport: {e}"))?;
        if report.state.is_some_and(ApplicationState::is_terminal) {
            eprintln!("{}: {}", report.id, state_name(report.state));
            // What containers wrote after the last look is in the aggregated logs.
            let nodes =
                super::finished::aggregated(cluster, rm, report, aggregation_timeout).await?;
            for (container, node, f) in super::finished::selected(&nodes, selection) {
                match printed.get(&(container.to_string(), f.name.clone())) {
                    None => printer.file(container, &node, &f.name, &f.bytes, f.truncated),
                    Some(&done) => {
                        let rest = f.bytes.get(done as usize..).unwrap_or_default();
                        printer.more(container, &node, &f.name, rest);
                    }
                }
            }
            return Ok(());
        }
    }
}

/// The running containers the selection picks, in id order.
async fn containers(
    rm: &ApplicationClient,
    report: &ApplicationReport,
    selection: &Selection,
) -> Result<Vec<ContainerReport>, String> {
    let Some(attempt) = report.current_attempt else {
        return Ok(Vec::new());
    };
    let mut all = rm
        .get_containers(attempt)
        .await
        .map_err(|e| format!("getContainers: {e}"))?;
    // Ended containers' files stay on their node until the application ends.
    all.retain(|c| {
        matches!(
            c.state,
            Some(ContainerState::Running | ContainerState::Complete)
        ) && !c.node_http_address.is_empty()
            && selection.container(&c.id.to_string())
    });
    all.sort_by_key(|c| c.id.to_string());
    Ok(all)
}

/// The bytes written after the first `done`, and the file's length after them. The tail
/// is asked for by size; if the file grew past that meanwhile, the gap is asked again.
async fn added(
    nm: &NodeManagerLogs,
    c: &ContainerReport,
    f: &LogFileInfo,
    done: u64,
) -> Result<(Vec<u8>, u64), String> {
    let id = c.id.to_string();
    let mut want = f.size - done;
    for _ in 0..3 {
        let piece = nm
            .read(&c.node_http_address, &id, &f.name, Some(want))
            .await?;
        let start = piece.file_len - piece.bytes.len() as u64;
        if start <= done {
            let skip = (done - start) as usize;
            return Ok((
                piece.bytes[skip.min(piece.bytes.len())..].to_vec(),
                piece.file_len,
            ));
        }
        want = piece.file_len - done;
    }
    Err(format!("{id} {} grows faster than it can be read", f.name))
}
