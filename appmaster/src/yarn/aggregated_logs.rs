//! A finished application's container logs, as the NodeManagers aggregated them into the
//! remote log directory: one file per node (TFile or indexed), read by byte ranges so a
//! large file is never fetched whole at once. Each call to HDFS has a deadline, so a
//! NameNode or DataNode that stops answering ends `spindle logs` with an error.

use super::hdfs_error::one_line;
use hdfs_native_sync::file::FileReader;
use hdfs_native_sync::{Client, HdfsError};
use spindle_hadoop::config::Configuration;
use spindle_hadoop::logs::aggregated::{containers, ContainerLogs, LogFile};
use spindle_hadoop::logs::indexed::{self, parse_checksum, CHECKSUM_SUFFIX};
use spindle_hadoop::logs::tfile::{self, TFileError, TRAILER_LEN};
use spindle_hadoop::logs::{remote_app_dirs, LogFormat};
use spindle_io::bounded_store::hdfs_within;
use std::collections::HashMap;

/// Suffix of a node's file while its NodeManager still writes it.
const UPLOADING: &str = ".tmp";

/// The logs one node uploaded.
pub struct NodeLogs {
    /// The file's name: the node id with `:` as `_`.
    pub node: String,
    pub containers: Vec<ContainerLogs>,
}

/// The directories holding `app`'s aggregated logs, with their format (a cluster that
/// changed formats may have both).
pub async fn find_app_dirs(
    client: &Client,
    conf: &Configuration,
    owner: &str,
    app: &str,
    app_sequence: i32,
) -> Result<Vec<(LogFormat, String)>, String> {
    let mut found = Vec::new();
    for (format, dir) in remote_app_dirs(conf, owner, app, app_sequence) {
        let path = path_on(&dir);
        match hdfs_within(&path, client.get_file_info(&path)).await {
            Ok(status) if status.isdir => found.push((format, path)),
            Ok(_) | Err(HdfsError::FileNotFound(_)) => {}
            Err(e) => return Err(failed(&dir, e)),
        }
    }
    Ok(found)
}

/// What went wrong at `path`, in one line.
fn failed(path: &str, e: HdfsError) -> String {
    format!("{path}: {}", one_line(e))
}

/// Every complete node file in `dir`, read.
pub async fn read_app_dir(
    client: &Client,
    format: LogFormat,
    dir: &str,
) -> Result<Vec<NodeLogs>, String> {
    let listed = hdfs_within(dir, client.list_status(dir, false))
        .await
        .map_err(|e| failed(dir, e))?;
    let mut names: Vec<String> = listed
        .iter()
        .filter(|f| !f.isdir)
        .map(|f| f.path.rsplit('/').next().unwrap_or(&f.path).to_string())
        .filter(|n| !n.starts_with('.') && !n.ends_with(UPLOADING))
        .collect();
    names.sort();
    // An upload under way: the file it appends to counts up to its length before.
    let mut valid_len = HashMap::new();
    for name in names.iter().filter(|n| n.ends_with(CHECKSUM_SUFFIX)) {
        let bytes = read_whole(client, &format!("{dir}/{name}")).await?;
        let (file, len) = parse_checksum(&bytes).map_err(|e| format!("{dir}/{name}: {e}"))?;
        valid_len.insert(file, len);
    }
    let mut nodes = Vec::new();
    for name in names.iter().filter(|n| !n.ends_with(CHECKSUM_SUFFIX)) {
        let path = format!("{dir}/{name}");
        let containers = match format {
            LogFormat::TFile => read_node_file(client, &path).await,
            LogFormat::IFile => read_indexed_file(client, &path, valid_len.get(name)).await,
        }
        .map_err(|e| format!("{path}: {e}"))?;
        nodes.push(NodeLogs {
            node: name.clone(),
            containers,
        });
    }
    Ok(nodes)
}

async fn read_whole(client: &Client, path: &str) -> Result<Vec<u8>, String> {
    let reader = open(client, path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let bytes = hdfs_within(path, reader.read_range(0, reader.file_length()))
        .await
        .map_err(|e| failed(path, e))?;
    Ok(bytes.to_vec())
}

/// The containers in one node's indexed file, read up to `valid_len` when an upload is
/// still appending to it.
async fn read_indexed_file(
    client: &Client,
    path: &str,
    valid_len: Option<&u64>,
) -> Result<Vec<ContainerLogs>, String> {
    let reader = open(client, path).await?;
    let end = valid_len.copied().unwrap_or(reader.file_length() as u64);
    if end == 0 {
        return Ok(Vec::new());
    }
    if end < indexed::TRAILER_LEN {
        return Err("not an indexed log file (too short)".into());
    }
    let tail = read_at(&reader, end - indexed::TRAILER_LEN..end).await?;
    let index_len = indexed::parse_trailer(&tail)?;
    let index_end = end - indexed::TRAILER_LEN;
    let index_start = index_end
        .checked_sub(index_len)
        .ok_or("the index is longer than the file")?;
    let index = indexed::parse_index(&read_at(&reader, index_start..index_end).await?)?;
    let mut out: Vec<ContainerLogs> = Vec::new();
    for f in index.files {
        let stored = read_at(&reader, checked(f.start..f.start + f.stored_len, end)?).await?;
        let bytes =
            tfile::decompress(index.compression, &stored, f.size).map_err(|e| e.to_string())?;
        let file = LogFile {
            truncated: (bytes.len() as u64) < f.size,
            name: f.name,
            bytes,
        };
        match out.iter_mut().find(|c| c.container == f.container) {
            Some(c) => c.files.push(file),
            None => out.push(ContainerLogs {
                container: f.container,
                files: vec![file],
            }),
        }
    }
    Ok(out)
}

/// The containers in one node's TFile.
async fn read_node_file(client: &Client, path: &str) -> Result<Vec<ContainerLogs>, String> {
    let reader = open(client, path).await?;
    let len = reader.file_length() as u64;
    if len < TRAILER_LEN {
        return Err(TFileError::NotTFile.to_string());
    }
    let tail = read_at(&reader, len - TRAILER_LEN..len).await?;
    let meta_at = tfile::parse_trailer(&tail).map_err(|e| e.to_string())?;
    if meta_at > len - TRAILER_LEN {
        return Err("corrupt trailer".into());
    }
    let metas = tfile::parse_meta_index(&read_at(&reader, meta_at..len - TRAILER_LEN).await?)
        .map_err(|e| e.to_string())?;
    let index = metas
        .get("BCFile.index")
        .ok_or(TFileError::MissingMeta("BCFile.index").to_string())?;
    let stored = read_at(&reader, checked(index.region.range(), len)?).await?;
    let raw = tfile::decompress(index.compression, &stored, index.region.raw_len)
        .map_err(|e| e.to_string())?;
    let data = tfile::parse_data_index(&raw).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for block in data.blocks {
        let stored = read_at(&reader, checked(block.range(), len)?).await?;
        let raw = tfile::decompress(data.compression, &stored, block.raw_len)
            .map_err(|e| e.to_string())?;
        let entries =
            tfile::parse_block(&raw).map_err(|e| format!("block at byte {}: {e}", block.offset))?;
        out.extend(containers(entries)?);
    }
    Ok(out)
}

/// `path`, opened for reading (the error does not repeat the path).
async fn open(client: &Client, path: &str) -> Result<FileReader, String> {
    hdfs_within(path, client.read(path)).await.map_err(one_line)
}

async fn read_at(reader: &FileReader, range: std::ops::Range<u64>) -> Result<bytes::Bytes, String> {
    let len = (range.end - range.start) as usize;
    let what = format!("bytes {range:?}");
    hdfs_within(&what, reader.read_range(range.start as usize, len))
        .await
        .map_err(|e| format!("{what}: {e}"))
}

fn checked(range: std::ops::Range<u64>, len: u64) -> Result<std::ops::Range<u64>, String> {
    if range.end > len || range.start > range.end {
        return Err(format!(
            "block {range:?} lies beyond the file's {len} bytes"
        ));
    }
    Ok(range)
}

/// The path part of `hdfs://authority/path`, or the path itself.
fn path_on(dir: &str) -> String {
    match dir.split_once("://") {
        Some((_, rest)) => format!("/{}", rest.split_once('/').map_or("", |(_, p)| p)),
        None => dir.to_string(),
    }
}
