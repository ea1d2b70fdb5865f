//! YARN domain types: what callers of the client see instead of protobuf structs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::credentials::{Credentials, Token};

/// `application_<clusterTimestamp>_<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplicationId {
    pub cluster_timestamp: i64,
    pub id: i32,
}

impl fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "application_{}_{:04}", self.cluster_timestamp, self.id)
    }
}

impl FromStr for ApplicationId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an application id (application_<timestamp>_<n>)");
        let rest = s.strip_prefix("application_").ok_or_else(bad)?;
        let (ts, id) = rest.split_once('_').ok_or_else(bad)?;
        Ok(Self {
            cluster_timestamp: ts.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// One attempt of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationAttemptId {
    pub application_id: ApplicationId,
    pub attempt: i32,
}

/// Memory in MiB, virtual cores and GPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resource {
    pub memory_mb: i64,
    pub vcores: i32,
    /// The `yarn.io/gpu` resource type: 0 when not asked for, or when the cluster does
    /// not define it (a ResourceManager skips resource types it does not know).
    pub gpus: i64,
}

/// The resource type GPUs are counted in.
pub const GPU_RESOURCE: &str = "yarn.io/gpu";

/// Answer to getNewApplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    pub id: ApplicationId,
    /// Largest container the scheduler will grant.
    pub max_capability: Resource,
}

/// Node counts from getClusterMetrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterMetrics {
    pub node_managers: i32,
    pub active: i32,
    pub decommissioned: i32,
    pub lost: i32,
    pub unhealthy: i32,
    pub rebooted: i32,
}

/// A NodeManager's state as the RM sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    New,
    Running,
    Unhealthy,
    Decommissioned,
    Lost,
    Rebooted,
    Decommissioning,
    Shutdown,
}

/// `host:port` of a NodeManager.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub host: String,
    pub port: i32,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One node from getClusterNodes.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub id: NodeId,
    pub http_address: String,
    pub rack: String,
    pub used: Resource,
    pub capability: Resource,
    pub num_containers: i32,
    /// `None` when the RM sent a state this client does not know.
    pub state: Option<NodeState>,
    pub health_report: String,
    pub last_health_report_time_ms: i64,
    pub labels: Vec<String>,
}

/// YARN's application life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationState {
    New,
    NewSaving,
    Submitted,
    Accepted,
    Running,
    Finished,
    Failed,
    Killed,
}

impl ApplicationState {
    /// The ResourceManager's own name for the state (`NEW_SAVING`, `RUNNING`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::NewSaving => "NEW_SAVING",
            Self::Submitted => "SUBMITTED",
            Self::Accepted => "ACCEPTED",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }

    /// True for states an application never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }
}

/// Where the NodeManagers are in moving an application's container logs to the remote
/// log directory (`yarn.log-aggregation-enable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogAggregationStatus {
    Disabled,
    NotStarted,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    RunningWithFailure,
}

impl LogAggregationStatus {
    /// True once no NodeManager will upload anything more for the application.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Disabled | Self::Succeeded | Self::Failed | Self::TimedOut
        )
    }
}

/// What the application master reported when it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinalStatus {
    Undefined,
    Succeeded,
    Failed,
    Killed,
    Ended,
}

/// getApplicationReport / getApplications entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationReport {
    pub id: ApplicationId,
    pub user: String,
    pub queue: String,
    pub name: String,
    /// AM host and RPC port as registered (`N/A` and -1 before registration).
    pub host: String,
    pub rpc_port: i32,
    /// `None` when the RM sent a state this client does not know.
    pub state: Option<ApplicationState>,
    pub final_status: Option<FinalStatus>,
    pub tracking_url: String,
    pub original_tracking_url: String,
    pub diagnostics: String,
    pub start_time_ms: i64,
    pub finish_time_ms: i64,
    pub progress: f32,
    pub application_type: String,
    pub tags: Vec<String>,
    pub current_attempt: Option<ApplicationAttemptId>,
    /// Only for unmanaged AMs, once their attempt starts.
    pub am_rm_token: Option<Token>,
    pub client_to_am_token: Option<Token>,
    /// `None` from ResourceManagers that do not report it.
    pub log_aggregation: Option<LogAggregationStatus>,
}

/// Filter for getApplications; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplicationFilter {
    pub application_types: Vec<String>,
    pub states: Vec<ApplicationState>,
    pub users: Vec<String>,
    pub queues: Vec<String>,
    pub tags: Vec<String>,
    pub name: Option<String>,
    pub limit: Option<i64>,
}

/// Kind of a localized file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalResourceType {
    Archive,
    File,
    Pattern,
}

/// Who may share a localized file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalResourceVisibility {
    Public,
    Private,
    Application,
}

/// A file the NodeManager downloads before starting the container. `timestamp` must be
/// the source file's modification time exactly (the NodeManager checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResource {
    /// `hdfs://host:port/path` style location.
    pub scheme: String,
    pub host: String,
    pub port: i32,
    pub file: String,
    pub size: i64,
    pub timestamp: i64,
    pub kind: LocalResourceType,
    pub visibility: LocalResourceVisibility,
}

/// What to run in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLaunchContext {
    pub local_resources: BTreeMap<String, LocalResource>,
    pub environment: BTreeMap<String, String>,
    /// Shell command words; YARN joins them with spaces and runs them with bash.
    pub commands: Vec<String>,
    /// Tokens and secrets for the container (sent as a Writable Credentials file).
    pub credentials: Option<Credentials>,
    /// The application's access control lists (the AM's context only; none: YARN's
    /// default, the owner and administrators alone).
    pub acls: Option<ApplicationAcls>,
}

/// Who besides the owner and the cluster's administrators may see an application's
/// details and logs (`view`) and kill it or change it (`modify`), each in Hadoop's form
/// `"user1,user2 group1,group2"` (`*`: everyone; `" "`: no one). Enforced when the
/// cluster sets `yarn.acl.enable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationAcls {
    pub view: String,
    pub modify: String,
}

impl ApplicationAcls {
    /// An access control list of `users` and `groups`.
    pub fn list(users: &[String], groups: &[String]) -> String {
        format!("{} {}", users.join(","), groups.join(","))
    }
}

/// Everything submitApplication needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationSubmission {
    pub id: ApplicationId,
    pub name: String,
    pub queue: String,
    pub application_type: String,
    pub priority: Option<i32>,
    pub am_container: ContainerLaunchContext,
    /// Resources of the AM container.
    pub am_resource: Resource,
    /// 0 means the cluster default.
    pub max_app_attempts: i32,
    /// True when the AM runs outside YARN (the report then carries the AMRMToken).
    pub unmanaged_am: bool,
    pub keep_containers_across_attempts: bool,
    pub tags: Vec<String>,
    pub node_label_expression: Option<String>,
}

impl ApplicationSubmission {
    /// A submission with YARN's defaults for everything but id, name and AM container.
    pub fn new(id: ApplicationId, name: &str, am_container: ContainerLaunchContext) -> Self {
        Self {
            id,
            name: name.to_string(),
            queue: "default".into(),
            application_type: "YARN".into(),
            priority: None,
            am_container,
            am_resource: Resource {
                memory_mb: 256,
                vcores: 1,
                gpus: 0,
            },
            max_app_attempts: 0,
            unmanaged_am: false,
            keep_containers_across_attempts: false,
            tags: Vec::new(),
            node_label_expression: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_text_round_trip() {
        let id = ApplicationId {
            cluster_timestamp: 1_700_000_000_123,
            id: 7,
        };
        assert_eq!(id.to_string(), "application_1700000000123_0007");
        assert_eq!(id.to_string().parse::<ApplicationId>().unwrap(), id);
        assert!("app_1_2".parse::<ApplicationId>().is_err());
    }
}
