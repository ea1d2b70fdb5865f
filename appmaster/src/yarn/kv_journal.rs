//! The key-value store's journal on HDFS, in the application's staging directory, where
//! every attempt of the application master finds it.
//!
//! hdfs-native has no hflush, so a batch is durable when the file is closed: each batch
//! is one append-and-close, and the group commit in [`KvService`] amortizes that over
//! every change that arrives meanwhile. On open the journal is replayed and rewritten as
//! one snapshot (written aside, then renamed over it), so replay time follows the
//! store's size, not its history.
//!
//! [`KvService`]: crate::kv::service::KvService

use crate::kv::journal::{replay, snapshot_of};
use crate::kv::service::JournalSink;
use crate::kv::store::Store;
use bytes::Bytes;
use futures::future::BoxFuture;
use hdfs_native::{Client, HdfsError, WriteOptions};

pub struct HdfsJournal {
    client: Client,
    path: String,
}

impl HdfsJournal {
    /// The store the journal at `path` holds (empty if there is none yet), and the
    /// journal, compacted, to go on with.
    pub async fn open(
        client: Client,
        path: &str,
        history_limit: usize,
    ) -> Result<(Store, HdfsJournal), String> {
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
        };
        journal.replace(snapshot_of(&store)).await?;
        Ok((store, journal))
    }
}

impl JournalSink for HdfsJournal {
    fn append(&mut self, records: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let path = &self.path;
            let mut w = self
                .client
                .append(path)
                .await
                .map_err(|e| format!("cannot append to {path}: {e}"))?;
            w.write(Bytes::from(records))
                .await
                .map_err(|e| format!("writing {path}: {e}"))?;
            w.close().await.map_err(|e| format!("closing {path}: {e}"))
        })
    }

    /// Writes the snapshot aside, then renames it over the journal.
    fn replace(&mut self, snapshot: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
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
    w.write(Bytes::from(data))
        .await
        .map_err(|e| format!("writing {path}: {e}"))?;
    w.close().await.map_err(|e| format!("closing {path}: {e}"))
}
