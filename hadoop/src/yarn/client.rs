//! Typed client for the ResourceManager's `ApplicationClientProtocol`.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::container::ContainerReport;
use super::convert::*;
use super::convert_am::container_report_from_proto;
use super::types::*;
use crate::config::Configuration;
use crate::ipc::{Auth, Connection, ConnectionOptions};
use crate::proto::yarn as pb;
use crate::retry::RetryPolicy;
use crate::sasl::Protection;
use crate::user::Identity;
use crate::{Error, Result};

/// Protocol name used in the connection context and every request header.
pub const APPLICATION_CLIENT_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Client of the ResourceManager: SIMPLE on an insecure cluster, Kerberos (SASL GSSAPI
/// with the configured `yarn.resourcemanager.principal`) on a secure one.
///
/// It knows every RM address (one, or one per HA id) and fails over in order when a
/// connection cannot be opened or the RM answers `StandbyException`; it reconnects when
/// the server has closed a connection. Once connected, a call that fails for a reason a
/// later attempt can cure (the RM restarting, failing over, not answering) is retried
/// with backoff within its [`RetryPolicy`], so a client rides out an RM restart.
pub struct ApplicationClient {
    addrs: Vec<String>,
    auth: Auth,
    protection: Protection,
    retry: RetryPolicy,
    /// Index into `addrs` of the RM last used, and its connection if open.
    conn: Mutex<(usize, Option<Arc<Connection>>)>,
}

impl ApplicationClient {
    /// Connects to `addr` (`host:port`) as `user` over SIMPLE; fails fast if the RM is
    /// unreachable.
    pub async fn connect(addr: &str, user: &str) -> Result<Self> {
        Self::connect_any(&[addr.to_string()], user).await
    }

    /// Connects over SIMPLE to the first reachable address of `addrs` (an HA pair, in
    /// order).
    pub async fn connect_any(addrs: &[String], user: &str) -> Result<Self> {
        let auth = Auth::Simple {
            user: user.to_string(),
            real_user: None,
        };
        Self::connect_with(addrs, auth, Protection::default()).await
    }

    async fn connect_with(addrs: &[String], auth: Auth, protection: Protection) -> Result<Self> {
        if addrs.is_empty() {
            return Err(Error::Config(
                "no ResourceManager address given".to_string(),
            ));
        }
        let client = Self {
            addrs: addrs.to_vec(),
            auth,
            protection,
            retry: RetryPolicy::RESOURCE_MANAGER,
            conn: Mutex::new((0, None)),
        };
        client.connection().await?;
        Ok(client)
    }

    /// Connects to the RM addresses of `conf` (`yarn.resourcemanager.address`, or the
    /// per-id addresses under HA), retrying calls for as long as
    /// `yarn.resourcemanager.connect.max-wait.ms` says (15 minutes by default). With a
    /// Kerberos login in `who`, authenticates with it, protected as
    /// `hadoop.rpc.protection` asks.
    pub async fn from_config(conf: &Configuration, who: &Identity) -> Result<Self> {
        let auth = who.auth(conf, "yarn.resourcemanager.principal")?;
        let mut client =
            Self::connect_with(&conf.rm_addresses(), auth, conf.rpc_protection()?).await?;
        if let Some(ms) = conf.get_i64("yarn.resourcemanager.connect.max-wait.ms")? {
            client.retry.deadline = Duration::from_millis(ms.max(0) as u64);
        }
        Ok(client)
    }

    /// Retries calls by `policy` instead.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The ResourceManager address in use.
    pub async fn addr(&self) -> String {
        self.addrs[self.conn.lock().await.0].clone()
    }

    /// The open connection, else a new one to the current RM or, failing that, the
    /// next ones in order.
    async fn connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.1.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let mut last_err = None;
        for step in 0..self.addrs.len() {
            let idx = (slot.0 + step) % self.addrs.len();
            let opts = ConnectionOptions {
                protocol: APPLICATION_CLIENT_PROTOCOL.to_string(),
                auth: self.auth.clone(),
                protection: self.protection.clone(),
                connect_timeout: CONNECT_TIMEOUT,
                call_timeout: crate::ipc::CALL_TIMEOUT,
            };
            match Connection::connect(&self.addrs[idx], opts).await {
                Ok(c) => {
                    let c = Arc::new(c);
                    *slot = (idx, Some(c.clone()));
                    return Ok(c);
                }
                Err(e) => {
                    warn!(addr = %self.addrs[idx], error = %e, "cannot reach resource manager");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.expect("at least one address"))
    }

    /// Drops the connection and moves on to the next RM address.
    async fn fail_over(&self) {
        let mut slot = self.conn.lock().await;
        slot.0 = (slot.0 + 1) % self.addrs.len();
        slot.1 = None;
    }

    /// One call, retried on a fresh connection if the old one had closed (the RM drops
    /// idle connections), on the next RM if this one is a standby, and with backoff while
    /// the RM cannot be reached, within the retry policy's deadline. Every method used
    /// here is safe to repeat: submitting the same application id twice is accepted by
    /// the RM, kill is idempotent.
    async fn call<Req: Message, Res: Message + Default>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Res> {
        let started = std::time::Instant::now();
        let mut retries = 0;
        loop {
            let result = match self.connection().await {
                Ok(conn) => conn.call(APPLICATION_CLIENT_PROTOCOL, method, req).await,
                Err(e) => Err(e),
            };
            let error = match &result {
                Err(e) if e.is_transient() => e,
                _ => return result,
            };
            if error
                .remote()
                .is_some_and(|r| r.simple_class() == "StandbyException")
            {
                self.fail_over().await;
            }
            // A closed connection is replaced at once, the first time.
            let wait = match (retries, error) {
                (0, Error::ConnectionClosed { .. }) => Duration::ZERO,
                _ => self.retry.wait(retries),
            };
            if started.elapsed() + wait > self.retry.deadline {
                return result;
            }
            if retries == 0 || wait >= self.retry.max / 2 {
                warn!(method, error = %error, "ResourceManager call failed; retrying in {:.1} s", wait.as_secs_f64());
            } else {
                debug!(method, error = %error, "retrying");
            }
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    /// Reserves a new application id.
    pub async fn get_new_application(&self) -> Result<NewApplication> {
        let res: pb::GetNewApplicationResponseProto = self
            .call("getNewApplication", &pb::GetNewApplicationRequestProto {})
            .await?;
        let id = res.application_id.as_ref().ok_or(Error::MissingField {
            method: "getNewApplication",
            field: "application_id",
        })?;
        Ok(NewApplication {
            id: app_id_from_proto(id),
            max_capability: resource_from_proto(res.maximum_capability.as_ref()),
        })
    }

    /// Submits an application whose id came from [`Self::get_new_application`].
    pub async fn submit_application(&self, submission: &ApplicationSubmission) -> Result<()> {
        let req = pb::SubmitApplicationRequestProto {
            application_submission_context: Some(submission_to_proto(submission)),
        };
        let _: pb::SubmitApplicationResponseProto = self.call("submitApplication", &req).await?;
        Ok(())
    }

    /// Report of one application; an unknown id fails with a remote
    /// `ApplicationNotFoundException`.
    pub async fn get_application_report(&self, id: ApplicationId) -> Result<ApplicationReport> {
        let req = pb::GetApplicationReportRequestProto {
            application_id: Some(app_id_to_proto(id)),
        };
        let res: pb::GetApplicationReportResponseProto =
            self.call("getApplicationReport", &req).await?;
        let report = res.application_report.ok_or(Error::MissingField {
            method: "getApplicationReport",
            field: "application_report",
        })?;
        Ok(app_report_from_proto(report))
    }

    /// Asks the RM to kill an application. Returns whether the kill has completed;
    /// `false` means it is under way: poll the report until the state is terminal.
    pub async fn force_kill_application(
        &self,
        id: ApplicationId,
        diagnostics: Option<&str>,
    ) -> Result<bool> {
        let req = pb::KillApplicationRequestProto {
            application_id: Some(app_id_to_proto(id)),
            diagnostics: diagnostics.map(str::to_string),
        };
        let res: pb::KillApplicationResponseProto = self.call("forceKillApplication", &req).await?;
        Ok(res.is_kill_completed.unwrap_or(false))
    }

    /// Applications matching `filter`.
    pub async fn get_applications(
        &self,
        filter: &ApplicationFilter,
    ) -> Result<Vec<ApplicationReport>> {
        let res: pb::GetApplicationsResponseProto = self
            .call("getApplications", &filter_to_proto(filter))
            .await?;
        Ok(res
            .applications
            .into_iter()
            .map(app_report_from_proto)
            .collect())
    }

    /// The containers of an application attempt that the RM still tracks (running ones,
    /// and those that ended lately).
    pub async fn get_containers(
        &self,
        attempt: ApplicationAttemptId,
    ) -> Result<Vec<ContainerReport>> {
        let req = pb::GetContainersRequestProto {
            application_attempt_id: Some(pb::ApplicationAttemptIdProto {
                application_id: Some(app_id_to_proto(attempt.application_id)),
                attempt_id: Some(attempt.attempt),
            }),
        };
        let res: pb::GetContainersResponseProto = self.call("getContainers", &req).await?;
        Ok(res
            .containers
            .into_iter()
            .map(container_report_from_proto)
            .collect())
    }

    /// NodeManager counts.
    pub async fn get_cluster_metrics(&self) -> Result<ClusterMetrics> {
        let res: pb::GetClusterMetricsResponseProto = self
            .call("getClusterMetrics", &pb::GetClusterMetricsRequestProto {})
            .await?;
        Ok(metrics_from_proto(res.cluster_metrics.as_ref()))
    }

    /// Nodes in any of `states` (empty: the RM's default, which is all states).
    pub async fn get_cluster_nodes(&self, states: &[NodeState]) -> Result<Vec<NodeReport>> {
        let req = pb::GetClusterNodesRequestProto {
            node_states: states.iter().map(|s| node_state_to_proto(*s)).collect(),
        };
        let res: pb::GetClusterNodesResponseProto = self.call("getClusterNodes", &req).await?;
        Ok(res
            .node_reports
            .into_iter()
            .map(node_report_from_proto)
            .collect())
    }

    /// The node labels the cluster knows (empty when node labels are off).
    pub async fn get_cluster_node_labels(&self) -> Result<Vec<String>> {
        let res: pb::GetClusterNodeLabelsResponseProto = self
            .call(
                "getClusterNodeLabels",
                &pb::GetClusterNodeLabelsRequestProto {},
            )
            .await?;
        let mut labels: Vec<String> = res
            .node_labels
            .into_iter()
            .filter_map(|l| l.name)
            .chain(res.deprecated_node_labels)
            .collect();
        labels.sort();
        labels.dedup();
        Ok(labels)
    }
}
