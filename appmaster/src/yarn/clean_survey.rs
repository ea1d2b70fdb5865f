//! What `spindle clean` finds in a staging directory, and its removals: the HDFS and
//! ResourceManager side of the command, whose rules are [`super::clean_plan`]'s.

use super::clean_guard::{recorded_path, CleanMarker, RECORD};
use super::clean_plan::{shared_entry, top_entry, AppDir, Entry, Fate, Plan, SharedFile};
use super::hdfs_error::one_line;
use hdfs_native_sync::client::FileStatus;
use hdfs_native_sync::{Client, HdfsError};
use spindle_hadoop::yarn::{ApplicationClient, ApplicationId, ApplicationState};

/// What became of each planned removal.
pub enum Outcome {
    Removed,
    Failed(String),
    /// Not tried: the clean's window had closed.
    Left,
}

pub async fn remove(client: &Client, plan: &Plan, marker: &CleanMarker) -> Vec<Outcome> {
    let mut outcome = Vec::with_capacity(plan.remove.len());
    for r in &plan.remove {
        if !marker.may_remove() {
            outcome.push(Outcome::Left);
            continue;
        }
        outcome.push(match client.delete(&r.path, r.is_dir).await {
            Ok(_) => Outcome::Removed,
            Err(HdfsError::FileNotFound(_)) => Outcome::Removed,
            Err(e) => Outcome::Failed(one_line(e)),
        });
    }
    outcome
}

/// The application directories (with their fates and records), the shared files and the
/// unfinished uploads under `root`; everything else there is left alone.
pub async fn survey(
    client: &Client,
    rm: &ApplicationClient,
    root: &str,
) -> Result<(Vec<AppDir>, Vec<SharedFile>, Vec<SharedFile>), String> {
    let (mut apps, mut shared, mut leftovers) = (vec![], vec![], vec![]);
    for entry in list(client, root).await? {
        let name = entry
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        match top_entry(&name, entry.isdir) {
            Entry::App => apps.push(AppDir {
                fate: fate(rm, &name).await?,
                uses: record(client, root, &entry.path).await?,
                bytes: bytes_under(client, &entry.path).await?,
                mtime_ms: entry.modification_time as i64,
                path: entry.path,
            }),
            Entry::SharedDir => {
                for file in list(client, &entry.path).await? {
                    let file_name = file.path.rsplit('/').next().unwrap_or_default();
                    let found = SharedFile {
                        mtime_ms: file.modification_time as i64,
                        bytes: file.length as u64,
                        path: file.path.clone(),
                    };
                    match shared_entry(&name, file_name, file.isdir) {
                        Entry::Shared => shared.push(found),
                        Entry::Leftover => leftovers.push(found),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok((apps, shared, leftovers))
}

/// What the ResourceManager says of application `name`; an error when it cannot say.
pub async fn fate(rm: &ApplicationClient, name: &str) -> Result<Fate, String> {
    let id: ApplicationId = name.parse().map_err(|e| format!("{name}: {e}"))?;
    match rm.get_application_report(id).await {
        Ok(r) => Ok(match r.state {
            Some(
                ApplicationState::Finished | ApplicationState::Failed | ApplicationState::Killed,
            ) => Fate::Ended {
                state: state_label(r.state),
                finish_ms: r.finish_time_ms,
            },
            state => Fate::Live {
                state: state_label(state),
            },
        }),
        Err(e)
            if e.remote()
                .is_some_and(|x| x.simple_class() == "ApplicationNotFoundException") =>
        {
            Ok(Fate::Unknown)
        }
        Err(e) => Err(format!("getApplicationReport of {name}: {e}")),
    }
}

/// The shared files an application's submit recorded; `None` if it recorded none (a
/// submit by an older spindle, which keeps every shared file).
async fn record(client: &Client, root: &str, dir: &str) -> Result<Option<Vec<String>>, String> {
    let path = format!("{dir}/{RECORD}");
    if !exists(client, &path).await? {
        return Ok(None);
    }
    let entries = list(client, &path).await?;
    let names = entries.iter().filter_map(|e| e.path.rsplit('/').next());
    Ok(Some(names.filter_map(|n| recorded_path(root, n)).collect()))
}

async fn bytes_under(client: &Client, dir: &str) -> Result<u64, String> {
    client
        .get_content_summary(dir)
        .await
        .map(|c| c.length)
        .map_err(|e| format!("{dir}: {}", one_line(e)))
}

async fn list(client: &Client, dir: &str) -> Result<Vec<FileStatus>, String> {
    match client.list_status(dir, false).await {
        Ok(list) => Ok(list),
        Err(HdfsError::FileNotFound(_)) => Ok(vec![]),
        Err(e) => Err(format!("cannot list {dir}: {}", one_line(e))),
    }
}

pub async fn exists(client: &Client, path: &str) -> Result<bool, String> {
    match client.get_file_info(path).await {
        Ok(_) => Ok(true),
        Err(HdfsError::FileNotFound(_)) => Ok(false),
        Err(e) => Err(format!("{path}: {}", one_line(e))),
    }
}

/// The ResourceManager's name for `state`, as `spindle status` prints it.
fn state_label(state: Option<ApplicationState>) -> String {
    state.map_or("UNKNOWN".to_string(), |s| format!("{s:?}").to_uppercase())
}
