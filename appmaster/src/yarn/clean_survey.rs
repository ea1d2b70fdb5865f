//! What `spindle clean` finds in a staging directory, and its removals: the HDFS and
//! ResourceManager side of the command, whose rules are [`super::clean_plan`]'s.

use super::clean_guard::{recorded_path, CleanMarker, RECORD};
use super::clean_plan::{shared_entry, top_entry, AppDir, Entry, Fate, Plan, SharedFile};
use super::hdfs_error::one_line;
use futures::{stream, StreamExt, TryStreamExt};
use hdfs_native_sync::client::FileStatus;
use hdfs_native_sync::{Client, HdfsError};
use spindle_hadoop::yarn::{ApplicationClient, ApplicationId, ApplicationState};
use spindle_io::bounded_store::hdfs_within as within;
use std::collections::HashMap;

/// What became of each planned removal.
pub enum Outcome {
    Removed,
    Failed(String),
    /// Not tried: the clean's window had closed.
    Left,
}

/// Removes what `plan` says, several at a time, while `marker`'s window lasts; one
/// outcome per removal, in the plan's order.
pub async fn remove(client: &Client, plan: &Plan, marker: &CleanMarker) -> Vec<Outcome> {
    stream::iter(&plan.remove)
        .map(|r| async move {
            if !marker.may_remove() {
                return Outcome::Left;
            }
            match within(&r.path, client.delete(&r.path, r.is_dir)).await {
                Ok(_) | Err(HdfsError::FileNotFound(_)) => Outcome::Removed,
                Err(e) => Outcome::Failed(one_line(e)),
            }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await
}

/// How many calls to the NameNode or ResourceManager a clean keeps in flight.
const IN_FLIGHT: usize = 16;

/// What is known of an application directory before the clean's marker: the
/// ResourceManager's word and the bytes below it.
pub struct Known {
    pub fate: Fate,
    pub bytes: u64,
}

/// The application directories under `root`, with what the ResourceManager says of each
/// and their sizes: the slow part with many applications, asked before the marker,
/// whose window is short. Nothing here needs the marker: an application only moves
/// towards its end (one seen running stays kept), and a directory made later is found
/// by [`survey`], after the marker.
pub async fn fates(
    client: &Client,
    rm: &ApplicationClient,
    root: &str,
) -> Result<HashMap<String, Known>, String> {
    let apps = list(client, root)
        .await?
        .into_iter()
        .filter(|e| top_entry(last_part(&e.path), e.isdir) == Entry::App);
    stream::iter(apps)
        .map(|e| async move {
            let fate = fate(rm, last_part(&e.path)).await?;
            let bytes = bytes_under(client, &e.path).await;
            Ok::<_, String>((e.path, Known { fate, bytes }))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
}

/// After the marker: the application directories (each with its fate from `known`, and
/// the shared files it recorded), the shared files and the unfinished uploads under
/// `root`; everything else there is left alone. A directory `known` lacks was made
/// during the clean and stays.
pub async fn survey(
    client: &Client,
    root: &str,
    known: &HashMap<String, Known>,
) -> Result<(Vec<AppDir>, Vec<SharedFile>, Vec<SharedFile>), String> {
    let (mut app_dirs, mut shared, mut leftovers) = (vec![], vec![], vec![]);
    for entry in list(client, root).await? {
        let name = last_part(&entry.path).to_string();
        match top_entry(&name, entry.isdir) {
            Entry::App => app_dirs.push(entry),
            Entry::SharedDir => {
                for file in list(client, &entry.path).await? {
                    let found = SharedFile {
                        mtime_ms: file.modification_time as i64,
                        bytes: file.length as u64,
                        path: file.path.clone(),
                    };
                    match shared_entry(&name, last_part(&file.path), file.isdir) {
                        Entry::Shared => shared.push(found),
                        Entry::Leftover => leftovers.push(found),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut apps: Vec<AppDir> = stream::iter(app_dirs)
        .map(|e| async move {
            let (fate, bytes) = match known.get(&e.path) {
                Some(k) => (k.fate.clone(), k.bytes),
                None => (
                    Fate::Live {
                        state: "made during this clean".to_string(),
                    },
                    0,
                ),
            };
            Ok::<_, String>(AppDir {
                uses: record(client, root, &e.path).await?,
                mtime_ms: e.modification_time as i64,
                path: e.path,
                fate,
                bytes,
            })
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    apps.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((apps, shared, leftovers))
}

fn last_part(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// What the ResourceManager says of application `name`; an error when it cannot say.
pub async fn fate(rm: &ApplicationClient, name: &str) -> Result<Fate, String> {
    let id: ApplicationId = name.parse().map_err(|e| format!("{name}: {e}"))?;
    match rm.get_application_report(id).await {
        Ok(r) => {
            let state = r
                .state
                .map_or("UNKNOWN", ApplicationState::name)
                .to_string();
            Ok(match r.state {
                Some(s) if s.is_terminal() => Fate::Ended {
                    state,
                    finish_ms: r.finish_time_ms,
                },
                _ => Fate::Live { state },
            })
        }
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
    if info(client, &path).await?.is_none() {
        return Ok(None);
    }
    let entries = list(client, &path).await?;
    let names = entries.iter().filter_map(|e| e.path.rsplit('/').next());
    Ok(Some(names.filter_map(|n| recorded_path(root, n)).collect()))
}

/// The bytes below `dir`, for the report only: 0 if the NameNode cannot say (the
/// directory went meanwhile).
async fn bytes_under(client: &Client, dir: &str) -> u64 {
    client
        .get_content_summary(dir)
        .await
        .map_or(0, |c| c.length)
}

/// The entries of `dir`; none when it does not exist.
pub(super) async fn list(client: &Client, dir: &str) -> Result<Vec<FileStatus>, String> {
    match within(dir, client.list_status(dir, false)).await {
        Ok(list) => Ok(list),
        Err(HdfsError::FileNotFound(_)) => Ok(vec![]),
        Err(e) => Err(format!("cannot list {dir}: {}", one_line(e))),
    }
}

/// What the NameNode says of `path`; `None` when there is nothing there.
pub async fn info(client: &Client, path: &str) -> Result<Option<FileStatus>, String> {
    match within(path, client.get_file_info(path)).await {
        Ok(s) => Ok(Some(s)),
        Err(HdfsError::FileNotFound(_)) => Ok(None),
        Err(e) => Err(format!("{path}: {}", one_line(e))),
    }
}
