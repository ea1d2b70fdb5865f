//! `spindle clean`: removes what submits left in the user's staging directory
//! (`/user/<user>/.spindle`) once nothing needs it: ended applications' directories, and
//! shared files (binaries, site files, service files) that no remaining application
//! uses. The rules are `clean_plan`'s; the handshake with concurrent submits is
//! `clean_guard`'s, whose submit side is [`hold_staged`].

use clap::Args;
use serde_json::json;
use spindle_appmaster::yarn::clean_guard::{self, CleanMarker};
use spindle_appmaster::yarn::clean_plan::Fate;
use spindle_appmaster::yarn::clean_plan::{plan, Plan};
use spindle_appmaster::yarn::clean_survey::{fate, fates, info, remove, survey, Outcome};
use spindle_appmaster::yarn::cluster::Cluster;
use spindle_appmaster::yarn::launch::{LaunchInfo, Staged};
use spindle_appmaster::yarn::staging::Staging;
use spindle_hadoop::yarn::{ApplicationClient, ApplicationId};
use spindle_job::Timeout;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Remove what submits left in your staging directory that nothing needs any more
#[derive(Args)]
#[command(
    long_about = "Remove what `spindle submit` left in your staging directory \
    (/user/<you>/.spindle on the default filesystem, or --proxy-user's) that nothing \
    needs any more:\n\n\
    - the directory of each application that ended (FINISHED, FAILED, KILLED) at least \
    --older-than ago: its spec, secret, key-value journal and summary (after which \
    `submit --wait` and `logs` of it have no summary to show);\n\
    - a directory the ResourceManager does not know, once unchanged for --older-than \
    and at least an hour;\n\
    - each binary, site file and service file (bin/, conf/, files/) that no remaining \
    application uses and that has not changed for --older-than (a later submit uploads \
    it again if it needs it).\n\n\
    Running applications keep their directories and every file they use, however old. \
    Nothing spindle did not name is touched. A submit that runs meanwhile waits for the \
    clean (at most a minute) and fails, having submitted nothing, if a file it chose was \
    removed. Files are removed, not moved to the HDFS trash."
)]
pub struct CleanArgs {
    /// Keep what ended or changed less than this ago (`7d`, `12h`, `0s`)
    #[arg(long, default_value = "7d", value_name = "AGE", value_parser = parse_age)]
    older_than: Duration,
    /// Show what would be removed and why; remove nothing
    #[arg(long)]
    dry_run: bool,
    /// One JSON document on stdout: what was removed, what was kept, and why
    #[arg(long)]
    json: bool,
    /// Clean USER's staging directory, acting as USER: what `submit --proxy-user USER`
    /// left (the cluster's hadoop.proxyuser.<you>.hosts and .groups or .users must
    /// allow it)
    #[arg(long, value_name = "USER")]
    proxy_user: Option<String>,
}

fn parse_age(text: &str) -> Result<Duration, String> {
    Timeout::parse_delay(text).map(Timeout::duration)
}

pub async fn clean(args: CleanArgs) -> ExitCode {
    crate::init_logging("error");
    let cleaned = match super::proxy::cluster_acting_for(args.proxy_user.as_deref()) {
        Ok(cluster) => clean_staging(&args, &cluster)
            .await
            .map_err(|e| super::proxy::refusal_hint(&cluster, e)),
        Err(e) => Err(e),
    };
    match cleaned {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn clean_staging(args: &CleanArgs, cluster: &Cluster) -> Result<ExitCode, String> {
    let staging = staging_of(cluster)?;
    let client = staging.client();
    let root = staging.root.clone();
    if info(&client, &root).await?.is_none() {
        return Ok(report(args, &root, &Plan::default(), &[]));
    }
    let rm = cluster.resource_manager().await?;
    let known = fates(&client, &rm, &root).await?;
    // A real clean holds submits off before it reads their records; a dry run only looks.
    let marker = match args.dry_run {
        true => None,
        false => Some(CleanMarker::make(&client, &root).await?),
    };
    let now_ms = marker.as_ref().map_or_else(local_now_ms, |m| m.made_ms);
    let result = async {
        let (apps, shared, leftovers) = survey(&client, &root, &known).await?;
        let older_than = args.older_than.as_millis() as i64;
        Ok::<_, String>(plan(&apps, &shared, &leftovers, now_ms, older_than))
    }
    .await;
    let (plan, outcome) = match (result, marker) {
        (Err(e), Some(m)) => {
            m.lift(&client).await?;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
        (Ok(plan), None) => (plan, vec![]),
        (Ok(plan), Some(m)) => {
            let outcome = remove(&client, &plan, &m).await;
            m.lift(&client).await?;
            (plan, outcome)
        }
    };
    Ok(report(args, &root, &plan, &outcome))
}

/// Prints the plan and what came of it (`outcome`, one per removal; none on a dry run);
/// the exit code.
fn report(args: &CleanArgs, root: &str, plan: &Plan, outcome: &[Outcome]) -> ExitCode {
    let dry = args.dry_run;
    let state = |i: usize| match outcome.get(i) {
        _ if dry => ("would remove", None),
        Some(Outcome::Removed) | None => ("removed", None),
        Some(Outcome::Failed(e)) => ("failed", Some(e.clone())),
        Some(Outcome::Left) => ("left", None),
    };
    let mut freed = 0;
    let mut failed = 0;
    let mut left = 0;
    let mut removed = vec![];
    for (i, r) in plan.remove.iter().enumerate() {
        let (what, error) = state(i);
        match what {
            "removed" | "would remove" => freed += r.bytes,
            "failed" => failed += 1,
            _ => left += 1,
        }
        removed.push((what, error, r));
    }
    if args.json {
        let entries: Vec<_> = removed
            .iter()
            .map(|(what, error, r)| {
                json!({ "path": r.path, "action": what, "why": r.why, "bytes": r.bytes,
                        "directory": r.is_dir, "error": error })
            })
            .collect();
        let kept: Vec<_> = plan
            .keep
            .iter()
            .map(|k| json!({ "path": k.path, "why": k.why }))
            .collect();
        let doc = json!({ "staging_dir": root, "dry_run": dry, "removed": entries,
                          "kept": kept, "bytes_removed": freed, "failed": failed, "left": left });
        println!("{doc}");
    } else {
        for (what, error, r) in &removed {
            let error = error.as_ref().map_or(String::new(), |e| format!(": {e}"));
            println!("{what} {} ({}){error}", r.path, r.why);
        }
        for k in &plan.keep {
            println!("kept {} ({})", k.path, k.why);
        }
        let verb = if dry { "would free" } else { "freed" };
        eprintln!(
            "{verb} {:.1} MB in {} entries of {root}; kept {}",
            freed as f64 / 1e6,
            removed.len() - failed - left,
            plan.keep.len()
        );
        if left > 0 {
            eprintln!(
                "stopped after {} s with {left} entries left, so that a waiting submit can \
                 go on: run `spindle clean` again",
                clean_guard::CLEAN_WINDOW.as_secs()
            );
        }
    }
    if failed + left > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn local_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn staging_of(cluster: &Cluster) -> Result<Staging, String> {
    let default_fs = cluster
        .conf
        .get("fs.defaultFS")
        .filter(|fs| fs.starts_with("hdfs://") || fs.starts_with("viewfs://"))
        .ok_or("fs.defaultFS in HADOOP_CONF_DIR is not an hdfs:// filesystem, where spindle submit stages its files")?;
    Staging::connect(&default_fs, &cluster.conf_dirs[0], &cluster.identity)
}

/// The last step before the ResourceManager has the application: records the shared
/// files (binary, site files, service files) it uses in its directory, for `spindle
/// clean`, and checks, after any clean running now, that all it staged is still there.
pub(super) async fn hold_staged(
    cluster: &Cluster,
    launch: &LaunchInfo,
    am_files: &[Staged],
) -> Result<(), String> {
    let staging = staging_of(cluster)?;
    let root = format!("{}/", staging.root);
    let own = format!("{}/", launch.app_dir);
    let staged: Vec<&Staged> = launch
        .common
        .iter()
        .chain(launch.service_files.values().flatten())
        .chain(launch.spec.iter())
        .chain(am_files)
        .filter(|s| s.filesystem.is_none() && s.path.starts_with(&root))
        .collect();
    // The binary, site files and uploaded service files: what other applications share.
    let shared_dirs = ["bin", "conf", "files"].map(|d| format!("{root}{d}/"));
    let shared: Vec<&Staged> = staged
        .iter()
        .copied()
        .filter(|s| !s.path.starts_with(&own))
        .filter(|s| shared_dirs.iter().any(|d| s.path.starts_with(d)))
        .collect();
    clean_guard::hold_staged(
        &staging.client(),
        &staging.root,
        &launch.app_dir,
        &shared,
        &staged,
        |left| {
            eprintln!(
                "a `spindle clean` is running; waiting for it (at most {} s)",
                left.as_secs() + 1
            )
        },
    )
    .await
}

/// Runs `submitting`, a submit's steps from staging to the ResourceManager's taking the
/// application; if it fails and the ResourceManager does not know `app` (a submit that
/// timed out may still have reached it), removes the application's directory, which
/// nothing will use.
pub(super) async fn unless_submitted<T>(
    cluster: &Cluster,
    rm: &ApplicationClient,
    app: ApplicationId,
    submitting: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let error = match submitting.await {
        Ok(done) => return Ok(done),
        Err(e) => e,
    };
    if let (Ok(Fate::Unknown), Ok(staging)) =
        (fate(rm, &app.to_string()).await, staging_of(cluster))
    {
        let dir = format!("{}/{app}", staging.root);
        let client = staging.client();
        let _ = spindle_io::bounded_store::hdfs_within(&dir, client.delete(&dir, true)).await;
    }
    Err(error)
}
