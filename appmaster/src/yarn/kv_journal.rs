//! The key-value store's journal on HDFS, in the application's staging directory, where
//! every attempt of the application master finds it.
//!
//! The file stays open for appending; a batch is durable once `hsync` returns (every
//! DataNode of the pipeline has it on disk, and the NameNode knows the new length, so a
//! reader, such as the next attempt, sees it). The group commit in [`KvService`]
//! amortizes that over every change that arrives meanwhile. On open the journal is
//! replayed and rewritten as one snapshot (written aside, then renamed over it), so replay
//! time follows the store's size, not its history, and a dead attempt's hold on the old
//! file does not matter.
//!
//! [`KvService`]: crate::kv::service::KvService

use crate::kv::journal::{replay, snapshot_of};
use crate::kv::service::JournalSink;
use crate::kv::store::Store;
use bytes::Bytes;
use futures::future::BoxFuture;
use hdfs_native_sync::file::FileWriter;
use hdfs_native_sync::{Client, ClientBuilder, HdfsError, WriteOptions};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

pub struct HdfsJournal {
    client: Client,
    path: String,
    /// Open for appending since the last batch; reopened after a compaction or an error.
    writer: Option<FileWriter>,
}

impl HdfsJournal {
    /// The store the journal at `path` holds (empty if there is none yet), and the
    /// journal, compacted, to go on with.
    pub async fn open(
        default_fs: &str,
        conf_dir: &Path,
        path: &str,
        history_limit: usize,
    ) -> Result<(Store, HdfsJournal), String> {
        let client = client(default_fs, conf_dir)?;
        recover(&client, path).await?;
        let store = match client.read(path).await {
            Ok(reader) => {
                let bytes = reader
                    .read_range(0, reader.file_length())
                    .await
                    .map_err(|e| format!("reading {path}: {e}"))?;
                let replayed = replay(&bytes, history_limit).map_err(|e| format!("{path}: {e}"))?;
                tracing::info!(
                    path,
                    records = replayed.records,
                    revision = replayed.store.revision(),
                    keys = replayed.store.len(),
                    "replayed the key-value journal"
                );
                replayed.store
            }
            Err(e) if not_found(&e) => Store::new(history_limit),
            Err(e) => return Err(format!("reading {path}: {e}")),
        };
        let mut journal = HdfsJournal {
            client,
            path: path.to_string(),
            writer: None,
        };
        journal.replace(snapshot_of(&store)).await?;
        Ok((store, journal))
    }
}

impl JournalSink for HdfsJournal {
    fn append(&mut self, records: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let path = &self.path;
            let mut w = match self.writer.take() {
                Some(w) => w,
                None => self
                    .client
                    .append(path)
                    .await
                    .map_err(|e| format!("cannot append to {path}: {e}"))?,
            };
            // On an error the writer is dropped: the next batch reopens the file.
            w.write_bytes(Bytes::from(records))
                .await
                .map_err(|e| format!("writing {path}: {e}"))?;
            w.hsync()
                .await
                .map_err(|e| format!("syncing {path}: {e}"))?;
            self.writer = Some(w);
            Ok(())
        })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.writer.take() {
                Some(mut w) => w
                    .close()
                    .await
                    .map_err(|e| format!("closing {}: {e}", self.path)),
                None => Ok(()),
            }
        })
    }

    /// Writes the snapshot aside, then renames it over the journal.
    fn replace(&mut self, snapshot: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if let Some(mut w) = self.writer.take() {
                // Done with the old file: let go of it before it is replaced.
                let _ = w.close().await;
            }
            let path = &self.path;
            let aside = format!("{path}.compacting");
            write_new(&self.client, &aside, snapshot).await?;
            self.client
                .rename(&aside, path, true)
                .await
                .map_err(|e| format!("cannot rename {aside} to {path}: {e}"))
        })
    }
}

fn client(default_fs: &str, conf_dir: &Path) -> Result<Client, String> {
    ClientBuilder::new()
        .with_url(default_fs)
        .with_config_dir(conf_dir.display().to_string())
        .build()
        .map_err(|e| format!("cannot set up an HDFS client for {default_fs}: {e}"))
}

/// How long a previous writer's lease may take to recover (the NameNode asks a DataNode
/// on its next heartbeat, seconds apart).
const RECOVERY_WITHIN: Duration = Duration::from_secs(120);

/// Closes the journal if a previous attempt left it open (it died writing, or exited
/// without closing): readers see only what a closed file holds, and the NameNode fixes
/// its length at what every DataNode has, which includes every synced batch. This
/// fences that writer, which is why only a new attempt, or a reader after the
/// application, may do it.
pub async fn recover_journal(default_fs: &str, conf_dir: &Path, path: &str) -> Result<(), String> {
    recover(&client(default_fs, conf_dir)?, path).await
}

async fn recover(client: &Client, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + RECOVERY_WITHIN;
    let mut pause = Duration::from_millis(100);
    loop {
        match client.recover_lease(path).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(format!("cannot recover the lease on {path}: {e}")),
        }
        if Instant::now() + pause > deadline {
            return Err(format!(
                "the lease on {path} was not recovered within {} s",
                RECOVERY_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// hdfs-native reports a missing file either way, depending on the call.
fn not_found(e: &HdfsError) -> bool {
    match e {
        HdfsError::FileNotFound(_) => true,
        HdfsError::RPCError(class, _) => class.ends_with("FileNotFoundException"),
        _ => false,
    }
}

async fn write_new(client: &Client, path: &str, data: Vec<u8>) -> Result<(), String> {
    let opts = WriteOptions::default().overwrite(true).permission(0o600);
    let mut w = client
        .create(path, opts)
        .await
        .map_err(|e| format!("cannot create {path}: {e}"))?;
    w.write_bytes(Bytes::from(data))
        .await
        .map_err(|e| format!("writing {path}: {e}"))?;
    w.close().await.map_err(|e| format!("closing {path}: {e}"))
}
