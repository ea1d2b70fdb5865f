//! A finished application's container logs, as the NodeManagers aggregated them into the
//! remote log directory: one TFile per node, read by byte ranges (block by block) so a
//! large file is never held whole.

use hdfs_native::Client;
use spindle_hadoop::config::Configuration;
use spindle_hadoop::logs::aggregated::{containers, ContainerLogs};
use spindle_hadoop::logs::remote_app_dirs;
use spindle_hadoop::logs::tfile::{self, TFileError, TRAILER_LEN};

/// Suffix of a node's file while its NodeManager still writes it.
const UPLOADING: &str = ".tmp";

/// The logs one node uploaded.
pub struct NodeLogs {
    /// The file's name: the node id with `:` as `_`.
    pub node: String,
    pub containers: Vec<ContainerLogs>,
}

/// The directory holding `app`'s aggregated logs, if any candidate exists.
pub async fn find_app_dir(
    client: &Client,
    conf: &Configuration,
    owner: &str,
    app: &str,
    app_sequence: i32,
) -> Result<Option<String>, String> {
    let candidates = remote_app_dirs(conf, owner, app, app_sequence);
    for dir in &candidates {
        let path = path_on(dir);
        match client.get_file_info(&path).await {
            Ok(status) if status.isdir => return Ok(Some(path)),
            Ok(_) | Err(hdfs_native::HdfsError::FileNotFound(_)) => {}
            Err(e) => return Err(format!("{dir}: {e}")),
        }
    }
    Ok(None)
}

/// Every complete node file in `dir`, read.
pub async fn read_app_dir(client: &Client, dir: &str) -> Result<Vec<NodeLogs>, String> {
    let mut files = client
        .list_status(dir, false)
        .await
        .map_err(|e| format!("{dir}: {e}"))?;
    files.retain(|f| !f.isdir && !f.path.ends_with(UPLOADING));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut nodes = Vec::with_capacity(files.len());
    for f in files {
        let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
        let path = format!("{dir}/{name}");
        let containers = read_node_file(client, &path)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        nodes.push(NodeLogs {
            node: name,
            containers,
        });
    }
    Ok(nodes)
}

/// The containers in one node's TFile.
async fn read_node_file(client: &Client, path: &str) -> Result<Vec<ContainerLogs>, String> {
    let reader = client.read(path).await.map_err(|e| e.to_string())?;
    let len = reader.file_length() as u64;
    if len < TRAILER_LEN {
        return Err(TFileError::NotTFile.to_string());
    }
    let read = |range: std::ops::Range<u64>| {
        let reader = &reader;
        async move {
            reader
                .read_range(range.start as usize, (range.end - range.start) as usize)
                .await
                .map_err(|e| format!("bytes {range:?}: {e}"))
        }
    };
    let tail = read(len - TRAILER_LEN..len).await?;
    let meta_at = tfile::parse_trailer(&tail).map_err(|e| e.to_string())?;
    if meta_at > len - TRAILER_LEN {
        return Err("corrupt trailer".into());
    }
    let metas = tfile::parse_meta_index(&read(meta_at..len - TRAILER_LEN).await?)
        .map_err(|e| e.to_string())?;
    let index = metas
        .get("BCFile.index")
        .ok_or(TFileError::MissingMeta("BCFile.index").to_string())?;
    let stored = read(checked(index.region.range(), len)?).await?;
    let raw = tfile::decompress(index.compression, &stored, index.region.raw_len)
        .map_err(|e| e.to_string())?;
    let data = tfile::parse_data_index(&raw).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for block in data.blocks {
        let stored = read(checked(block.range(), len)?).await?;
        let raw = tfile::decompress(data.compression, &stored, block.raw_len)
            .map_err(|e| e.to_string())?;
        let entries =
            tfile::parse_block(&raw).map_err(|e| format!("block at byte {}: {e}", block.offset))?;
        out.extend(containers(entries)?);
    }
    Ok(out)
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
