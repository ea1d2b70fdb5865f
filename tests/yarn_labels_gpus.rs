//! Skein's `node_label` (per service and for the whole application) and `gpus`, on a
//! 2-host minicluster whose second host is in the exclusive label `fast` and whose
//! NodeManagers have 2 GPUs each (`scripts/minicluster.sh --hosts 2 --node-label fast
//! --gpus 2`): only containers that ask for `fast` run on that host, so where each
//! container runs shows which label it asked for, and the ResourceManager's node reports
//! show the GPUs it granted.

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::{assert_took_under, spindle_on, text};
use minicluster::MiniCluster;
use spindle_hadoop::user::{simple_user, Identity};
use spindle_hadoop::yarn::{ApplicationClient, NodeState};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LABELLED: &str = "spindle-host-2";
const UNLABELLED: &str = "spindle-host-1";
const GPUS_PER_NODE: &str = "2";

fn cluster() -> &'static MiniCluster {
    static CLUSTER: OnceLock<MiniCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("labels-minicluster");
        MiniCluster::start_shared_with(
            &base,
            &[
                "--hosts",
                "2",
                "--node-label",
                "fast",
                "--gpus",
                GPUS_PER_NODE,
            ],
        )
    })
}

fn spindle(args: &[&str]) -> Output {
    spindle_on(&cluster().conf_dir, args)
}

/// Submits `spec`, which must be refused before any application is submitted, and
/// returns what `submit` said on stderr.
fn refused(spec: &str) -> String {
    let o = try_submit(spec);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("application_"),
        "{}",
        text(&o)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `spindle submit` of `spec`.
fn try_submit(spec: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, spec).unwrap();
    spindle(&["submit", &path.display().to_string()])
}

/// Submits `spec` and returns the application id.
fn submit(spec: &str) -> String {
    let o = try_submit(spec);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.lines().last().unwrap_or_default().to_string();
    assert!(id.starts_with("application_"), "{}", text(&o));
    id
}

/// Each running container's instance name and host, once `count` run.
fn running_hosts(app: &str, count: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let o = spindle(&["container", "ls", app, "--json"]);
        let starting = String::from_utf8_lossy(&o.stderr).contains("no running application master");
        if starting && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        assert!(o.status.success(), "{}", text(&o));
        let running: Vec<(String, String)> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|c| c["state"] == "RUNNING")
            .map(|c| {
                let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (field("name"), field("host"))
            })
            .collect();
        if running.len() >= count {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "{count} containers of {app} never ran: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn status(app: &str) -> serde_json::Value {
    let o = spindle(&["status", app, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Shuts `app` down and waits until YARN says it finished.
fn shut_down(app: &str) {
    let o = spindle(&["shutdown", app]);
    assert!(o.status.success(), "{}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(app)["state"] != "FINISHED" {
        assert!(
            Instant::now() < deadline,
            "{app} did not finish: {}",
            status(app)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_services_node_label_puts_its_containers_on_the_labelled_hosts_alone() {
    let started = Instant::now();
    let app = submit(
        "name: per-service-labels
services:
  quick:
    instances: 2
    node_label: fast
    resources: {memory: 128, vcores: 1}
    script: sleep 600
  plain:
    instances: 2
    resources: {memory: 128, vcores: 1}
    script: sleep 600
",
    );
    let hosts = running_hosts(&app, 4);
    for (name, host) in &hosts {
        let want = if name.starts_with("quick_") {
            LABELLED
        } else {
            UNLABELLED
        };
        assert_eq!(host, want, "{name} ran on {host}: {hosts:?}");
    }
    // The master asked for no label: the default partition.
    assert_eq!(status(&app)["am_host"], UNLABELLED);
    shut_down(&app);
    assert_took_under(started, 240);
}

#[test]
fn an_applications_node_label_places_its_master_and_every_service_without_one() {
    let started = Instant::now();
    let app = submit(
        "name: app-label
node_label: fast
services:
  one:
    instances: 2
    resources: {memory: 128, vcores: 1}
    script: sleep 600
",
    );
    let hosts = running_hosts(&app, 2);
    assert!(hosts.iter().all(|(_, h)| h == LABELLED), "{hosts:?}");
    assert_eq!(status(&app)["am_host"], LABELLED);
    shut_down(&app);
    assert_took_under(started, 240);
}

/// GPUs in use on each node, as the ResourceManager reports them.
fn gpus_in_use() -> BTreeMap<String, i64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let identity = Identity::simple(simple_user(None));
        let rm = ApplicationClient::from_config(&cluster().configuration(), &identity)
            .await
            .expect("connect to the ResourceManager");
        rm.get_cluster_nodes(&[NodeState::Running])
            .await
            .expect("getClusterNodes")
            .into_iter()
            .map(|n| (n.id.host, n.used.gpus))
            .collect()
    })
}

#[test]
fn a_label_the_cluster_lacks_is_refused_before_anything_runs() {
    let started = Instant::now();
    let err = refused(
        "name: no-such-label
services:
  x:
    node_label: gpu
    script: sleep 600
",
    );
    assert!(
        err.contains("services.x.node_label") && err.contains("\"gpu\"") && err.contains("fast"),
        "{err}"
    );
    assert_took_under(started, 60);
}

#[test]
fn gpus_are_asked_for_as_yarn_io_gpu_and_granted() {
    let started = Instant::now();
    let app = submit(
        "name: gpus
services:
  trainer:
    instances: 2
    resources: {memory: 128, vcores: 1, gpus: 1}
    script: sleep 600
",
    );
    let hosts = running_hosts(&app, 2);
    assert!(hosts.iter().all(|(_, h)| h == UNLABELLED), "{hosts:?}");
    // No other test asks for GPUs: these two containers hold one each.
    let used = gpus_in_use();
    assert_eq!(used.get(UNLABELLED), Some(&2), "{used:?}");
    assert_eq!(used.get(LABELLED), Some(&0), "{used:?}");
    shut_down(&app);
    assert_took_under(started, 240);
}

#[test]
fn more_gpus_than_a_node_has_are_refused_before_anything_runs() {
    let started = Instant::now();
    let err = refused(
        "name: too-many-gpus
services:
  big:
    resources: {memory: 128, vcores: 1, gpus: 3}
    script: sleep 600
",
    );
    assert!(
        err.contains("services.big.resources ask for 3 GPUs")
            && err.contains("largest container has 2"),
        "{err}"
    );
    assert_took_under(started, 60);
}
