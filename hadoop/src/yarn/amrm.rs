//! Typed client for `ApplicationMasterProtocol` (AM → RM scheduler port), which only
//! accepts TOKEN authentication with the AMRMToken.

use std::time::Duration;

use super::container::{Allocation, ContainerId, Registration, ResourceRequest};
use super::convert::final_status_to_proto;
use super::convert_am::{
    allocation_from_proto, container_id_to_proto, registration_from_proto, request_to_proto,
};
use super::types::FinalStatus;
use crate::credentials::Token;
use crate::ipc::{Auth, Connection, ConnectionOptions};
use crate::proto::yarn as pb;
use crate::sasl::Protection;
use crate::{Error, Result};

/// Protocol name of the AM ↔ RM protocol.
pub const APPLICATION_MASTER_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB";

/// One AM's session with the RM scheduler. Tracks the allocate `response_id` the RM
/// expects to be echoed.
///
/// Not handled yet: reconnecting with a rolled-over AMRMToken (it is returned in
/// [`Allocation::amrm_token`]) and RM HA failover.
pub struct AmRmClient {
    conn: Connection,
    response_id: i32,
    /// Scheduler addresses (one per RM under HA) and the index of the one in use.
    addrs: Vec<String>,
    current: usize,
    token: Token,
    user: String,
    protection: Protection,
}

impl AmRmClient {
    /// Connects to the scheduler address (`yarn.resourcemanager.scheduler.address`,
    /// which the AM must be told: it is not in the container environment) with the
    /// AMRMToken (select it by kind `YARN_AM_RM_TOKEN`; its service is not the address).
    pub async fn connect(addr: &str, amrm_token: &Token, user: &str) -> Result<Self> {
        Self::connect_any(&[addr.to_string()], amrm_token, user, Protection::default()).await
    }

    /// Connects to the first reachable of `addrs` (an HA pair's scheduler addresses, in
    /// order); [`Self::reconnect`] later moves on to the next.
    /// `protection` is the cluster's `hadoop.rpc.protection`.
    pub async fn connect_any(
        addrs: &[String],
        amrm_token: &Token,
        user: &str,
        protection: Protection,
    ) -> Result<Self> {
        let mut last = None;
        for (i, addr) in addrs.iter().enumerate() {
            match Self::open(addr, amrm_token, user, &protection).await {
                Ok(conn) => {
                    return Ok(Self {
                        conn,
                        response_id: 0,
                        addrs: addrs.to_vec(),
                        current: i,
                        token: amrm_token.clone(),
                        user: user.to_string(),
                        protection,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no scheduler address given".to_string())))
    }

    async fn open(
        addr: &str,
        token: &Token,
        user: &str,
        protection: &Protection,
    ) -> Result<Connection> {
        let opts = ConnectionOptions {
            protocol: APPLICATION_MASTER_PROTOCOL.to_string(),
            auth: Auth::Token {
                token: token.clone(),
                fallback_user: user.to_string(),
            },
            protection: protection.clone(),
            connect_timeout: Duration::from_secs(20),
            call_timeout: crate::ipc::CALL_TIMEOUT,
        };
        Connection::connect(addr, opts).await
    }

    /// Remembers a rolled-over AMRMToken (from [`Allocation::amrm_token`]). The open
    /// connection stays authenticated; the new token is what the next connection uses.
    pub fn update_token(&mut self, token: Token) {
        self.token = token;
    }

    /// Opens a fresh connection with the latest token after the old one dropped, keeping
    /// the allocate sequence so the RM sees the same AM continue. Under HA the next RM is
    /// tried first: the active one has probably failed over.
    pub async fn reconnect(&mut self) -> Result<()> {
        let n = self.addrs.len();
        let mut last = None;
        for step in 1..=n {
            let i = (self.current + step) % n;
            match Self::open(&self.addrs[i], &self.token, &self.user, &self.protection).await {
                Ok(conn) => {
                    self.conn = conn;
                    self.current = i;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one address"))
    }

    /// True once the connection to the RM has dropped.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Registers the AM; the RM then shows `host`/`rpc_port`/`tracking_url` to clients.
    /// Resets the allocate sequence, as the RM does.
    pub async fn register(
        &mut self,
        host: &str,
        rpc_port: i32,
        tracking_url: &str,
    ) -> Result<Registration> {
        let req = pb::RegisterApplicationMasterRequestProto {
            host: Some(host.to_string()),
            rpc_port: Some(rpc_port),
            tracking_url: Some(tracking_url.to_string()),
        };
        let res: pb::RegisterApplicationMasterResponseProto = self
            .conn
            .call(
                APPLICATION_MASTER_PROTOCOL,
                "registerApplicationMaster",
                &req,
            )
            .await?;
        self.response_id = 0;
        Ok(registration_from_proto(res))
    }

    /// One heartbeat: new asks (replacing earlier asks of the same priority and
    /// resource name), containers to release, progress in 0..=1.
    pub async fn allocate(
        &mut self,
        asks: &[ResourceRequest],
        release: &[ContainerId],
        progress: f32,
    ) -> Result<Allocation> {
        let req = pb::AllocateRequestProto {
            ask: asks.iter().map(request_to_proto).collect(),
            release: release.iter().map(container_id_to_proto).collect(),
            response_id: Some(self.response_id),
            progress: Some(progress),
        };
        let res: pb::AllocateResponseProto = self
            .conn
            .call(APPLICATION_MASTER_PROTOCOL, "allocate", &req)
            .await?;
        if let Some(id) = res.response_id {
            self.response_id = id;
        }
        Ok(allocation_from_proto(res))
    }

    /// Unregisters with a final status. Returns whether the RM has unregistered the AM;
    /// `false` means call again shortly.
    pub async fn finish(
        &self,
        status: FinalStatus,
        diagnostics: &str,
        tracking_url: Option<&str>,
    ) -> Result<bool> {
        let req = pb::FinishApplicationMasterRequestProto {
            diagnostics: Some(diagnostics.to_string()),
            tracking_url: tracking_url.map(str::to_string),
            final_application_status: Some(final_status_to_proto(status)),
        };
        let res: pb::FinishApplicationMasterResponseProto = self
            .conn
            .call(APPLICATION_MASTER_PROTOCOL, "finishApplicationMaster", &req)
            .await?;
        Ok(res.is_unregistered.unwrap_or(false))
    }
}
