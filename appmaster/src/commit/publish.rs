//! The two ways a finished staging directory becomes the output: directory renames where
//! the store has them, a manifest over uniquely named copies where it does not.

use super::manifest::Manifest;
use super::{existing_output, Inner, Names};
use futures::{StreamExt, TryStreamExt};
use spindle_io::{IoError, Location};
use std::collections::{HashMap, HashSet};
use tracing::warn;

/// Store calls (renames, copies, deletes) in flight at once.
const PARALLEL_CALLS: usize = 16;

/// Local disk and HDFS: the staging directory, completed with its manifest, takes the
/// output's place; the old output is removed file by file, as its manifest lists it.
pub(super) async fn by_rename(i: &Inner, files: &[(u32, String)]) -> Result<u64, IoError> {
    let sizes = staged_sizes(&i.staging).await?;
    let bytes = total_size(&sizes, files)?;
    let plan: Vec<(&String, String)> = files
        .iter()
        .enumerate()
        .map(|(n, (_, rel))| (rel, format!("part-{n:05}.{}", i.ext)))
        .collect();
    in_parallel(plan.iter().map(|(rel, name)| async move {
        i.staging.child(rel).rename_to(&i.staging.child(name)).await
    }))
    .await?;
    // Files of failed or superseded task attempts are not part of the output.
    let kept: HashSet<&String> = plan.iter().map(|(rel, _)| *rel).collect();
    in_parallel(
        sizes
            .keys()
            .filter(|rel| !kept.contains(rel))
            .map(|rel| async move { i.staging.child(rel).delete().await }),
    )
    .await?;
    let published: Vec<String> = plan.into_iter().map(|(_, name)| name).collect();
    let manifest = Manifest::new(&i.attempt, &i.job, published, vec![]);
    i.staging.child("_SUCCESS").put(manifest.to_bytes()).await?;
    i.hooks.step("before-publish").await?;
    verify_unchanged(i).await?;
    if i.output.stat().await?.is_none() {
        i.staging.rename_dir(&i.output).await?;
        after_publish(i).await;
    } else if i.output.exchange(&i.staging).await? {
        after_publish(i).await;
        remove_old(&i.staging, i.previous.as_ref()).await;
    } else {
        let old = i.output.sibling(&Names::of(&i.output).old(&i.attempt));
        i.output.rename_dir(&old).await?;
        i.hooks.step("after-move-old").await?;
        i.staging.rename_dir(&i.output).await?;
        after_publish(i).await;
        remove_old(&old, i.previous.as_ref()).await;
    }
    finished(i).await;
    Ok(bytes)
}

/// Object stores: copies under names unique to this commit, then the manifest (the commit
/// point: one PUT), then the previous commit's files and the staging copies go.
pub(super) async fn by_manifest(i: &Inner, files: &[(u32, String)]) -> Result<u64, IoError> {
    verify_unchanged(i).await?;
    let tag = commit_tag(&i.attempt);
    let old_files = i
        .previous
        .as_ref()
        .map(|m| m.files.clone())
        .unwrap_or_default();
    let plan: Vec<(Location, String)> = files
        .iter()
        .enumerate()
        .map(|(n, (_, rel))| (i.staging.child(rel), format!("part-{n:05}-{tag}.{}", i.ext)))
        .collect();
    if let Some((_, clash)) = plan.iter().find(|(_, name)| old_files.contains(name)) {
        return Err(IoError::Unsupported(format!(
            "{}: the new file name {clash} is taken by the previous commit",
            i.output.url()
        )));
    }
    let bytes = total_size(&staged_sizes(&i.staging).await?, files)?;
    in_parallel(
        plan.iter()
            .map(|(from, name)| async move { from.copy_to(&i.output.child(name)).await }),
    )
    .await?;
    let published: Vec<String> = plan.into_iter().map(|(_, name)| name).collect();
    i.hooks.step("before-publish").await?;
    let replaces: Vec<String> = old_files
        .into_iter()
        .filter(|f| !published.contains(f))
        .collect();
    let manifest = Manifest::new(&i.attempt, &i.job, published, replaces.clone());
    i.output.child("_SUCCESS").put(manifest.to_bytes()).await?;
    after_publish(i).await;
    for f in &replaces {
        if let Err(e) = i.output.child(f).delete().await {
            warn!(file = %f, error = %e, "cannot remove a replaced output file; the next job on this output will");
        }
    }
    if let Err(e) = i.staging.remove_all().await {
        warn!(staging = %i.staging.url(), error = %e, "cannot remove the staging copies");
    }
    finished(i).await;
    Ok(bytes)
}

/// Each staged file's size, by name, from one listing.
async fn staged_sizes(staging: &Location) -> Result<HashMap<String, u64>, IoError> {
    let prefix = staging.path.as_ref().len();
    Ok(staging
        .list()
        .await?
        .into_iter()
        .map(|m| {
            let rel = m.location.as_ref()[prefix..]
                .trim_start_matches('/')
                .to_string();
            (rel, m.size)
        })
        .collect())
}

fn total_size(sizes: &HashMap<String, u64>, files: &[(u32, String)]) -> Result<u64, IoError> {
    files.iter().try_fold(0, |sum, (task, rel)| {
        let size = sizes.get(rel).ok_or_else(|| {
            IoError::Unsupported(format!(
                "task {task}'s output {rel} is not in the staging directory"
            ))
        })?;
        Ok(sum + size)
    })
}

/// Runs store calls [`PARALLEL_CALLS`] at a time; the first error wins.
async fn in_parallel<F>(calls: impl Iterator<Item = F>) -> Result<(), IoError>
where
    F: std::future::Future<Output = Result<(), IoError>>,
{
    futures::stream::iter(calls)
        .buffer_unordered(PARALLEL_CALLS)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// A short name part unique to one commit attempt (FNV-1a of the attempt id).
pub(super) fn commit_tag(attempt: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in attempt.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Removes the files an old commit's manifest lists, then its directory if that leaves
/// it empty. Anything else in it stays, with a warning naming the directory.
pub(super) async fn remove_old(dir: &Location, manifest: Option<&Manifest>) {
    let listed = manifest.map(|m| m.files.as_slice()).unwrap_or_default();
    let names = listed.iter().map(String::as_str).chain(["_SUCCESS"]);
    let removed = in_parallel(names.map(|name| async move { dir.child(name).delete().await }));
    if let Err(e) = removed.await {
        warn!(dir = %dir.url(), error = %e, "cannot remove an old output file");
    }
    let _ = dir.remove_dir_if_empty().await;
    if let Ok(Some(_)) = dir.stat().await {
        warn!(dir = %dir.url(), "left the old output's directory: it holds files spindle did not write");
    }
}

/// The output must still be what `prepare` accepted: nobody added to it meanwhile.
async fn verify_unchanged(i: &Inner) -> Result<(), IoError> {
    let now = existing_output(&i.output, i.mode)
        .await
        .map_err(|e| IoError::Unsupported(format!("the output changed while the job ran: {e}")))?;
    if now != i.previous {
        return Err(IoError::Unsupported(format!(
            "{}: another commit replaced the output while the job ran",
            i.output.url()
        )));
    }
    Ok(())
}

/// Past the commit point nothing may fail the job: a hook there only pauses.
async fn after_publish(i: &Inner) {
    if let Err(e) = i.hooks.step("after-publish").await {
        warn!(error = %e, "after the commit point");
    }
}

async fn finished(i: &Inner) {
    if let Err(e) = i.hooks.step("done").await {
        warn!(error = %e, "after the commit point");
    }
}
