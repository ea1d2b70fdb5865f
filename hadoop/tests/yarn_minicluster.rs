//! ApplicationClientProtocol against a real MiniYARNCluster.
//! One cluster for the whole file (start-up costs ~30 s); each step asserts on values
//! only a real ResourceManager produces.

mod support;

use std::time::{Duration, Instant};

use spindle_hadoop::config::Configuration;
use spindle_hadoop::user::simple_user;
use spindle_hadoop::yarn::{
    ApplicationClient, ApplicationFilter, ApplicationId, ApplicationReport, ApplicationState,
    ApplicationSubmission, ContainerLaunchContext, FinalStatus, NodeState,
};
use support::minicluster::MiniCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_client_protocol_against_minicluster() {
    let cluster = MiniCluster::start(1);
    let conf = cluster.configuration();
    let user = simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let rm = ApplicationClient::from_config(&conf, &spindle_hadoop::user::Identity::simple(&user))
        .await
        .expect("connect to the ResourceManager");

    let fs = conf.get("fs.defaultFS").expect("fs.defaultFS");
    assert!(fs.starts_with("hdfs://"), "{fs}");
    assert!(!conf.rm_addresses()[0].ends_with(":0"));

    cluster_metrics_and_nodes(&rm).await;
    fails_over_past_an_unreachable_address(&conf, &user).await;
    concurrent_calls_share_one_connection(&rm).await;
    let first = new_application_ids(&rm).await;
    unknown_application_is_a_remote_exception(&rm, first).await;
    submit_list_and_kill(&rm, &user).await;
}

async fn cluster_metrics_and_nodes(rm: &ApplicationClient) {
    let metrics = rm.get_cluster_metrics().await.expect("getClusterMetrics");
    assert_eq!(metrics.node_managers, 1, "{metrics:?}");
    assert_eq!(metrics.active, 1, "{metrics:?}");
    assert_eq!(metrics.lost + metrics.unhealthy + metrics.decommissioned, 0);

    let nodes = rm.get_cluster_nodes(&[]).await.expect("getClusterNodes");
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    let node = &nodes[0];
    assert_eq!(node.state, Some(NodeState::Running), "{node:?}");
    assert!(!node.id.host.is_empty() && node.id.port > 0, "{node:?}");
    assert!(node.capability.memory_mb >= 1024, "{node:?}");
    assert!(node.capability.vcores >= 1, "{node:?}");
    assert_eq!(node.rack, "/default-rack");

    let running = rm
        .get_cluster_nodes(&[NodeState::Running])
        .await
        .expect("getClusterNodes(RUNNING)");
    assert_eq!(running.len(), 1);
    let lost = rm
        .get_cluster_nodes(&[NodeState::Lost])
        .await
        .expect("getClusterNodes(LOST)");
    assert!(lost.is_empty(), "{lost:?}");
}

async fn fails_over_past_an_unreachable_address(conf: &Configuration, user: &str) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let real = conf.rm_addresses().remove(0);
    let rm = ApplicationClient::connect_any(&[dead_addr.clone(), real.clone()], user)
        .await
        .expect("second address reachable");
    assert_eq!(rm.addr().await, real);
    assert_eq!(rm.get_cluster_metrics().await.unwrap().node_managers, 1);
    let err = ApplicationClient::connect(&dead_addr, user)
        .await
        .err()
        .expect("nothing listens there");
    assert!(err.to_string().contains(&dead_addr), "{err}");
}

async fn concurrent_calls_share_one_connection(rm: &ApplicationClient) {
    let calls = (0..16).map(|_| rm.get_new_application());
    let mut ids: Vec<i32> = futures_join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("concurrent getNewApplication").id.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 16, "every concurrent call got its own answer");
}

/// Runs futures concurrently on this task (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("polled to completion"))
        .collect()
}

async fn new_application_ids(rm: &ApplicationClient) -> ApplicationId {
    let a = rm.get_new_application().await.expect("getNewApplication");
    let b = rm.get_new_application().await.expect("getNewApplication");
    assert!(a.id.cluster_timestamp > 1_600_000_000_000, "{a:?}");
    assert_eq!(a.id.cluster_timestamp, b.id.cluster_timestamp);
    assert_eq!(b.id.id, a.id.id + 1);
    assert!(a.max_capability.memory_mb >= 1024, "{a:?}");
    a.id
}

async fn unknown_application_is_a_remote_exception(rm: &ApplicationClient, known: ApplicationId) {
    let missing = ApplicationId {
        id: known.id + 1000,
        ..known
    };
    let err = rm
        .get_application_report(missing)
        .await
        .expect_err("report of an application that does not exist");
    let exception = err
        .remote()
        .unwrap_or_else(|| panic!("not a remote error: {err}"));
    assert_eq!(
        exception.class,
        "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException"
    );
    assert!(
        exception.message.contains(&missing.to_string()),
        "{exception}"
    );
    // The connection survives a per-call error.
    rm.get_cluster_metrics().await.expect("call after an error");
}

async fn wait_for(
    rm: &ApplicationClient,
    id: ApplicationId,
    what: &str,
    done: impl Fn(&ApplicationReport) -> bool,
) -> ApplicationReport {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report = rm
            .get_application_report(id)
            .await
            .expect("getApplicationReport");
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn submit_list_and_kill(rm: &ApplicationClient, user: &str) {
    let new = rm.get_new_application().await.expect("getNewApplication");
    let am = ContainerLaunchContext {
        commands: vec!["sleep 600".to_string()],
        ..Default::default()
    };
    let mut sub = ApplicationSubmission::new(new.id, "spindle-it-sleep", am);
    sub.application_type = "SPINDLE".into();
    sub.tags = vec!["spindle-it".into()];
    sub.max_app_attempts = 1;
    rm.submit_application(&sub)
        .await
        .expect("submitApplication");

    let report = wait_for(rm, new.id, "ACCEPTED or RUNNING", |r| {
        matches!(
            r.state,
            Some(ApplicationState::Accepted | ApplicationState::Running)
        )
    })
    .await;
    assert_eq!(report.id, new.id);
    assert_eq!(report.name, "spindle-it-sleep");
    assert_eq!(report.user, user);
    // CapacityScheduler in Hadoop 3.4 reports the queue path.
    assert!(
        report.queue == "default" || report.queue == "root.default",
        "{}",
        report.queue
    );
    assert_eq!(report.application_type, "SPINDLE");
    assert_eq!(report.tags, vec!["spindle-it".to_string()]);
    assert!(report.start_time_ms > 0);

    let listed = rm
        .get_applications(&ApplicationFilter {
            application_types: vec!["SPINDLE".into()],
            ..Default::default()
        })
        .await
        .expect("getApplications");
    assert!(listed.iter().any(|r| r.id == new.id), "{listed:?}");
    let none = rm
        .get_applications(&ApplicationFilter {
            states: vec![ApplicationState::Finished],
            application_types: vec!["SPINDLE".into()],
            ..Default::default()
        })
        .await
        .expect("getApplications(FINISHED)");
    assert!(none.iter().all(|r| r.id != new.id));

    rm.force_kill_application(new.id, Some("spindle integration test"))
        .await
        .expect("forceKillApplication");
    let killed = wait_for(rm, new.id, "KILLED", |r| {
        r.state == Some(ApplicationState::Killed)
    })
    .await;
    assert_eq!(killed.final_status, Some(FinalStatus::Killed));
    assert!(killed.finish_time_ms >= killed.start_time_ms);
    assert!(
        killed.diagnostics.contains("spindle integration test"),
        "{}",
        killed.diagnostics
    );
}
