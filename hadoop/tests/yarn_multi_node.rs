//! `scripts/minicluster.sh --hosts 2` gives the ResourceManager two NodeManagers.

mod support;

use spindle_hadoop::user::simple_user;
use spindle_hadoop::yarn::{ApplicationClient, NodeState};
use support::minicluster::MiniCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_managers_register() {
    let cluster = MiniCluster::start(2);
    let conf = cluster.configuration();
    let rm = ApplicationClient::from_config(&conf, &simple_user(None))
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
    assert_ne!(nodes[0].id, nodes[1].id);
}
