//! Input splits: byte ranges for line-based formats, runs of row groups for parquet, each
//! with the hosts that hold it (the hook for data locality).

use crate::blocks::{hdfs_blocks, hosts_at};
use crate::error::IoError;
use crate::read::parquet_metadata;
use crate::storage::{FileInfo, Location};
use spindle_job::wire::Split;
use spindle_job::InputFormat;

/// Cuts files into splits of about `split_size` bytes. Empty files have no records and
/// produce no splits. `local_host` is the host of `file://` inputs.
/// More scan tasks than this is a mistaken `split_size`, not a job.
pub const MAX_SPLITS: u64 = 1_000_000;

pub async fn plan_splits(
    files: &[FileInfo],
    format: InputFormat,
    split_size: u64,
    local_host: &str,
) -> Result<Vec<Split>, IoError> {
    let split_size = split_size.max(1);
    let most: u64 = files.iter().map(|f| f.size.div_ceil(split_size)).sum();
    if most > MAX_SPLITS {
        return Err(IoError::Unsupported(format!(
            "key `input.split_size`: {split_size} B would cut the input's {} B into up to {most} splits; \
             the limit is {MAX_SPLITS}: raise split_size",
            files.iter().map(|f| f.size).sum::<u64>()
        )));
    }
    let mut splits = vec![];
    let blocks = hdfs_blocks(files).await;
    for file in files {
        let file_blocks = blocks.get(&file.url);
        // HDFS splits go where the block holding their first byte is; local files are
        // on this host; object stores are equally far from everyone.
        let hosts_at = |offset: u64| match file_blocks {
            Some(b) => hosts_at(b, offset),
            None if file.url.starts_with("file://") => vec![local_host.to_string()],
            None => vec![],
        };
        if file.size == 0 {
            continue;
        }
        if format == InputFormat::Parquet {
            let loc = Location::parse(&file.url)?;
            let meta = parquet_metadata(&loc, file.size).await?;
            let mut first = 0;
            let mut bytes = 0u64;
            let groups = meta.row_groups();
            for (i, rg) in groups.iter().enumerate() {
                bytes += rg.compressed_size().max(0) as u64;
                if bytes >= split_size || i + 1 == groups.len() {
                    let at = groups[first].file_offset().unwrap_or(0).max(0) as u64;
                    splits.push(Split {
                        url: file.url.clone(),
                        start: 0,
                        end: file.size,
                        file_size: file.size,
                        row_groups: Some((first, i + 1)),
                        hosts: hosts_at(at),
                    });
                    first = i + 1;
                    bytes = 0;
                }
            }
            continue;
        }
        let mut start = 0;
        while start < file.size {
            let end = (start + split_size).min(file.size);
            splits.push(Split {
                url: file.url.clone(),
                start,
                end,
                file_size: file.size,
                row_groups: None,
                hosts: hosts_at(start),
            });
            start = end;
        }
    }
    Ok(splits)
}

/// This machine's host name, as local workers report it.
pub fn local_host() -> String {
    std::env::var("SPINDLE_HOST")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
