//! `scripts/minicluster.sh --hosts 2` gives the ResourceManager two NodeManagers, each
//! under its own host name and address.

mod support;

use spindle_hadoop::user::simple_user;
use spindle_hadoop::yarn::{ApplicationClient, NodeState};
use support::minicluster::MiniCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_managers_register() {
    let cluster = MiniCluster::start(2);
    let conf = cluster.configuration();
    let rm = ApplicationClient::from_config(
        &conf,
        &spindle_hadoop::user::Identity::simple(simple_user(None)),
    )
    .await
    .expect("connect to the ResourceManager");
    let metrics = rm.get_cluster_metrics().await.expect("getClusterMetrics");
    assert_eq!(metrics.node_managers, 2, "{metrics:?}");
    let mut nodes = rm
        .get_cluster_nodes(&[NodeState::Running])
        .await
        .expect("getClusterNodes");
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let hosts: Vec<&str> = nodes.iter().map(|n| n.id.host.as_str()).collect();
    assert_eq!(hosts, ["spindle-host-1", "spindle-host-2"], "{nodes:?}");
    // Each NodeManager listens on its host's own loopback alias.
    for (n, addr) in nodes.iter().zip(["127.0.0.2", "127.0.0.3"]) {
        let port = n.id.port as u16;
        let bound = std::net::TcpStream::connect((addr, port));
        assert!(bound.is_ok(), "{} not at {addr}:{port}", n.id.host);
    }
}
