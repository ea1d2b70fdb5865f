//! The NameNode's side of writing a file: create it, allocate its blocks, complete it,
//! and keep the writer's lease.

use super::super::{NameNodeClient, CLIENT_PROTOCOL};
use crate::proto::hdfs as pb;
use crate::{Error, Result};
use std::time::Duration;

/// `CreateFlag` bits.
const CREATE: u32 = 0x01;
const OVERWRITE: u32 = 0x02;

/// How often, and for how long, `addBlock` is tried again while the NameNode waits for
/// the previous block's replicas to report (`NotReplicatedYetException`).
const ADD_BLOCK_TRIES: u32 = 8;

impl NameNodeClient {
    /// Creates `src` for writing by `client_name`; its inode id.
    pub(super) async fn create_file(
        &self,
        src: &str,
        client_name: &str,
        options: &super::CreateOptions,
    ) -> Result<u64> {
        let flags = CREATE | if options.overwrite { OVERWRITE } else { 0 };
        let req = pb::CreateRequestProto {
            src: Some(src.to_string()),
            masked: Some(pb::FsPermissionProto {
                perm: Some(options.permission),
            }),
            client_name: Some(client_name.to_string()),
            create_flag: Some(flags),
            create_parent: Some(true),
            replication: Some(options.replication as u32),
            block_size: Some(options.block_size),
        };
        let res: pb::CreateResponseProto = self.conn.call(CLIENT_PROTOCOL, "create", &req).await?;
        res.fs.and_then(|fs| fs.file_id).ok_or(Error::MissingField {
            method: "create",
            field: "fs.fileId",
        })
    }

    /// A new block after `previous` (whose length is final), with the DataNodes to write
    /// it to.
    pub(super) async fn add_block(
        &self,
        src: &str,
        client_name: &str,
        file_id: u64,
        previous: Option<pb::ExtendedBlockProto>,
    ) -> Result<pb::LocatedBlockProto> {
        let req = pb::AddBlockRequestProto {
            src: Some(src.to_string()),
            client_name: Some(client_name.to_string()),
            previous,
            exclude_nodes: vec![],
            file_id: Some(file_id),
        };
        let mut pause = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            let res: Result<pb::AddBlockResponseProto> =
                self.conn.call(CLIENT_PROTOCOL, "addBlock", &req).await;
            match res {
                Ok(res) => {
                    return res.block.ok_or(Error::MissingField {
                        method: "addBlock",
                        field: "block",
                    })
                }
                Err(e) if not_replicated_yet(&e) && tries < ADD_BLOCK_TRIES => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the file at `last`; `false` while the NameNode still waits for the last
    /// block's replicas to report.
    pub(super) async fn complete(
        &self,
        src: &str,
        client_name: &str,
        file_id: u64,
        last: Option<pb::ExtendedBlockProto>,
    ) -> Result<bool> {
        let req = pb::CompleteRequestProto {
            src: Some(src.to_string()),
            client_name: Some(client_name.to_string()),
            last,
            file_id: Some(file_id),
        };
        let res: pb::CompleteResponseProto =
            self.conn.call(CLIENT_PROTOCOL, "complete", &req).await?;
        Ok(res.result.unwrap_or(false))
    }

    /// Keeps every file `client_name` writes leased to it for another soft limit (60 s).
    pub(super) async fn renew_lease(&self, client_name: &str) -> Result<()> {
        let req = pb::RenewLeaseRequestProto {
            client_name: Some(client_name.to_string()),
        };
        let _: pb::RenewLeaseResponseProto =
            self.conn.call(CLIENT_PROTOCOL, "renewLease", &req).await?;
        Ok(())
    }
}

fn not_replicated_yet(e: &Error) -> bool {
    e.remote()
        .is_some_and(|r| r.simple_class() == "NotReplicatedYetException")
}
