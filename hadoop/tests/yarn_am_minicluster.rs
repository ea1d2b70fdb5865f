//! The AM side against a real MiniYARNCluster: an unmanaged AM authenticates with its
//! AMRMToken (SASL DIGEST-MD5), registers, gets containers, starts them on the
//! NodeManager with the NMToken (DIGEST-MD5 again), sees them complete, and finishes.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use spindle_hadoop::config::Configuration;
use spindle_hadoop::credentials::Token;
use spindle_hadoop::ipc::{Auth, Connection, ConnectionOptions};
use spindle_hadoop::proto::yarn as pb;
use spindle_hadoop::user::simple_user;
use spindle_hadoop::yarn::{
    AmRmClient, ApplicationClient, ApplicationReport, ApplicationState, ApplicationSubmission,
    Container, ContainerLaunchContext, ContainerState, ContainerStatus, FinalStatus, NodeId,
    NodeManagerClient, Resource, ResourceRequest, APPLICATION_MASTER_PROTOCOL,
};
use spindle_hadoop::Error;
use support::minicluster::MiniCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_am_runs_containers() {
    let cluster = MiniCluster::start(1);
    let conf = cluster.configuration();
    let user = simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let rm = ApplicationClient::from_config(&conf, &spindle_hadoop::user::Identity::simple(&user))
        .await
        .expect("connect to the ResourceManager");

    let new = rm.get_new_application().await.expect("getNewApplication");
    let mut sub = ApplicationSubmission::new(
        new.id,
        "spindle-it-unmanaged",
        ContainerLaunchContext::default(),
    );
    sub.unmanaged_am = true;
    rm.submit_application(&sub)
        .await
        .expect("submitApplication (unmanaged)");
    let report = wait_report(&rm, new.id, "an AMRMToken", |r| r.am_rm_token.is_some()).await;
    let token = report.am_rm_token.clone().expect("token present");
    assert_eq!(token.kind, "YARN_AM_RM_TOKEN");
    let attempt = report.current_attempt.expect("current attempt");

    let scheduler = conf.rm_scheduler_addresses().remove(0);
    let mut am = AmRmClient::connect(&scheduler, &token, &user)
        .await
        .expect("TOKEN (DIGEST-MD5) authentication with the AMRMToken");
    let reg = am
        .register("127.0.0.1", 0, "")
        .await
        .expect("registerApplicationMaster");
    assert!(reg.queue.ends_with("default"), "{reg:?}");
    assert!(reg.max_capability.memory_mb >= 1024, "{reg:?}");
    let running = wait_report(&rm, new.id, "RUNNING", |r| {
        r.state == Some(ApplicationState::Running)
    })
    .await;
    assert_eq!(running.host, "127.0.0.1");

    // Two containers: one exits 3 on its own, one sleeps until we stop it.
    let ask = ResourceRequest {
        priority: 1,
        resource_name: "*".into(),
        capability: Resource {
            memory_mb: 128,
            vcores: 1,
            gpus: 0,
        },
        num_containers: 2,
        relax_locality: true,
        node_label: None,
    };
    let mut nm_tokens: HashMap<NodeId, Token> = HashMap::new();
    let mut granted: Vec<Container> = Vec::new();
    let mut completed: Vec<ContainerStatus> = Vec::new();
    let mut asks = vec![ask];
    let deadline = Instant::now() + Duration::from_secs(60);
    while granted.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "containers not allocated: {granted:?}"
        );
        let a = am.allocate(&asks, &[], 0.1).await.expect("allocate");
        asks.clear();
        assert_eq!(a.num_cluster_nodes, 1);
        nm_tokens.extend(a.nm_tokens);
        granted.extend(a.allocated);
        completed.extend(a.completed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(granted.len(), 2, "{granted:?}");
    for c in &granted {
        assert_eq!(c.id.attempt, attempt);
        assert!(c.resource.memory_mb >= 128);
        assert!(c.token.is_some());
        assert!(c.id.to_string().starts_with("container_"), "{}", c.id);
    }
    let node = granted[0].node.clone();
    let nm_token = nm_tokens.get(&node).expect("NMToken for the node").clone();
    assert_eq!(nm_token.kind, "NMToken");

    let nm = NodeManagerClient::connect(&node, &nm_token, &user, &Default::default())
        .await
        .expect("TOKEN (DIGEST-MD5) authentication with the NMToken");
    let launch = |cmd: &str| ContainerLaunchContext {
        commands: vec![cmd.to_string()],
        environment: [("SPINDLE_IT".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    let (exits, sleeps) = (&granted[0], &granted[1]);
    let started = nm
        .start_containers(&[
            (
                launch("test \"$SPINDLE_IT\" = 1 && exit 3"),
                exits.token.clone().unwrap(),
            ),
            (launch("sleep 600"), sleeps.token.clone().unwrap()),
        ])
        .await
        .expect("startContainers");
    assert!(started.failed.is_empty(), "{:?}", started.failed);
    assert_eq!(started.succeeded.len(), 2);

    let (statuses, failed) = nm
        .get_container_statuses(&[exits.id, sleeps.id])
        .await
        .expect("getContainerStatuses");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(statuses.len(), 2);

    // Wait until the sleeper runs, then stop it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, _) = nm
            .get_container_statuses(&[sleeps.id])
            .await
            .expect("status");
        if s.first().and_then(|s| s.state) == Some(ContainerState::Running) {
            break;
        }
        assert!(Instant::now() < deadline, "sleeper never ran: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stopped = nm
        .stop_containers(&[sleeps.id])
        .await
        .expect("stopContainers");
    assert_eq!(stopped.succeeded, vec![sleeps.id], "{stopped:?}");

    // Completion reaches the AM through allocate.
    let deadline = Instant::now() + Duration::from_secs(60);
    while completed.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "containers not completed: {completed:?}"
        );
        let a = am.allocate(&[], &[], 0.5).await.expect("allocate");
        completed.extend(a.completed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let by_id: HashMap<_, _> = completed.iter().map(|s| (s.id, s)).collect();
    let exit = by_id[&exits.id];
    assert_eq!(exit.state, Some(ContainerState::Complete));
    assert_eq!(exit.exit_status, 3, "{exit:?}");
    assert_ne!(by_id[&sleeps.id].exit_status, 0, "{:?}", by_id[&sleeps.id]);

    let deadline = Instant::now() + Duration::from_secs(30);
    while !am
        .finish(FinalStatus::Succeeded, "done", None)
        .await
        .expect("finishApplicationMaster")
    {
        assert!(Instant::now() < deadline, "RM never unregistered the AM");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done = wait_report(&rm, new.id, "FINISHED", |r| {
        r.state == Some(ApplicationState::Finished)
    })
    .await;
    assert_eq!(done.final_status, Some(FinalStatus::Succeeded));

    tampered_token_is_refused(&scheduler, token, &user).await;
    simple_auth_is_refused_on_the_scheduler_port(&conf, &user).await;
}

async fn wait_report(
    rm: &ApplicationClient,
    id: spindle_hadoop::yarn::ApplicationId,
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

/// A wrong digest must be refused by the server, not only by our own checks.
async fn tampered_token_is_refused(scheduler: &str, mut token: Token, user: &str) {
    token.password[0] ^= 0xff;
    let err = AmRmClient::connect(scheduler, &token, user)
        .await
        .err()
        .expect("a wrong token password is refused");
    assert!(
        matches!(err, Error::Fatal { .. } | Error::Sasl { .. }),
        "{err}"
    );
}

async fn simple_auth_is_refused_on_the_scheduler_port(conf: &Configuration, user: &str) {
    let scheduler = conf.rm_scheduler_addresses().remove(0);
    let opts = ConnectionOptions {
        protocol: APPLICATION_MASTER_PROTOCOL.to_string(),
        auth: Auth::Simple {
            user: user.to_string(),
            real_user: None,
        },
        protection: Default::default(),
        connect_timeout: Duration::from_secs(20),
        call_timeout: Duration::from_secs(60),
    };
    // The server answers the first call with a fatal error.
    let conn = Connection::connect(&scheduler, opts)
        .await
        .expect("tcp connect");
    let err = conn
        .call::<_, pb::RegisterApplicationMasterResponseProto>(
            APPLICATION_MASTER_PROTOCOL,
            "registerApplicationMaster",
            &pb::RegisterApplicationMasterRequestProto::default(),
        )
        .await
        .expect_err("SIMPLE must be refused where TOKEN is required");
    let text = err.to_string();
    assert!(
        text.contains("SIMPLE authentication is not enabled"),
        "{text}"
    );
}
