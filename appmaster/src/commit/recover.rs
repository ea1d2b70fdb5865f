//! Finishing or rolling back a commit a dead job left behind, under the output's lease (so
//! nobody else is committing). Before the commit point the old output comes back; after
//! it the new output stays and the old one's files go.

use super::manifest::Manifest;
use super::publish::{commit_tag, remove_old};
use super::Names;
use spindle_io::{IoError, Location};
use tracing::warn;

pub(super) async fn recover(output: &Location) -> Result<(), IoError> {
    let names = Names::of(output);
    let Some(parent) = output.parent() else {
        return Ok(());
    };
    let lease = names.lease();
    let beside = parent.child_names().await?;
    for temp in beside.iter().filter(|n| names.is_lease_temp(n)) {
        warn!(output = %output.url(), file = %temp, "removing a lease renewal that was cut short");
        parent.delete_listed(temp).await?;
    }
    let leftovers: Vec<String> = beside
        .into_iter()
        .filter(|n| n.starts_with(&names.prefix) && !n.starts_with(&lease))
        .collect();
    if leftovers.is_empty() {
        return by_manifest_only(output).await;
    }
    warn!(output = %output.url(), ?leftovers, "recovering an interrupted commit");
    if output.renames_dirs() {
        by_rename(output, &parent, leftovers).await
    } else {
        by_manifest(output, &names, &parent, leftovers).await
    }
}

async fn manifest_in(dir: &Location) -> Result<Option<Manifest>, IoError> {
    Ok(dir
        .child("_SUCCESS")
        .read_small()
        .await?
        .and_then(|b| Manifest::parse(&b)))
}

async fn by_rename(
    output: &Location,
    parent: &Location,
    leftovers: Vec<String>,
) -> Result<(), IoError> {
    let mut leftovers = leftovers;
    if output.stat().await?.is_none() {
        // Killed between moving the old output aside and moving the new one in.
        if let Some(at) = leftovers.iter().position(|n| n.ends_with(".old")) {
            let old = parent.child(&leftovers.remove(at));
            warn!(output = %output.url(), "rolling back: restoring the previous output");
            old.rename_dir(output).await?;
        }
    }
    for name in leftovers {
        let dir = parent.child(&name);
        match manifest_in(&dir).await? {
            // An old output moved aside, or a complete staging never published.
            Some(m) => remove_old(&dir, Some(&m)).await,
            // Staging of an attempt that never finished: only its workers wrote there.
            None => dir.remove_all().await?,
        }
    }
    Ok(())
}

async fn by_manifest(
    output: &Location,
    names: &Names,
    parent: &Location,
    stagings: Vec<String>,
) -> Result<(), IoError> {
    let current = manifest_in(output).await?;
    finish_replacing(output, current.as_ref()).await?;
    let committed = current.as_ref().map(|m| m.commit.as_str());
    let partial: Vec<String> = stagings
        .iter()
        .filter_map(|s| s.strip_prefix(&names.prefix))
        .filter(|attempt| Some(*attempt) != committed)
        .map(|attempt| format!("-{}.", commit_tag(attempt)))
        .collect();
    if !partial.is_empty() {
        let keep = current
            .as_ref()
            .map(|m| m.files.clone())
            .unwrap_or_default();
        for e in output.entries().await? {
            let copied = e.rel.starts_with("part-") && partial.iter().any(|t| e.rel.contains(t));
            if copied && !keep.contains(&e.rel) {
                output.child(&e.rel).delete().await?;
            }
        }
    }
    for s in stagings {
        parent.child(&s).remove_all().await?;
    }
    Ok(())
}

/// Object stores: a manifest in place whose replaced files are still there.
async fn by_manifest_only(output: &Location) -> Result<(), IoError> {
    if output.renames_dirs() {
        return Ok(());
    }
    let current = manifest_in(output).await?;
    finish_replacing(output, current.as_ref()).await
}

async fn finish_replacing(output: &Location, current: Option<&Manifest>) -> Result<(), IoError> {
    let Some(m) = current else {
        return Ok(());
    };
    for f in m.replaces.iter().filter(|f| !m.files.contains(f)) {
        output.child(f).delete().await?;
    }
    Ok(())
}
