//! Proto conversion for the AM-side protocols (ApplicationMasterProtocol and
//! ContainerManagementProtocol).

use super::container::*;
use super::convert::{app_id_from_proto, app_id_to_proto, resource_from_proto, resource_to_proto};
use super::types::{ApplicationAttemptId, ApplicationId, NodeId};
use crate::credentials::Token;
use crate::proto::yarn as pb;
use crate::RemoteException;

fn attempt_from_proto(p: Option<&pb::ApplicationAttemptIdProto>) -> ApplicationAttemptId {
    let p = p.cloned().unwrap_or_default();
    ApplicationAttemptId {
        application_id: p
            .application_id
            .as_ref()
            .map(app_id_from_proto)
            .unwrap_or(ApplicationId {
                cluster_timestamp: 0,
                id: 0,
            }),
        attempt: p.attempt_id.unwrap_or_default(),
    }
}

pub(super) fn container_id_from_proto(p: Option<&pb::ContainerIdProto>) -> ContainerId {
    let p = p.cloned().unwrap_or_default();
    ContainerId {
        attempt: attempt_from_proto(p.app_attempt_id.as_ref()),
        id: p.id.unwrap_or_default(),
    }
}

pub(super) fn container_id_to_proto(c: &ContainerId) -> pb::ContainerIdProto {
    let app = app_id_to_proto(c.attempt.application_id);
    pb::ContainerIdProto {
        app_id: Some(app),
        app_attempt_id: Some(pb::ApplicationAttemptIdProto {
            application_id: Some(app),
            attempt_id: Some(c.attempt.attempt),
        }),
        id: Some(c.id),
    }
}

fn node_id_from_proto(p: Option<&pb::NodeIdProto>) -> NodeId {
    let p = p.cloned().unwrap_or_default();
    NodeId {
        host: p.host.unwrap_or_default(),
        port: p.port.unwrap_or_default(),
    }
}

pub(super) fn container_from_proto(p: pb::ContainerProto) -> Container {
    Container {
        id: container_id_from_proto(p.id.as_ref()),
        node: node_id_from_proto(p.node_id.as_ref()),
        node_http_address: p.node_http_address.unwrap_or_default(),
        resource: resource_from_proto(p.resource.as_ref()),
        priority: p.priority.and_then(|x| x.priority).unwrap_or_default(),
        token: p.container_token.map(Token::from_proto),
    }
}

fn container_state_from_proto(v: i32) -> Option<ContainerState> {
    use pb::ContainerStateProto as S;
    S::try_from(v).ok().map(|s| match s {
        S::CNew => ContainerState::New,
        S::CRunning => ContainerState::Running,
        S::CComplete => ContainerState::Complete,
        S::CScheduled => ContainerState::Scheduled,
    })
}

pub(super) fn status_from_proto(p: pb::ContainerStatusProto) -> ContainerStatus {
    ContainerStatus {
        id: container_id_from_proto(p.container_id.as_ref()),
        state: p.state.and_then(container_state_from_proto),
        diagnostics: p.diagnostics.unwrap_or_default(),
        exit_status: p.exit_status.unwrap_or(-1000),
    }
}

pub(super) fn container_report_from_proto(p: pb::ContainerReportProto) -> ContainerReport {
    let node = p.node_id.unwrap_or_default();
    ContainerReport {
        id: container_id_from_proto(p.container_id.as_ref()),
        node: NodeId {
            host: node.host.unwrap_or_default(),
            port: node.port.unwrap_or_default(),
        },
        node_http_address: p.node_http_address.unwrap_or_default(),
        state: p.container_state.and_then(container_state_from_proto),
        exit_status: p.container_exit_status.unwrap_or(-1000),
        diagnostics: p.diagnostics_info.unwrap_or_default(),
    }
}

pub(super) fn nm_tokens_from_proto(v: Vec<pb::NmTokenProto>) -> Vec<(NodeId, Token)> {
    v.into_iter()
        .filter_map(|t| {
            Some((
                node_id_from_proto(t.node_id.as_ref()),
                Token::from_proto(t.token?),
            ))
        })
        .collect()
}

pub(super) fn request_to_proto(r: &ResourceRequest) -> pb::ResourceRequestProto {
    pb::ResourceRequestProto {
        priority: Some(pb::PriorityProto {
            priority: Some(r.priority),
        }),
        resource_name: Some(r.resource_name.clone()),
        capability: Some(resource_to_proto(r.capability)),
        num_containers: Some(r.num_containers),
        relax_locality: Some(r.relax_locality),
        node_label_expression: r.node_label.clone(),
        allocation_request_id: None,
    }
}

pub(super) fn registration_from_proto(
    p: pb::RegisterApplicationMasterResponseProto,
) -> Registration {
    Registration {
        max_capability: resource_from_proto(p.maximum_capability.as_ref()),
        queue: p.queue.unwrap_or_default(),
        previous_containers: p
            .containers_from_previous_attempts
            .into_iter()
            .map(container_from_proto)
            .collect(),
        previous_nm_tokens: nm_tokens_from_proto(p.nm_tokens_from_previous_attempts),
    }
}

pub(super) fn allocation_from_proto(p: pb::AllocateResponseProto) -> Allocation {
    use pb::AmCommandProto as C;
    Allocation {
        command: p
            .a_m_command
            .and_then(|c| C::try_from(c).ok())
            .map(|c| match c {
                C::AmResync => AmCommand::Resync,
                C::AmShutdown => AmCommand::Shutdown,
            }),
        allocated: p
            .allocated_containers
            .into_iter()
            .map(container_from_proto)
            .collect(),
        completed: p
            .completed_container_statuses
            .into_iter()
            .map(status_from_proto)
            .collect(),
        nm_tokens: nm_tokens_from_proto(p.nm_tokens),
        num_cluster_nodes: p.num_cluster_nodes.unwrap_or_default(),
        limit: resource_from_proto(p.limit.as_ref()),
        amrm_token: p.am_rm_token.map(Token::from_proto),
    }
}

fn exception_from_proto(p: Option<pb::SerializedExceptionProto>) -> RemoteException {
    let p = p.unwrap_or_default();
    RemoteException {
        class: p.class_name.unwrap_or_default(),
        message: p.message.unwrap_or_default(),
        error_code: None,
    }
}

pub(super) fn failures_from_proto(v: Vec<pb::ContainerExceptionMapProto>) -> Vec<ContainerError> {
    v.into_iter()
        .map(|f| ContainerError {
            id: container_id_from_proto(f.container_id.as_ref()),
            exception: exception_from_proto(f.exception),
        })
        .collect()
}
