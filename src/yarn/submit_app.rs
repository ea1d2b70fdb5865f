//! `spindle submit` of a services application (a spec with `services:`, Skein's format):
//! stage the spec and every service's files, then submit the application master sized
//! as the spec's `master.resources`.

use super::apps::report_json;
use super::proxy::{cluster_acting_as, refusal_hint};
use super::submit::{finish, fits, follow, running_nodes, stage, SubmitArgs};
use spindle_appmaster::cmdline::AppMasterCommand;
use spindle_appmaster::yarn::cluster::Cluster;
use spindle_appmaster::yarn::launch::{LaunchInfo, Staged, LAUNCH_ENV};
use spindle_appmaster::yarn::staging::{Staging, UserFile};
use spindle_appmaster::yarn::APPLICATION_TYPE;
use spindle_hadoop::yarn::{ApplicationAcls, ApplicationSubmission, FinalStatus, Resource};
use spindle_job::app_spec::namenode_of;
use spindle_job::{AclSpec, AppSpec, FileKind, Resources, Visibility};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

pub async fn submit_app(
    args: &SubmitArgs,
    app: &AppSpec,
    text: Vec<u8>,
) -> Result<ExitCode, String> {
    let started = Instant::now();
    let cluster = cluster_acting_as(args.proxy_user.as_deref(), app.user.as_deref())?;
    let rm = cluster.resource_manager().await?;
    let new = rm
        .get_new_application()
        .await
        .map_err(|e| refusal_hint(&cluster, format!("getNewApplication: {e}")))?;
    let master = app.master.as_ref().map(|m| m.resources.clone());
    let master = master.unwrap_or(Resources {
        memory: spindle_job::ByteSize::mib(512),
        vcores: 1,
        gpus: 0,
    });
    let max = new.max_capability;
    let sized = std::iter::once(("master".to_string(), &master)).chain(
        app.services
            .iter()
            .map(|(n, s)| (format!("services.{n}"), &s.resources)),
    );
    for (key, r) in sized {
        fits(&format!("{key}.resources"), resource(r), max)?;
    }
    check_node_labels(
        app,
        &rm.get_cluster_node_labels()
            .await
            .map_err(|e| format!("getClusterNodeLabels: {e}"))?,
    )?;
    // Whatever fails before the ResourceManager has the application takes its directory.
    let submitting = async {
        let (mut launch, am_files, secret) = stage(&cluster, &new.id.to_string(), text).await?;
        // Before the master's context is made from `launch`: the ResourceManager takes the
        // application's ACLs from that context.
        launch.acls = app.acls.as_ref().filter(|a| a.enable).map(yarn_acls);
        launch.nodes = running_nodes(&rm).await?;
        let base = args.spec.parent().unwrap_or(Path::new("."));
        let master_files = stage_files(&cluster, &mut launch, base, app).await?;
        launch.file_systems = other_filesystems(app, &launch, &master_files);
        launch.tokens = cluster
            .delegation_tokens(&launch.file_systems)
            .await?
            .into();
        launch.spec = am_files.first().cloned();
        let keytab = super::keytab_for_master(&cluster, &mut launch)?;
        let mut am_env = vec![(LAUNCH_ENV, launch.encode())];
        if let Some(level) = app.master.as_ref().and_then(|m| m.log_level.as_deref()) {
            am_env.push(("RUST_LOG", rust_log_level(level)?.to_string()));
        }
        let mut context = launch.context(
            &AppMasterCommand::args_for(1),
            "appmaster",
            &[am_files, master_files.clone()].concat(),
            &am_env,
            &secret,
        );
        super::give_master_keytab(&mut context, keytab);
        super::clean::hold_staged(&cluster, &launch, &master_files).await?;
        let name = args.name.as_deref().unwrap_or(&app.name);
        let mut sub = ApplicationSubmission::new(new.id, name, context);
        sub.queue = args.queue.clone().unwrap_or_else(|| app.queue.clone());
        sub.application_type = APPLICATION_TYPE.into();
        sub.am_resource = Resource {
            memory_mb: args.am_memory_mb.unwrap_or(resource(&master).memory_mb),
            vcores: args.am_vcores.unwrap_or(resource(&master).vcores),
            gpus: resource(&master).gpus,
        };
        sub.max_app_attempts = args.max_attempts.unwrap_or(app.max_attempts as i32);
        sub.tags = [app.tags.clone(), args.tags.clone()].concat();
        sub.node_label_expression = app.node_label.clone().filter(|l| !l.is_empty());
        rm.submit_application(&sub)
            .await
            .map_err(|e| format!("submitApplication: {e}"))?;
        Ok(sub.queue)
    };
    let queue = super::clean::unless_submitted(&cluster, &rm, new.id, submitting).await?;
    eprintln!(
        "submitted {} ({} services) to queue {} in {:.1} s",
        new.id,
        app.services.len(),
        queue,
        started.elapsed().as_secs_f64(),
    );
    if !args.wait {
        if args.json {
            let report = rm
                .get_application_report(new.id)
                .await
                .map_err(|e| format!("getApplicationReport: {e}"))?;
            println!("{}", report_json(&report));
        } else {
            println!("{}", new.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = follow(&rm, new.id, !args.json, false).await?;
    let summary = super::read_app_file(&cluster, &report.user, &new.id.to_string(), "summary.json")
        .await
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or(serde_json::Value::Null);
    super::submit::write_summary(args, &summary);
    let ended_well = report.final_status == Some(FinalStatus::Succeeded);
    let rendered = ended_well.then(|| format!("{}\n", report.diagnostics.trim()));
    Ok(finish(args.json, &report, summary, rendered))
}

/// Skein's `acls` as YARN's view and modify lists. Disabled, none are set: YARN's
/// default, the owner and the cluster's administrators alone, as with Skein.
fn yarn_acls(acls: &AclSpec) -> (String, String) {
    (
        ApplicationAcls::list(&acls.view_users, &acls.view_groups),
        ApplicationAcls::list(&acls.modify_users, &acls.modify_groups),
    )
}

/// The NameNodes (`host:port`) of other filesystems than the default whose tokens the
/// application needs: those the spec's `file_systems` names, and those its files are on
/// (a NodeManager fetches them with the application's tokens).
fn other_filesystems(app: &AppSpec, launch: &LaunchInfo, master_files: &[Staged]) -> Vec<String> {
    let named = app.file_systems.iter().filter_map(|f| namenode_of(f));
    let of_files = master_files
        .iter()
        .chain(launch.service_files.values().flatten())
        .filter_map(|f| f.filesystem.clone());
    let mut all: Vec<String> = named.chain(of_files).collect();
    all.sort();
    all.dedup();
    all
}

/// Refuses, before anything is staged, a `node_label` the cluster does not have: the
/// ResourceManager would take the application and then refuse its containers.
fn check_node_labels(app: &AppSpec, cluster_labels: &[String]) -> Result<(), String> {
    let named = std::iter::once(("node_label".to_string(), &app.node_label)).chain(
        app.services
            .iter()
            .map(|(n, s)| (format!("services.{n}.node_label"), &s.node_label)),
    );
    for (key, label) in named {
        let Some(label) = label.as_deref().filter(|l| !l.is_empty()) else {
            continue;
        };
        if !cluster_labels.iter().any(|l| l == label) {
            let has = if cluster_labels.is_empty() {
                "none: node labels are off or unused (yarn.node-labels.enabled)".to_string()
            } else {
                cluster_labels.join(", ")
            };
            return Err(format!(
                "{key}: the cluster has no node label {label:?} (its labels: {has})"
            ));
        }
    }
    Ok(())
}

/// Skein's (log4j's) level names as the application master's `RUST_LOG`.
fn rust_log_level(level: &str) -> Result<&'static str, String> {
    Ok(match level.to_ascii_uppercase().as_str() {
        "ALL" | "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        "OFF" => "off",
        _ => {
            return Err(format!(
                "master.log_level {level:?} is not one of ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF"
            ))
        }
    })
}

fn resource(r: &Resources) -> Resource {
    Resource {
        memory_mb: r.memory.bytes().div_ceil(1 << 20) as i64,
        vcores: r.vcores as i32,
        gpus: i64::from(r.gpus),
    }
}

/// Uploads the services' local files (each distinct one once) and describes those
/// already on the default filesystem; returns the master's files.
async fn stage_files(
    cluster: &Cluster,
    launch: &mut LaunchInfo,
    base: &Path,
    app: &AppSpec,
) -> Result<Vec<Staged>, String> {
    let default_fs = cluster.conf.get("fs.defaultFS").unwrap_or_default();
    let staging = Staging::connect(&default_fs, &cluster.conf_dirs[0], &cluster.identity)?;
    let mut done: HashMap<(String, bool, bool, bool), Staged> = HashMap::new();
    let empty = BTreeMap::new();
    let master_files = app.master.as_ref().map_or(&empty, |m| &m.files);
    let lists = std::iter::once(("master".to_string(), master_files))
        .chain(app.services.iter().map(|(n, s)| (n.clone(), &s.files)));
    let mut master = Vec::new();
    for (owner, files) in lists {
        let mut staged = Vec::new();
        for (name, file) in files {
            let source = resolve(&file.source, base, &default_fs)
                .map_err(|e| format!("files of {owner}: {name}: {e}"))?;
            let how = UserFile {
                archive: file.kind == FileKind::Archive,
                private: file.visibility == Visibility::Private,
                public: file.visibility == Visibility::Public,
                size: file.size,
                timestamp: file.timestamp,
            };
            let key = (source.clone(), how.archive, how.private, how.public);
            let mut s = match done.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = staging
                        .user_file(name, &source, how)
                        .await
                        .map_err(|e| format!("files of {owner}: {name}: {e}"))?;
                    done.insert(key, s.clone());
                    s
                }
            };
            s.name = name.clone();
            staged.push(s);
        }
        if owner == "master" {
            master = staged;
        } else {
            launch.service_files.insert(owner, staged);
        }
    }
    Ok(master)
}

/// A file's source as the stager takes it: a local absolute path (relative ones are
/// relative to the spec's directory), an `hdfs://` URL on the default filesystem, or one
/// naming another HDFS by its NameNode's `host:port`.
fn resolve(source: &str, base: &Path, default_fs: &str) -> Result<String, String> {
    if let Some(rest) = source.strip_prefix("hdfs://") {
        let authority = rest.split('/').next().unwrap_or_default();
        let default = default_fs
            .strip_prefix("hdfs://")
            .unwrap_or_default()
            .trim_end_matches('/');
        if !authority.is_empty() && authority != default && namenode_of(source).is_none() {
            return Err(format!(
                "{source} is not on the default filesystem {default_fs}: name the other \
                 filesystem's NameNode by host and port (hdfs://host:port/path)"
            ));
        }
        return Ok(source.to_string());
    }
    if source.contains("://") && !source.starts_with("file://") {
        return Err(format!(
            "{source}: only local files and hdfs:// URLs can be shipped"
        ));
    }
    let local = source.strip_prefix("file://").unwrap_or(source);
    let path = Path::new(local);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeins_acls_become_yarns_user_and_group_lists() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let acls = AclSpec {
            enable: true,
            view_users: names(&["alice", "bob"]),
            view_groups: names(&["analysts"]),
            modify_users: names(&["*"]),
            ..AclSpec::default()
        };
        let (view, modify) = yarn_acls(&acls);
        assert_eq!(view, "alice,bob analysts");
        assert_eq!(modify, "* ");
        // Nobody listed: the owner and the administrators alone.
        assert_eq!(yarn_acls(&AclSpec::default()), (" ".into(), " ".into()));
    }

    #[test]
    fn node_labels_the_cluster_lacks_are_refused_naming_the_key() {
        let app = AppSpec::from_yaml(
            "name: x\nnode_label: fast\nservices:\n  a:\n    script: 'true'\n  \
             b:\n    node_label: gpu\n    script: 'true'\n",
            "app.yaml",
        )
        .unwrap();
        let have = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        check_node_labels(&app, &have(&["fast", "gpu"])).unwrap();
        let err = check_node_labels(&app, &have(&["fast"])).unwrap_err();
        assert!(err.starts_with("services.b.node_label:"), "{err}");
        assert!(err.contains("\"gpu\"") && err.contains("fast"), "{err}");
        let err = check_node_labels(&app, &[]).unwrap_err();
        assert!(err.starts_with("node_label:"), "{err}");
        assert!(err.contains("yarn.node-labels.enabled"), "{err}");
    }

    #[test]
    fn gpus_beyond_the_largest_container_are_refused_naming_the_key() {
        let max = |gpus| Resource {
            memory_mb: 8192,
            vcores: 16,
            gpus,
        };
        let asked = |gpus| Resource {
            memory_mb: 128,
            vcores: 1,
            gpus,
        };
        fits("services.a.resources", asked(2), max(2)).unwrap();
        let err = fits("services.a.resources", asked(3), max(2)).unwrap_err();
        assert!(
            err.starts_with("services.a.resources ask for 3 GPUs"),
            "{err}"
        );
        assert!(err.contains("largest container has 2"), "{err}");
        // A cluster without the yarn.io/gpu resource type reports none.
        let err = fits("master.resources", asked(1), max(0)).unwrap_err();
        assert!(err.contains("offers no GPUs"), "{err}");
    }

    #[test]
    fn skeins_log_levels_map_to_rust_log() {
        assert_eq!(rust_log_level("debug"), Ok("debug"));
        assert_eq!(rust_log_level("FATAL"), Ok("error"));
        assert!(rust_log_level("loud")
            .unwrap_err()
            .contains("master.log_level"));
    }

    #[test]
    fn sources_resolve_against_the_spec_and_the_default_filesystem() {
        let base = Path::new("/home/u/app");
        let fs = "hdfs://nn:8020";
        assert_eq!(
            resolve("env.tar.gz", base, fs).unwrap(),
            "/home/u/app/env.tar.gz"
        );
        assert_eq!(resolve("/opt/x.py", base, fs).unwrap(), "/opt/x.py");
        assert_eq!(resolve("file:///opt/x.py", base, fs).unwrap(), "/opt/x.py");
        assert_eq!(resolve("hdfs:///d/x", base, fs).unwrap(), "hdfs:///d/x");
        assert_eq!(
            resolve("hdfs://nn:8020/d/x", base, fs).unwrap(),
            "hdfs://nn:8020/d/x"
        );
        // Another HDFS, named by its NameNode.
        assert_eq!(
            resolve("hdfs://other:8020/d/x", base, fs).unwrap(),
            "hdfs://other:8020/d/x"
        );
        assert!(resolve("hdfs://nameservice2/d/x", base, fs)
            .unwrap_err()
            .contains("not on the default"));
        assert!(resolve("s3://b/k", base, fs).is_err());
    }
}
