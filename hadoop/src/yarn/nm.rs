//! Typed client for `ContainerManagementProtocol` (AM → NodeManager), which only
//! accepts TOKEN authentication with the NMToken for that node.

use std::time::Duration;

use super::container::{ContainerId, ContainerResults, ContainerStatus};
use super::convert::launch_context_to_proto;
use super::convert_am::{
    container_id_from_proto, container_id_to_proto, failures_from_proto, status_from_proto,
};
use super::types::{ContainerLaunchContext, NodeId};
use crate::credentials::Token;
use crate::ipc::{Auth, Connection, ConnectionOptions};
use crate::proto::yarn as pb;
use crate::sasl::Protection;
use crate::Result;

/// Protocol name of the AM ↔ NodeManager protocol.
pub const CONTAINER_MANAGEMENT_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB";

/// A connection to one NodeManager.
pub struct NodeManagerClient {
    conn: Connection,
}

impl NodeManagerClient {
    /// Connects to `node` with its NMToken (from [`super::Allocation::nm_tokens`]),
    /// protected as the cluster's `hadoop.rpc.protection` asks.
    pub async fn connect(
        node: &NodeId,
        nm_token: &Token,
        user: &str,
        protection: &Protection,
    ) -> Result<Self> {
        let opts = ConnectionOptions {
            protocol: CONTAINER_MANAGEMENT_PROTOCOL.to_string(),
            auth: Auth::Token {
                token: nm_token.clone(),
                fallback_user: user.to_string(),
            },
            protection: protection.clone(),
            connect_timeout: Duration::from_secs(20),
            call_timeout: crate::ipc::CALL_TIMEOUT,
        };
        Ok(Self {
            conn: Connection::connect(&node.to_string(), opts).await?,
        })
    }

    /// Starts containers: each launch context with the container token the RM gave.
    pub async fn start_containers(
        &self,
        requests: &[(ContainerLaunchContext, Token)],
    ) -> Result<ContainerResults> {
        let req = pb::StartContainersRequestProto {
            start_container_request: requests
                .iter()
                .map(|(ctx, token)| pb::StartContainerRequestProto {
                    container_launch_context: Some(launch_context_to_proto(ctx)),
                    container_token: Some(token.to_proto()),
                })
                .collect(),
        };
        let res: pb::StartContainersResponseProto = self
            .conn
            .call(CONTAINER_MANAGEMENT_PROTOCOL, "startContainers", &req)
            .await?;
        Ok(ContainerResults {
            succeeded: res
                .succeeded_requests
                .iter()
                .map(|c| container_id_from_proto(Some(c)))
                .collect(),
            failed: failures_from_proto(res.failed_requests),
        })
    }

    /// Stops containers.
    pub async fn stop_containers(&self, ids: &[ContainerId]) -> Result<ContainerResults> {
        let req = pb::StopContainersRequestProto {
            container_id: ids.iter().map(container_id_to_proto).collect(),
        };
        let res: pb::StopContainersResponseProto = self
            .conn
            .call(CONTAINER_MANAGEMENT_PROTOCOL, "stopContainers", &req)
            .await?;
        Ok(ContainerResults {
            succeeded: res
                .succeeded_requests
                .iter()
                .map(|c| container_id_from_proto(Some(c)))
                .collect(),
            failed: failures_from_proto(res.failed_requests),
        })
    }

    /// Current statuses; containers the node does not know come back as failures.
    pub async fn get_container_statuses(
        &self,
        ids: &[ContainerId],
    ) -> Result<(Vec<ContainerStatus>, Vec<super::ContainerError>)> {
        let req = pb::GetContainerStatusesRequestProto {
            container_id: ids.iter().map(container_id_to_proto).collect(),
        };
        let res: pb::GetContainerStatusesResponseProto = self
            .conn
            .call(CONTAINER_MANAGEMENT_PROTOCOL, "getContainerStatuses", &req)
            .await?;
        Ok((
            res.status.into_iter().map(status_from_proto).collect(),
            failures_from_proto(res.failed_requests),
        ))
    }
}
