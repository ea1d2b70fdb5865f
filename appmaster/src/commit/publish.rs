//! The two ways a finished staging directory becomes the output: directory renames where
//! the store has them, a manifest over uniquely named copies where it does not.

use super::manifest::Manifest;
use super::{existing_output, Inner, Names};
use futures::{StreamExt, TryStreamExt};
use spindle_io::tree::EntryKind;
use spindle_io::{IoError, Location};
use tracing::warn;

/// Copies in flight at once on object stores.
const PARALLEL_COPIES: usize = 16;

/// Local disk and HDFS: the staging directory, completed with its manifest, takes the
/// output's place; the old output is removed file by file, as its manifest lists it.
pub(super) async fn by_rename(i: &Inner, files: &[(u32, String)]) -> Result<u64, IoError> {
    let mut published = Vec::with_capacity(files.len());
    let mut bytes = 0;
    for (n, (_, rel)) in files.iter().enumerate() {
        let name = format!("part-{n:05}.{}", i.ext);
        let from = i.staging.child(rel);
        bytes += from.head().await?.size;
        from.rename_to(&i.staging.child(&name)).await?;
        published.push(name);
    }
    // Files of failed or superseded task attempts are not part of the output.
    for e in i.staging.entries().await? {
        if e.kind != EntryKind::Dir && !published.contains(&e.rel) {
            i.staging.child(&e.rel).delete().await?;
        }
    }
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
    let sizes: Vec<u64> = futures::stream::iter(plan.iter().map(|(from, name)| async move {
        let size = from.head().await?.size;
        from.copy_to(&i.output.child(name)).await?;
        Ok::<u64, IoError>(size)
    }))
    .buffer_unordered(PARALLEL_COPIES)
    .try_collect()
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
    Ok(sizes.iter().sum())
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
    for name in listed.iter().map(String::as_str).chain(["_SUCCESS"]) {
        if let Err(e) = dir.child(name).delete().await {
            warn!(dir = %dir.url(), file = name, error = %e, "cannot remove an old output file");
        }
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
