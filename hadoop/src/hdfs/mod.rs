//! The NameNode calls spindle needs beyond what hdfs-native exposes: where each block of
//! a file lives (`getBlockLocations`), to place scans next to their data, and
//! `getFileInfo`, and on a Kerberos cluster a delegation token for the application's
//! containers (`getDelegationToken`). Reads and most writes go through hdfs-native;
//! [`write`] writes a file with `hflush`, which hdfs-native lacks.

pub mod write;

use std::time::Duration;

use crate::config::Configuration;
use crate::credentials::Token;
use crate::ipc::{Auth, Connection, ConnectionOptions};
use crate::proto::{common, hdfs as pb};
use crate::sasl::Protection;
use crate::user::Identity;
use crate::{Error, Result};

/// The kind of an HDFS delegation token.
pub const DELEGATION_TOKEN_KIND: &str = "HDFS_DELEGATION_TOKEN";

pub const CLIENT_PROTOCOL: &str = "org.apache.hadoop.hdfs.protocol.ClientProtocol";

/// One block of a file and the DataNodes holding a replica of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLocation {
    pub offset: u64,
    pub length: u64,
    /// Host names of the replicas, as DataNodes registered them (what YARN calls nodes).
    pub hosts: Vec<String>,
    /// Each replica's rack (`/default-rack` unless topology is configured).
    pub racks: Vec<String>,
    pub corrupt: bool,
}

/// `getFileInfo`'s answer, trimmed to what splitting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    pub is_dir: bool,
    pub length: u64,
    pub block_size: u64,
    pub modification_time_ms: u64,
}

/// A connection to one NameNode: SIMPLE, Kerberos ([`Self::connect_as`]) or a delegation
/// token ([`Self::connect_with_token`]).
pub struct NameNodeClient {
    conn: Connection,
}

impl NameNodeClient {
    /// `addr` is the NameNode's RPC `host:port` (the authority of `fs.defaultFS`).
    pub async fn connect(addr: &str, user: &str) -> Result<Self> {
        let auth = Auth::Simple {
            user: user.to_string(),
            real_user: None,
        };
        Self::open(addr, auth, Default::default()).await
    }

    /// Connects as `who`: with Kerberos (the principal of `dfs.namenode.kerberos.principal`,
    /// protected as `hadoop.rpc.protection` asks) when `who` has a login, else SIMPLE.
    pub async fn connect_as(addr: &str, who: &Identity, conf: &Configuration) -> Result<Self> {
        let auth = who.auth(conf, "dfs.namenode.kerberos.principal")?;
        Self::open(addr, auth, conf.rpc_protection()?).await
    }

    /// Connects with an HDFS delegation token (inside a container of a Kerberos cluster).
    pub async fn connect_with_token(
        addr: &str,
        token: &Token,
        conf: &Configuration,
    ) -> Result<Self> {
        let auth = Auth::Token {
            token: token.clone(),
            fallback_user: String::new(),
        };
        Self::open(addr, auth, conf.rpc_protection()?).await
    }

    async fn open(addr: &str, auth: Auth, protection: Protection) -> Result<Self> {
        let opts = ConnectionOptions {
            protocol: CLIENT_PROTOCOL.to_string(),
            auth,
            protection,
            connect_timeout: Duration::from_secs(20),
            call_timeout: crate::ipc::CALL_TIMEOUT,
        };
        Ok(Self {
            conn: Connection::connect(addr, opts).await?,
        })
    }

    /// A delegation token that `renewer` (the ResourceManager's principal) may renew,
    /// with `service` set to what HDFS clients look tokens up by (the NameNode's
    /// `host:port` as `fs.defaultFS` names it, or `ha-hdfs:<nameservice>`).
    pub async fn get_delegation_token(&self, renewer: &str, service: &str) -> Result<Token> {
        let req = common::GetDelegationTokenRequestProto {
            renewer: renewer.to_string(),
        };
        let res: common::GetDelegationTokenResponseProto = self
            .conn
            .call(CLIENT_PROTOCOL, "getDelegationToken", &req)
            .await?;
        let token = res.token.ok_or_else(|| {
            Error::Config(
                "the NameNode issued no delegation token: is the cluster secure?".to_string(),
            )
        })?;
        let mut token = Token::from_proto(token);
        token.service = service.to_string();
        Ok(token)
    }

    /// Renews `token` (this caller must be its renewer); returns its new expiry time in
    /// ms since the epoch.
    pub async fn renew_delegation_token(&self, token: &Token) -> Result<u64> {
        let req = common::RenewDelegationTokenRequestProto {
            token: token.to_proto(),
        };
        let res: common::RenewDelegationTokenResponseProto = self
            .conn
            .call(CLIENT_PROTOCOL, "renewDelegationToken", &req)
            .await?;
        Ok(res.new_expiry_time)
    }

    /// `None` when nothing exists at `path`.
    pub async fn get_file_info(&self, path: &str) -> Result<Option<FileStatus>> {
        let req = pb::GetFileInfoRequestProto {
            src: Some(path.to_string()),
        };
        let res: pb::GetFileInfoResponseProto =
            self.conn.call(CLIENT_PROTOCOL, "getFileInfo", &req).await?;
        Ok(res.fs.map(|fs| FileStatus {
            is_dir: fs.file_type() == pb::hdfs_file_status_proto::FileType::IsDir,
            length: fs.length.unwrap_or_default(),
            block_size: fs.blocksize.unwrap_or_default(),
            modification_time_ms: fs.modification_time.unwrap_or_default(),
        }))
    }

    /// The blocks overlapping `offset..offset + length` of the file at `path`.
    pub async fn get_block_locations(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<BlockLocation>> {
        let req = pb::GetBlockLocationsRequestProto {
            src: Some(path.to_string()),
            offset: Some(offset),
            length: Some(length),
        };
        let res: pb::GetBlockLocationsResponseProto = self
            .conn
            .call(CLIENT_PROTOCOL, "getBlockLocations", &req)
            .await?;
        let blocks = res.locations.map(|l| l.blocks).unwrap_or_default();
        Ok(blocks.into_iter().map(block_from_proto).collect())
    }
}

fn block_from_proto(b: pb::LocatedBlockProto) -> BlockLocation {
    let (hosts, racks) = b
        .locs
        .iter()
        .map(|d| {
            let id = d.id.clone().unwrap_or_default();
            // Some DataNodes register without a resolvable name; the IP is what they have.
            let host = id
                .host_name
                .filter(|h| !h.is_empty())
                .or(id.ip_addr)
                .unwrap_or_default();
            (host, d.location.clone().unwrap_or_default())
        })
        .unzip();
    BlockLocation {
        offset: b.offset.unwrap_or_default(),
        length: b.b.and_then(|e| e.num_bytes).unwrap_or_default(),
        hosts,
        racks,
        corrupt: b.corrupt.unwrap_or(false),
    }
}
