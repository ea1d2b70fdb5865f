//! One block's write pipeline: a connection to the first DataNode of the block's
//! locations, which passes packets on to the others and returns their acks.

use super::packet::{self, HEARTBEAT_SEQNO};
use crate::proto::{common, hdfs as pb};
use crate::{Error, Result};
use prost::Message;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a DataNode may take to accept the connection or the block.
const CONNECT_WITHIN: Duration = Duration::from_secs(20);
/// How long a DataNode may take to ack a packet (Hadoop's client waits 60 s; a journal
/// that cannot write for this long is better failed than stuck).
const ACK_WITHIN: Duration = Duration::from_secs(30);
/// Packets in flight before the writer waits for acks (Hadoop's client allows 80).
const MAX_UNACKED: usize = 64;

pub(super) struct Pipeline {
    addr: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_seqno: i64,
    unacked: VecDeque<i64>,
}

impl Pipeline {
    /// Opens the pipeline of a block the NameNode just allocated (`addBlock`).
    pub async fn create(block: &pb::LocatedBlockProto, client_name: &str) -> Result<Pipeline> {
        let first = block
            .locs
            .first()
            .and_then(|d| d.id.clone())
            .ok_or(Error::MissingField {
                method: "addBlock",
                field: "a DataNode for the block",
            })?;
        let host = first.ip_addr.clone().filter(|h| !h.is_empty());
        let host = host.or(first.host_name.clone()).unwrap_or_default();
        let addr = format!("{host}:{}", first.xfer_port.unwrap_or_default());
        let io = |source| Error::Io {
            addr: addr.clone(),
            source,
        };
        let stream = timeout(CONNECT_WITHIN, TcpStream::connect(&addr))
            .await
            .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let (r, w) = stream.into_split();
        let mut pipeline = Pipeline {
            addr: addr.clone(),
            reader: BufReader::new(r),
            writer: w,
            next_seqno: 0,
            unacked: VecDeque::new(),
        };
        let op = write_block_op(block, client_name);
        pipeline.send(packet::write_block_request(&op)).await?;
        let res: pb::BlockOpResponseProto = pipeline.read_delimited("the block's response").await?;
        if res.status() != pb::Status::Success {
            return Err(pipeline.broken(format!(
                "the DataNode refused the block: {:?} {}{}",
                res.status(),
                res.message.unwrap_or_default(),
                res.first_bad_link
                    .filter(|l| !l.is_empty())
                    .map(|l| format!(" (first bad link {l})"))
                    .unwrap_or_default()
            )));
        }
        Ok(pipeline)
    }

    /// Queues one packet of `data` at `offset`; waits for acks only if too many are out.
    pub async fn write(&mut self, offset: u64, data: &[u8], last_in_block: bool) -> Result<()> {
        let seqno = self.next_seqno;
        self.next_seqno += 1;
        self.send(packet::packet(offset, seqno, data, last_in_block))
            .await?;
        self.unacked.push_back(seqno);
        while self.unacked.len() > MAX_UNACKED {
            self.read_ack().await?;
        }
        Ok(())
    }

    /// Returns once every DataNode has acked every packet written so far: the data is in
    /// each DataNode's hands (hflush), not necessarily on its disk.
    pub async fn flush(&mut self) -> Result<()> {
        while !self.unacked.is_empty() {
            self.read_ack().await?;
        }
        Ok(())
    }

    /// An empty packet that tells the DataNodes the client is alive; acked like data.
    pub async fn heartbeat(&mut self) -> Result<()> {
        self.flush().await?;
        self.send(packet::packet(0, HEARTBEAT_SEQNO, &[], false))
            .await?;
        self.unacked.push_back(HEARTBEAT_SEQNO);
        self.flush().await
    }

    async fn send(&mut self, bytes: bytes::Bytes) -> Result<()> {
        let sent = timeout(ACK_WITHIN, self.writer.write_all(&bytes)).await;
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Io {
                addr: self.addr.clone(),
                source,
            }),
            Err(_) => Err(self.broken(format!(
                "the DataNode took no data for {} s",
                ACK_WITHIN.as_secs()
            ))),
        }
    }

    async fn read_ack(&mut self) -> Result<()> {
        let ack: pb::PipelineAckProto = self.read_delimited("a packet's ack").await?;
        let expected = self.unacked.pop_front();
        if ack.seqno != expected {
            return Err(self.broken(format!(
                "an ack for packet {:?} came where {expected:?} was due",
                ack.seqno
            )));
        }
        let statuses = packet::ack_statuses(&ack);
        if statuses.is_empty() || statuses.iter().any(|s| *s != pb::Status::Success) {
            return Err(self.broken(format!(
                "the pipeline failed packet {expected:?}: {statuses:?}"
            )));
        }
        Ok(())
    }

    /// Reads one varint-prefixed message, within [`ACK_WITHIN`].
    async fn read_delimited<M: Message + Default>(&mut self, what: &'static str) -> Result<M> {
        let read = async {
            let mut prefix = Vec::with_capacity(5);
            let len = loop {
                prefix.push(self.reader.read_u8().await?);
                if let Some((_, len)) = packet::delimited_len(&prefix) {
                    break len;
                }
                if prefix.len() == 5 {
                    return Err(std::io::Error::other("a length prefix over 5 bytes"));
                }
            };
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body).await?;
            Ok(body)
        };
        let body = match timeout(ACK_WITHIN, read).await {
            Ok(Ok(body)) => body,
            Ok(Err(source)) => {
                return Err(Error::Io {
                    addr: self.addr.clone(),
                    source,
                })
            }
            Err(_) => {
                return Err(self.broken(format!("no {what} within {} s", ACK_WITHIN.as_secs())))
            }
        };
        M::decode(body.as_slice()).map_err(|source| Error::Decode { what, source })
    }

    fn broken(&self, detail: String) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            detail,
        }
    }
}

/// `WRITE_BLOCK` for a new block: the first DataNode gets the rest as its targets.
fn write_block_op(block: &pb::LocatedBlockProto, client_name: &str) -> pb::OpWriteBlockProto {
    use pb::op_write_block_proto::BlockConstructionStage;
    let b = block.b.clone().unwrap_or_default();
    let token = block
        .block_token
        .clone()
        .unwrap_or_else(|| common::TokenProto {
            identifier: vec![],
            password: vec![],
            kind: String::new(),
            service: String::new(),
        });
    let mut op = pb::OpWriteBlockProto {
        header: Some(pb::ClientOperationHeaderProto {
            base_header: Some(pb::BaseHeaderProto {
                block: Some(pb::ExtendedBlockProto {
                    num_bytes: Some(0),
                    ..b.clone()
                }),
                token: Some(token),
            }),
            client_name: Some(client_name.to_string()),
        }),
        targets: block.locs.iter().skip(1).cloned().collect(),
        pipeline_size: Some(block.locs.len() as u32),
        min_bytes_rcvd: Some(0),
        max_bytes_rcvd: Some(0),
        latest_generation_stamp: Some(b.generation_stamp.unwrap_or_default()),
        requested_checksum: Some(pb::ChecksumProto {
            r#type: Some(pb::ChecksumTypeProto::ChecksumCrc32c as i32),
            bytes_per_checksum: Some(packet::BYTES_PER_CHECKSUM as u32),
        }),
        target_storage_ids: block.storage_ids.iter().skip(1).cloned().collect(),
        storage_id: block.storage_ids.first().cloned(),
        ..Default::default()
    };
    op.set_stage(BlockConstructionStage::PipelineSetupCreate);
    op
}
