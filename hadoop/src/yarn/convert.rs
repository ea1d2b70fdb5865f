//! The one place YARN protobuf structs turn into domain types and back.

use crate::credentials::{CredentialsFormat, Token};
use crate::proto::yarn as pb;

use super::types::*;

pub(super) fn app_id_to_proto(id: ApplicationId) -> pb::ApplicationIdProto {
    pb::ApplicationIdProto {
        id: Some(id.id),
        cluster_timestamp: Some(id.cluster_timestamp),
    }
}

pub(super) fn app_id_from_proto(p: &pb::ApplicationIdProto) -> ApplicationId {
    ApplicationId {
        cluster_timestamp: p.cluster_timestamp.unwrap_or_default(),
        id: p.id.unwrap_or_default(),
    }
}

pub(super) fn resource_from_proto(p: Option<&pb::ResourceProto>) -> Resource {
    p.map(|r| Resource {
        memory_mb: r.memory.unwrap_or_default(),
        vcores: r.virtual_cores.unwrap_or_default(),
        gpus: r
            .resource_value_map
            .iter()
            .find(|i| i.key == GPU_RESOURCE)
            .and_then(|i| i.value)
            .unwrap_or_default(),
    })
    .unwrap_or_default()
}

pub(super) fn resource_to_proto(r: Resource) -> pb::ResourceProto {
    let gpus = (r.gpus > 0).then(|| pb::ResourceInformationProto {
        key: GPU_RESOURCE.into(),
        value: Some(r.gpus),
        units: None,
    });
    pb::ResourceProto {
        memory: Some(r.memory_mb),
        virtual_cores: Some(r.vcores),
        resource_value_map: gpus.into_iter().collect(),
    }
}

pub(super) fn metrics_from_proto(p: Option<&pb::YarnClusterMetricsProto>) -> ClusterMetrics {
    let Some(p) = p else {
        return ClusterMetrics::default();
    };
    ClusterMetrics {
        node_managers: p.num_node_managers.unwrap_or_default(),
        active: p.num_active_nms.unwrap_or_default(),
        decommissioned: p.num_decommissioned_nms.unwrap_or_default(),
        lost: p.num_lost_nms.unwrap_or_default(),
        unhealthy: p.num_unhealthy_nms.unwrap_or_default(),
        rebooted: p.num_rebooted_nms.unwrap_or_default(),
    }
}

pub(super) fn node_state_to_proto(s: NodeState) -> i32 {
    use pb::NodeStateProto as P;
    (match s {
        NodeState::New => P::NsNew,
        NodeState::Running => P::NsRunning,
        NodeState::Unhealthy => P::NsUnhealthy,
        NodeState::Decommissioned => P::NsDecommissioned,
        NodeState::Lost => P::NsLost,
        NodeState::Rebooted => P::NsRebooted,
        NodeState::Decommissioning => P::NsDecommissioning,
        NodeState::Shutdown => P::NsShutdown,
    }) as i32
}

fn node_state_from_proto(v: i32) -> Option<NodeState> {
    use pb::NodeStateProto as P;
    Some(match P::try_from(v).ok()? {
        P::NsNew => NodeState::New,
        P::NsRunning => NodeState::Running,
        P::NsUnhealthy => NodeState::Unhealthy,
        P::NsDecommissioned => NodeState::Decommissioned,
        P::NsLost => NodeState::Lost,
        P::NsRebooted => NodeState::Rebooted,
        P::NsDecommissioning => NodeState::Decommissioning,
        P::NsShutdown => NodeState::Shutdown,
    })
}

pub(super) fn node_report_from_proto(p: pb::NodeReportProto) -> NodeReport {
    let id = p.node_id.unwrap_or_default();
    NodeReport {
        id: NodeId {
            host: id.host.unwrap_or_default(),
            port: id.port.unwrap_or_default(),
        },
        http_address: p.http_address.unwrap_or_default(),
        rack: p.rack_name.unwrap_or_default(),
        used: resource_from_proto(p.used.as_ref()),
        capability: resource_from_proto(p.capability.as_ref()),
        num_containers: p.num_containers.unwrap_or_default(),
        state: p.node_state.and_then(node_state_from_proto),
        health_report: p.health_report.unwrap_or_default(),
        last_health_report_time_ms: p.last_health_report_time.unwrap_or_default(),
        labels: p.node_labels,
    }
}

pub(super) fn app_state_to_proto(s: ApplicationState) -> i32 {
    use pb::YarnApplicationStateProto as P;
    (match s {
        ApplicationState::New => P::New,
        ApplicationState::NewSaving => P::NewSaving,
        ApplicationState::Submitted => P::Submitted,
        ApplicationState::Accepted => P::Accepted,
        ApplicationState::Running => P::Running,
        ApplicationState::Finished => P::Finished,
        ApplicationState::Failed => P::Failed,
        ApplicationState::Killed => P::Killed,
    }) as i32
}

fn app_state_from_proto(v: i32) -> Option<ApplicationState> {
    use pb::YarnApplicationStateProto as P;
    Some(match P::try_from(v).ok()? {
        P::New => ApplicationState::New,
        P::NewSaving => ApplicationState::NewSaving,
        P::Submitted => ApplicationState::Submitted,
        P::Accepted => ApplicationState::Accepted,
        P::Running => ApplicationState::Running,
        P::Finished => ApplicationState::Finished,
        P::Failed => ApplicationState::Failed,
        P::Killed => ApplicationState::Killed,
    })
}

fn final_status_from_proto(v: i32) -> Option<FinalStatus> {
    use pb::FinalApplicationStatusProto as P;
    Some(match P::try_from(v).ok()? {
        P::AppUndefined => FinalStatus::Undefined,
        P::AppSucceeded => FinalStatus::Succeeded,
        P::AppFailed => FinalStatus::Failed,
        P::AppKilled => FinalStatus::Killed,
        P::AppEnded => FinalStatus::Ended,
    })
}

pub(super) fn app_report_from_proto(p: pb::ApplicationReportProto) -> ApplicationReport {
    ApplicationReport {
        id: p
            .application_id
            .as_ref()
            .map(app_id_from_proto)
            .unwrap_or(ApplicationId {
                cluster_timestamp: 0,
                id: 0,
            }),
        user: p.user.unwrap_or_default(),
        queue: p.queue.unwrap_or_default(),
        name: p.name.unwrap_or_default(),
        host: p.host.unwrap_or_default(),
        rpc_port: p.rpc_port.unwrap_or(-1),
        state: p.yarn_application_state.and_then(app_state_from_proto),
        final_status: p.final_application_status.and_then(final_status_from_proto),
        tracking_url: p.tracking_url.unwrap_or_default(),
        original_tracking_url: p.original_tracking_url.unwrap_or_default(),
        diagnostics: p.diagnostics.unwrap_or_default(),
        start_time_ms: p.start_time.unwrap_or_default(),
        finish_time_ms: p.finish_time.unwrap_or_default(),
        progress: p.progress.unwrap_or_default(),
        application_type: p.application_type.unwrap_or_default(),
        tags: p.application_tags,
        current_attempt: p
            .current_application_attempt_id
            .map(|a| ApplicationAttemptId {
                application_id: a.application_id.as_ref().map(app_id_from_proto).unwrap_or(
                    ApplicationId {
                        cluster_timestamp: 0,
                        id: 0,
                    },
                ),
                attempt: a.attempt_id.unwrap_or_default(),
            }),
        am_rm_token: p.am_rm_token.map(Token::from_proto),
        client_to_am_token: p.client_to_am_token.map(Token::from_proto),
        log_aggregation: p
            .log_aggregation_status
            .and_then(log_aggregation_from_proto),
    }
}

fn log_aggregation_from_proto(v: i32) -> Option<LogAggregationStatus> {
    use pb::LogAggregationStatusProto as L;
    L::try_from(v).ok().map(|s| match s {
        L::LogDisabled => LogAggregationStatus::Disabled,
        L::LogNotStart => LogAggregationStatus::NotStarted,
        L::LogRunning => LogAggregationStatus::Running,
        L::LogSucceeded => LogAggregationStatus::Succeeded,
        L::LogFailed => LogAggregationStatus::Failed,
        L::LogTimeOut => LogAggregationStatus::TimedOut,
        L::LogRunningWithFailure => LogAggregationStatus::RunningWithFailure,
    })
}

pub(super) fn filter_to_proto(f: &ApplicationFilter) -> pb::GetApplicationsRequestProto {
    pb::GetApplicationsRequestProto {
        application_types: f.application_types.clone(),
        application_states: f.states.iter().map(|s| app_state_to_proto(*s)).collect(),
        users: f.users.clone(),
        queues: f.queues.clone(),
        limit: f.limit,
        application_tags: f.tags.clone(),
        name: f.name.clone(),
    }
}

fn local_resource_to_proto(r: &LocalResource) -> pb::LocalResourceProto {
    use pb::{LocalResourceTypeProto as T, LocalResourceVisibilityProto as V};
    pb::LocalResourceProto {
        resource: Some(pb::UrlProto {
            scheme: Some(r.scheme.clone()),
            host: Some(r.host.clone()),
            port: Some(r.port),
            file: Some(r.file.clone()),
            user_info: None,
        }),
        size: Some(r.size),
        timestamp: Some(r.timestamp),
        r#type: Some(match r.kind {
            LocalResourceType::Archive => T::Archive,
            LocalResourceType::File => T::File,
            LocalResourceType::Pattern => T::Pattern,
        } as i32),
        visibility: Some(match r.visibility {
            LocalResourceVisibility::Public => V::Public,
            LocalResourceVisibility::Private => V::Private,
            LocalResourceVisibility::Application => V::Application,
        } as i32),
        pattern: None,
    }
}

pub(super) fn launch_context_to_proto(
    c: &ContainerLaunchContext,
) -> pb::ContainerLaunchContextProto {
    pb::ContainerLaunchContextProto {
        local_resources: c
            .local_resources
            .iter()
            .map(|(k, v)| pb::StringLocalResourceMapProto {
                key: Some(k.clone()),
                value: Some(local_resource_to_proto(v)),
            })
            .collect(),
        // Unset rather than empty: empty bytes make the NodeManager fail the launch.
        tokens: c
            .credentials
            .as_ref()
            .map(|cr| cr.write(CredentialsFormat::Writable)),
        service_data: Vec::new(),
        environment: c
            .environment
            .iter()
            .map(|(k, v)| pb::StringStringMapProto {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect(),
        command: c.commands.clone(),
        application_ac_ls: c.acls.as_ref().map_or_else(Vec::new, acls_to_proto),
    }
}

fn acls_to_proto(acls: &ApplicationAcls) -> Vec<pb::ApplicationAclMapProto> {
    let acl = |kind: pb::ApplicationAccessTypeProto, list: &str| pb::ApplicationAclMapProto {
        access_type: Some(kind as i32),
        acl: Some(list.to_string()),
    };
    vec![
        acl(pb::ApplicationAccessTypeProto::AppaccessViewApp, &acls.view),
        acl(
            pb::ApplicationAccessTypeProto::AppaccessModifyApp,
            &acls.modify,
        ),
    ]
}

pub(super) fn submission_to_proto(
    s: &ApplicationSubmission,
) -> pb::ApplicationSubmissionContextProto {
    pb::ApplicationSubmissionContextProto {
        application_id: Some(app_id_to_proto(s.id)),
        application_name: Some(s.name.clone()),
        queue: Some(s.queue.clone()),
        priority: s.priority.map(|p| pb::PriorityProto { priority: Some(p) }),
        am_container_spec: Some(launch_context_to_proto(&s.am_container)),
        cancel_tokens_when_complete: None,
        unmanaged_am: Some(s.unmanaged_am),
        max_app_attempts: (s.max_app_attempts > 0).then_some(s.max_app_attempts),
        resource: Some(resource_to_proto(s.am_resource)),
        application_type: Some(s.application_type.clone()),
        keep_containers_across_application_attempts: Some(s.keep_containers_across_attempts),
        application_tags: s.tags.clone(),
        attempt_failures_validity_interval: None,
        node_label_expression: s.node_label_expression.clone(),
    }
}

pub(super) fn final_status_to_proto(s: FinalStatus) -> i32 {
    use pb::FinalApplicationStatusProto as P;
    (match s {
        FinalStatus::Undefined => P::AppUndefined,
        FinalStatus::Succeeded => P::AppSucceeded,
        FinalStatus::Failed => P::AppFailed,
        FinalStatus::Killed => P::AppKilled,
        FinalStatus::Ended => P::AppEnded,
    }) as i32
}
