//! The key-value store's journal on HDFS, in the application's staging directory, where
//! every attempt of the application master finds it.
//!
//! The file stays open for appending; a batch is durable once every DataNode of the
//! block's pipeline holds it: `hflush`, through spindle's own pipeline writer
//! ([`HflushWriter`]), which survives the master's death (the DataNodes keep it; the
//! next attempt recovers the lease and reads it). Where the cluster protects its data
//! transfer port (SASL or encryption, on Kerberos clusters), which that writer does not
//! speak, hdfs-native's `hsync` (on disk, and a NameNode call per batch) does it, slower.
//! The group commit in [`KvService`] amortizes either over every change that arrives
//! meanwhile. On open the journal is
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
use spindle_hadoop::config::Configuration;
use spindle_hadoop::hdfs::write::{CreateOptions, HflushWriter, KEEPALIVE};
use spindle_hadoop::hdfs::NameNodeClient;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

pub struct HdfsJournal {
    client: Client,
    path: String,
    flush: Flush,
    /// Open for appending since the last batch (or compaction).
    writer: Option<Writer>,
}

/// How the journal makes a batch durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flush {
    /// `hflush` through spindle's pipeline writer, to the NameNode at `namenode`
    /// (`host:port`) as `user`, with `replication` copies.
    Pipeline {
        namenode: String,
        user: String,
        replication: u16,
    },
    /// hdfs-native's `hsync`, where the data transfer port is protected.
    Hsync,
}

const WRITER_FAILED: &str =
    "the journal's writer failed before; the next attempt of the master recovers the journal";

/// The journal's blocks (it is compacted long before it fills one).
const JOURNAL_BLOCK_SIZE: u64 = 128 << 20;

impl Flush {
    /// What the cluster that `conf` describes allows, for `user`: the pipeline writer
    /// where the NameNode has one `host:port` address and the data transfer port speaks
    /// plain TCP (no Kerberos, no `dfs.data.transfer.protection`, no
    /// `dfs.encrypt.data.transfer`).
    pub fn for_cluster(conf: &Configuration, user: &str) -> Flush {
        let namenode = conf
            .get("fs.defaultFS")
            .and_then(|fs| fs.strip_prefix("hdfs://").map(str::to_string))
            .map(|rest| rest.split('/').next().unwrap_or_default().to_string())
            .filter(|authority| authority.contains(':'));
        let protected = conf.is_kerberos()
            || conf
                .get("dfs.data.transfer.protection")
                .is_some_and(|p| !p.trim().is_empty())
            || conf
                .get("dfs.encrypt.data.transfer")
                .is_some_and(|e| e.trim() == "true");
        match namenode {
            Some(namenode) if !protected => Flush::Pipeline {
                namenode,
                user: user.to_string(),
                replication: conf
                    .get_i64("dfs.replication")
                    .ok()
                    .flatten()
                    .and_then(|r| u16::try_from(r).ok())
                    .filter(|r| *r > 0)
                    .unwrap_or(3),
            },
            _ => Flush::Hsync,
        }
    }
}

enum Writer {
    /// Boxed: hdfs-native's writer is kilobytes.
    Hsync(Box<FileWriter>),
    Pipeline(HflushWriter),
}

impl HdfsJournal {
    /// The store the journal at `path` holds (empty if there is none yet), and the
    /// journal, compacted, to go on with.
    pub async fn open(
        default_fs: &str,
        conf_dir: &Path,
        path: &str,
        flush: Flush,
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
        tracing::info!(
            path,
            ?flush,
            "the key-value journal's batches are made durable so"
        );
        let mut journal = HdfsJournal {
            client,
            path: path.to_string(),
            flush,
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
            // On an error the writer is dropped: the service takes no more writes then.
            match self.writer.take() {
                Some(Writer::Pipeline(w)) => {
                    w.write_flushed(&records)
                        .await
                        .map_err(|e| format!("writing {path}: {e}"))?;
                    self.writer = Some(Writer::Pipeline(w));
                }
                Some(Writer::Hsync(w)) => {
                    self.writer = Some(Writer::Hsync(hsync(*w, records, path).await?));
                }
                None if self.flush == Flush::Hsync => {
                    let w = self
                        .client
                        .append(path)
                        .await
                        .map_err(|e| format!("cannot append to {path}: {e}"))?;
                    self.writer = Some(Writer::Hsync(hsync(w, records, path).await?));
                }
                None => return Err(format!("{path}: {WRITER_FAILED}")),
            }
            Ok(())
        })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let closed = match self.writer.take() {
                Some(Writer::Hsync(mut w)) => w.close().await.map_err(|e| e.to_string()),
                Some(Writer::Pipeline(w)) => w.close().await.map_err(|e| e.to_string()),
                None => Ok(()),
            };
            closed.map_err(|e| format!("closing {}: {e}", self.path))
        })
    }

    /// Writes the snapshot aside, then renames it over the journal.
    fn replace(&mut self, snapshot: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            // Done with the old file: let go of it before it is replaced.
            let _ = self.close().await;
            let path = &self.path;
            let aside = format!("{path}.compacting");
            let writer = match &self.flush {
                Flush::Hsync => {
                    write_new(&self.client, &aside, snapshot).await?;
                    None
                }
                Flush::Pipeline {
                    namenode,
                    user,
                    replication,
                } => {
                    // A dead attempt may have left the aside file open: it is ours.
                    let _ = self.client.delete(&aside, false).await;
                    let nn = NameNodeClient::connect(namenode, user)
                        .await
                        .map_err(|e| format!("cannot reach the NameNode at {namenode}: {e}"))?;
                    let options = CreateOptions {
                        overwrite: true,
                        permission: 0o600,
                        replication: *replication,
                        block_size: JOURNAL_BLOCK_SIZE,
                        keepalive: KEEPALIVE,
                    };
                    let w = HflushWriter::create(nn, &client_name(), &aside, options)
                        .await
                        .map_err(|e| format!("cannot create {aside}: {e}"))?;
                    w.write_flushed(&snapshot)
                        .await
                        .map_err(|e| format!("writing {aside}: {e}"))?;
                    Some(w)
                }
            };
            // The writer goes on appending after the rename: the NameNode knows the file
            // by its inode.
            self.client
                .rename(&aside, path, true)
                .await
                .map_err(|e| format!("cannot rename {aside} to {path}: {e}"))?;
            if let Some(w) = writer {
                w.moved_to(path).await;
                self.writer = Some(Writer::Pipeline(w));
            }
            Ok(())
        })
    }
}

async fn hsync(mut w: FileWriter, records: Vec<u8>, path: &str) -> Result<Box<FileWriter>, String> {
    w.write_bytes(Bytes::from(records))
        .await
        .map_err(|e| format!("writing {path}: {e}"))?;
    w.hsync()
        .await
        .map_err(|e| format!("syncing {path}: {e}"))?;
    Ok(Box::new(w))
}

/// The lease holder's name: unique per writer, so a new attempt's writer never passes
/// for a dead one's.
fn client_name() -> String {
    format!("spindle_kv_{:016x}", rand::random::<u64>())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> Configuration {
        let mut c = Configuration::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        c
    }

    #[test]
    fn the_pipeline_writer_is_used_only_where_the_transfer_port_is_plain() {
        let plain = [("fs.defaultFS", "hdfs://nn.example:8020/")];
        assert_eq!(
            Flush::for_cluster(&conf(&plain), "ann"),
            Flush::Pipeline {
                namenode: "nn.example:8020".into(),
                user: "ann".into(),
                replication: 3
            }
        );
        let one_copy = [plain[0], ("dfs.replication", "1")];
        assert!(matches!(
            Flush::for_cluster(&conf(&one_copy), "ann"),
            Flush::Pipeline { replication: 1, .. }
        ));
        for protected in [
            ("hadoop.security.authentication", "kerberos"),
            ("dfs.data.transfer.protection", "authentication"),
            ("dfs.encrypt.data.transfer", "true"),
        ] {
            let c = conf(&[plain[0], protected]);
            assert_eq!(Flush::for_cluster(&c, "ann"), Flush::Hsync, "{protected:?}");
        }
        // An HA nameservice (no port) and a default filesystem that is not HDFS.
        for fs in ["hdfs://ns1", "file:///"] {
            let c = conf(&[("fs.defaultFS", fs)]);
            assert_eq!(Flush::for_cluster(&c, "ann"), Flush::Hsync, "{fs}");
        }
    }
}
