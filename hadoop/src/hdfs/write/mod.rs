//! A file written through the DataNode pipeline with `hflush`: each write returns once
//! every DataNode of the block's pipeline holds it (in memory, not yet on disk), which a
//! reader, or a new writer after lease recovery, then sees. hdfs-native offers only
//! `hsync` (a disk sync on each DataNode and a NameNode call per flush); this is what
//! Hadoop's own `hflush` does, for the key-value journal, whose puts wait for it.
//!
//! No encryption or SASL on the data transfer port: callers fall back to hdfs-native on
//! a cluster that protects it (`dfs.data.transfer.protection`, `dfs.encrypt.data.transfer`).
//! A DataNode lost mid-block fails the writer (no pipeline recovery).

mod namenode;
mod packet;
mod pipeline;

use self::packet::{BYTES_PER_CHECKSUM, MAX_PACKET_DATA};
use self::pipeline::Pipeline;
use super::NameNodeClient;
use crate::proto::hdfs as pb;
use crate::{Error, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a new file is made.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub overwrite: bool,
    pub permission: u32,
    pub replication: u16,
    /// A multiple of 512 bytes.
    pub block_size: u64,
    /// How often the lease is renewed (its soft limit is 60 s) and an idle pipeline gets
    /// a heartbeat (DataNodes drop a client silent for 60 s): [`KEEPALIVE`] unless a
    /// test wants to see it happen.
    pub keepalive: Duration,
}

/// The keepalive that keeps a writer within both 60 s limits.
pub const KEEPALIVE: Duration = Duration::from_secs(20);
/// How long `complete` may wait for the last block's replicas to report.
const COMPLETE_WITHIN: Duration = Duration::from_secs(60);

/// A file open for writing, flushed on every [`HflushWriter::write_flushed`].
pub struct HflushWriter {
    shared: Arc<Shared>,
    keepalive: JoinHandle<()>,
}

struct Shared {
    nn: NameNodeClient,
    client_name: String,
    file_id: u64,
    block_size: u64,
    keepalive: Duration,
    heartbeats: std::sync::atomic::AtomicU64,
    state: Mutex<State>,
}

struct State {
    src: String,
    /// The block being written, if one is open.
    open: Option<OpenBlock>,
    /// The last block, with its length so far: `addBlock`'s previous, `complete`'s last.
    last: Option<pb::ExtendedBlockProto>,
    /// The bytes of the last chunk if it is partial: the next packet sends it again,
    /// whole, so that packets start on chunk boundaries (the DataNode replaces it).
    partial: Vec<u8>,
    last_activity: Instant,
    /// Why the writer failed; it then takes no more writes.
    failed: Option<String>,
}

struct OpenBlock {
    pipeline: Pipeline,
    /// Bytes of this block written (and, after a flush, acked).
    written: u64,
}

impl HflushWriter {
    /// Creates `src` as `client_name` (which holds its lease) on the NameNode `nn`.
    pub async fn create(
        nn: NameNodeClient,
        client_name: &str,
        src: &str,
        options: CreateOptions,
    ) -> Result<HflushWriter> {
        if options.block_size == 0 || options.block_size % BYTES_PER_CHECKSUM as u64 != 0 {
            return Err(Error::Config(format!(
                "block size {} is not a multiple of {BYTES_PER_CHECKSUM} bytes",
                options.block_size
            )));
        }
        let file_id = nn.create_file(src, client_name, &options).await?;
        let shared = Arc::new(Shared {
            nn,
            client_name: client_name.to_string(),
            file_id,
            block_size: options.block_size,
            keepalive: options.keepalive,
            heartbeats: Default::default(),
            state: Mutex::new(State {
                src: src.to_string(),
                open: None,
                last: None,
                partial: Vec::new(),
                last_activity: Instant::now(),
                failed: None,
            }),
        });
        let keepalive = tokio::spawn(keep_alive(Arc::downgrade(&shared)));
        Ok(HflushWriter { shared, keepalive })
    }

    /// Appends `data` and returns once every DataNode of the pipeline has it.
    pub async fn write_flushed(&self, data: &[u8]) -> Result<()> {
        let mut state = self.shared.state.lock().await;
        if let Some(why) = &state.failed {
            return Err(failed_before(why));
        }
        let result = self.shared.write(&mut state, data).await;
        state.last_activity = Instant::now();
        if let Err(e) = &result {
            state.failed = Some(e.to_string());
            state.open = None;
        }
        result
    }

    /// Heartbeats sent down idle pipelines so far.
    pub fn heartbeats(&self) -> u64 {
        self.shared
            .heartbeats
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The file was renamed to `src` while open: later calls name it there.
    pub async fn moved_to(&self, src: &str) {
        self.shared.state.lock().await.src = src.to_string();
    }

    /// Ends the last block and closes the file, with every byte written.
    pub async fn close(self) -> Result<()> {
        self.keepalive.abort();
        let mut state = self.shared.state.lock().await;
        if let Some(why) = &state.failed {
            return Err(failed_before(why));
        }
        self.shared.end_block(&mut state).await?;
        let deadline = Instant::now() + COMPLETE_WITHIN;
        let mut pause = Duration::from_millis(50);
        let sh = &self.shared;
        while !sh
            .nn
            .complete(&state.src, &sh.client_name, sh.file_id, state.last.clone())
            .await?
        {
            if Instant::now() + pause > deadline {
                return Err(Error::Protocol {
                    addr: state.src.clone(),
                    detail: format!(
                        "the NameNode did not complete the file within {} s (its last block's replicas never reported)",
                        COMPLETE_WITHIN.as_secs()
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
        Ok(())
    }
}

impl Drop for HflushWriter {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}

fn failed_before(why: &str) -> Error {
    Error::Protocol {
        addr: "the HDFS pipeline".into(),
        detail: format!("the writer failed earlier and takes no more writes: {why}"),
    }
}

impl Shared {
    async fn write(&self, state: &mut State, data: &[u8]) -> Result<()> {
        let mut pending = std::mem::take(&mut state.partial);
        pending.extend_from_slice(data);
        let mut sent = 0;
        while sent < pending.len() {
            if state
                .open
                .as_ref()
                .is_some_and(|b| b.written == self.block_size)
            {
                self.end_block(state).await?;
            }
            if state.open.is_none() {
                self.open_block(state).await?;
            }
            let block = state.open.as_mut().expect("opened above");
            // Packets start on chunk boundaries: a partial chunk left by the last flush
            // is sent again whole (`pending` starts with it), from its first byte.
            let start = block.written - block.written % BYTES_PER_CHECKSUM as u64;
            let room = (self.block_size - start) as usize;
            let n = (pending.len() - sent).min(MAX_PACKET_DATA).min(room);
            block
                .pipeline
                .write(start, &pending[sent..sent + n], false)
                .await?;
            block.written = start + n as u64;
            sent += n;
            let tail = (block.written % BYTES_PER_CHECKSUM as u64) as usize;
            if sent == pending.len() {
                state.partial = pending[sent - tail..].to_vec();
            }
        }
        if let Some(block) = state.open.as_mut() {
            block.pipeline.flush().await?;
            set_length(&mut state.last, block.written);
        }
        Ok(())
    }

    async fn open_block(&self, state: &mut State) -> Result<()> {
        let located = self
            .nn
            .add_block(
                &state.src,
                &self.client_name,
                self.file_id,
                state.last.clone(),
            )
            .await?;
        let pipeline = Pipeline::create(&located, &self.client_name).await?;
        state.last = located.b.clone().map(|b| pb::ExtendedBlockProto {
            num_bytes: Some(0),
            ..b
        });
        state.partial.clear();
        state.open = Some(OpenBlock {
            pipeline,
            written: 0,
        });
        Ok(())
    }

    /// Sends the block's last (empty) packet and waits for it: the DataNodes finalize
    /// the replica at its length.
    async fn end_block(&self, state: &mut State) -> Result<()> {
        if let Some(mut block) = state.open.take() {
            block.pipeline.write(block.written, &[], true).await?;
            block.pipeline.flush().await?;
            set_length(&mut state.last, block.written);
            state.partial.clear();
        }
        Ok(())
    }
}

fn set_length(last: &mut Option<pb::ExtendedBlockProto>, len: u64) {
    if let Some(b) = last.as_mut() {
        b.num_bytes = Some(len);
    }
}

/// Renews the lease and sends a heartbeat down an idle pipeline, until the writer is
/// gone. A failed heartbeat fails the writer, so the next write says why.
async fn keep_alive(shared: std::sync::Weak<Shared>) {
    let every = match shared.upgrade() {
        Some(shared) => shared.keepalive,
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = shared.nn.renew_lease(&shared.client_name).await {
            tracing::warn!(error = %e, "cannot renew the lease of an open HDFS file");
        }
        // A writer busy writing needs no heartbeat.
        let Ok(mut state) = shared.state.try_lock() else {
            continue;
        };
        if state.last_activity.elapsed() < every / 2 {
            continue;
        }
        if let Some(block) = state.open.as_mut() {
            match block.pipeline.heartbeat().await {
                Ok(()) => {
                    shared
                        .heartbeats
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => {
                    state.failed = Some(format!("heartbeat: {e}"));
                    state.open = None;
                }
            }
        }
        state.last_activity = Instant::now();
    }
}
