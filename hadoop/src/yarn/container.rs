//! Domain types of the AM side: containers, resource requests, allocation results.

use std::fmt;

use super::types::{ApplicationAttemptId, NodeId, Resource};
use crate::credentials::Token;
use crate::RemoteException;

/// Low 40 bits of a container id's number are the sequence, the rest the RM epoch.
const SEQUENCE_BITS: u32 = 40;

/// A container, unique in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContainerId {
    pub attempt: ApplicationAttemptId,
    /// RM epoch (high 24 bits) and sequence (low 40 bits), as on the wire.
    pub id: i64,
}

impl ContainerId {
    /// Restarts of the RM so far when the container was allocated.
    pub fn epoch(&self) -> i64 {
        self.id >> SEQUENCE_BITS
    }

    /// Sequence number within the attempt.
    pub fn sequence(&self) -> i64 {
        self.id & ((1 << SEQUENCE_BITS) - 1)
    }
}

impl fmt::Display for ContainerId {
    /// `container_[e<epoch>_]<clusterTs>_<app>_<attempt>_<seq>`, as in `CONTAINER_ID`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = self.attempt.application_id;
        write!(f, "container_")?;
        if self.epoch() > 0 {
            write!(f, "e{:02}_", self.epoch())?;
        }
        write!(
            f,
            "{}_{:04}_{:02}_{:06}",
            app.cluster_timestamp,
            app.id,
            self.attempt.attempt,
            self.sequence()
        )
    }
}

/// A container the RM granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: ContainerId,
    pub node: NodeId,
    pub node_http_address: String,
    pub resource: Resource,
    pub priority: i32,
    /// Needed by the NodeManager to start the container.
    pub token: Option<Token>,
}

/// A container's life cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerState {
    New,
    Running,
    Complete,
    Scheduled,
}

/// A container the ResourceManager tracks (getContainers), with the NodeManager web
/// address its logs are served from while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerReport {
    pub id: ContainerId,
    pub node: NodeId,
    /// `host:port` of the NodeManager's web server, without a scheme.
    pub node_http_address: String,
    pub state: Option<ContainerState>,
    pub exit_status: i32,
    pub diagnostics: String,
}

/// Container state as reported by the RM (completed containers) or the NodeManager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: ContainerId,
    /// `None` when the server sent a state this client does not know.
    pub state: Option<ContainerState>,
    pub diagnostics: String,
    /// Process exit code once complete; -1000 while unknown.
    pub exit_status: i32,
}

/// An ask: `num_containers` of `capability` at `resource_name` (`*`, a host or a rack).
/// Asks replace earlier ones with the same priority and resource name; a locality ask
/// needs a `*` ask at the same priority beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub priority: i32,
    pub resource_name: String,
    pub capability: Resource,
    pub num_containers: i32,
    pub relax_locality: bool,
    /// The node label the containers must run under; the RM honours it only on the
    /// `*` request (YARN's rule), so it belongs there alone.
    pub node_label: Option<String>,
}

/// What the RM tells an AM to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmCommand {
    /// Register again (the RM lost track of the AM).
    Resync,
    /// Stop now.
    Shutdown,
}

/// Answer to registerApplicationMaster.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub max_capability: Resource,
    pub queue: String,
    pub previous_containers: Vec<Container>,
    pub previous_nm_tokens: Vec<(NodeId, Token)>,
}

/// Answer to one allocate heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub command: Option<AmCommand>,
    pub allocated: Vec<Container>,
    pub completed: Vec<ContainerStatus>,
    /// NMTokens arrive once per node per attempt: keep them by node.
    pub nm_tokens: Vec<(NodeId, Token)>,
    pub num_cluster_nodes: i32,
    /// Resources still available to the application.
    pub limit: Resource,
    /// A rolled-over AMRMToken: use it for new connections.
    pub amrm_token: Option<Token>,
}

/// A per-container failure from a NodeManager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerError {
    pub id: ContainerId,
    pub exception: RemoteException,
}

/// Per-container outcome of start/stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerResults {
    pub succeeded: Vec<ContainerId>,
    pub failed: Vec<ContainerError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yarn::ApplicationId;

    #[test]
    fn container_id_text() {
        let attempt = ApplicationAttemptId {
            application_id: ApplicationId {
                cluster_timestamp: 1_700_000_000_000,
                id: 3,
            },
            attempt: 1,
        };
        let plain = ContainerId { attempt, id: 12 };
        assert_eq!(plain.to_string(), "container_1700000000000_0003_01_000012");
        let epoch = ContainerId {
            attempt,
            id: (2 << 40) | 5,
        };
        assert_eq!(epoch.epoch(), 2);
        assert_eq!(epoch.sequence(), 5);
        assert_eq!(
            epoch.to_string(),
            "container_e02_1700000000000_0003_01_000005"
        );
    }
}
