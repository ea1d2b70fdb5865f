//! Input splits: byte ranges for line-based formats, runs of row groups for parquet, each
//! with the hosts that hold it (the hook for data locality).

use crate::blocks::{hdfs_blocks, hosts_at};
use crate::error::IoError;
use crate::read::parquet_metadata;
use crate::storage::{FileInfo, Location};
use spindle_hadoop::hdfs::BlockLocation;
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
    // A parquet file with a schema and no rows: scanned only when no file has rows, so
    // that the stages still see the input's columns (a header, an empty file's schema).
    let mut empty_parquet = None;
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
            // Row groups [first, end) of the file, whose bytes start at `at`.
            let row_groups = |first: usize, end: usize, at: u64| Split {
                url: file.url.clone(),
                start: 0,
                end: file.size,
                file_size: file.size,
                row_groups: Some((first, end)),
                hosts: hosts_at(at),
                more: Vec::new(),
            };
            if groups.is_empty() {
                empty_parquet.get_or_insert_with(|| row_groups(0, 0, 0));
            }
            for (i, rg) in groups.iter().enumerate() {
                bytes += rg.compressed_size().max(0) as u64;
                if bytes >= split_size || i + 1 == groups.len() {
                    let at = groups[first].file_offset().unwrap_or(0).max(0) as u64;
                    splits.push(row_groups(first, i + 1, at));
                    first = i + 1;
                    bytes = 0;
                }
            }
            continue;
        }
        match file_blocks {
            Some(blocks) if !blocks.is_empty() => {
                splits.extend(cut_along_blocks(file, blocks, split_size));
            }
            _ => {
                for (start, end) in even_pieces(0, file.size, split_size) {
                    splits.push(Split {
                        url: file.url.clone(),
                        start,
                        end,
                        file_size: file.size,
                        row_groups: None,
                        hosts: hosts_at(start),
                        more: Vec::new(),
                    });
                }
            }
        }
    }
    if splits.is_empty() {
        splits.extend(empty_parquet);
    }
    Ok(combine_small_files(splits, split_size))
}

/// Byte-range splits of an HDFS file that follow its blocks: a split never crosses into
/// a block that no host of the split's holds, so every byte of a split is on each of its
/// hosts. Consecutive blocks sharing a host are joined up to `split_size`; a block larger
/// than `split_size` is cut into even pieces.
pub fn cut_along_blocks(file: &FileInfo, blocks: &[BlockLocation], split_size: u64) -> Vec<Split> {
    let split = |start: u64, end: u64, hosts: Vec<String>| Split {
        url: file.url.clone(),
        start,
        end,
        file_size: file.size,
        row_groups: None,
        hosts,
        more: Vec::new(),
    };
    let mut blocks: Vec<&BlockLocation> = blocks
        .iter()
        .filter(|b| b.length > 0 && b.offset < file.size)
        .collect();
    blocks.sort_by_key(|b| b.offset);
    let mut out: Vec<Split> = Vec::new();
    // The split being joined: its range and the hosts holding all of it.
    let mut open: Option<(u64, u64, Vec<String>)> = None;
    let mut covered = 0;
    for b in blocks {
        let (start, end) = (b.offset.max(covered), (b.offset + b.length).min(file.size));
        if start >= end {
            continue;
        }
        covered = end;
        if end - start > split_size {
            if let Some((s, e, h)) = open.take() {
                out.push(split(s, e, h));
            }
            for (at, to) in even_pieces(start, end, split_size) {
                out.push(split(at, to, b.hosts.clone()));
            }
            continue;
        }
        open = match open.take() {
            Some((s, e, hosts)) if e == start && end - s <= split_size => {
                let shared: Vec<String> = hosts
                    .iter()
                    .filter(|h| b.hosts.contains(h))
                    .cloned()
                    .collect();
                if shared.is_empty() {
                    out.push(split(s, e, hosts));
                    Some((start, end, b.hosts.clone()))
                } else {
                    Some((s, end, shared))
                }
            }
            Some((s, e, hosts)) => {
                out.push(split(s, e, hosts));
                Some((start, end, b.hosts.clone()))
            }
            None => Some((start, end, b.hosts.clone())),
        };
    }
    if let Some((s, e, h)) = open {
        out.push(split(s, e, h));
    }
    // Bytes past the last block the NameNode named (a file still growing): no hosts.
    let mut at = covered;
    while at < file.size {
        let to = (at + split_size).min(file.size);
        out.push(split(at, to, Vec::new()));
        at = to;
    }
    out
}

/// `[start, end)` cut into equal pieces of at most `split_size` (`split_size` ≥ 1): no
/// short last piece to straggle behind the others.
fn even_pieces(start: u64, end: u64, split_size: u64) -> impl Iterator<Item = (u64, u64)> {
    let pieces = (end - start).div_ceil(split_size).max(1);
    let step = (end - start).div_ceil(pieces).max(1);
    (start..end)
        .step_by(step as usize)
        .map(move |at| (at, (at + step).min(end)))
}

/// Whole HDFS files smaller than `split_size` read together, up to `split_size` a task,
/// when they share a host (or none knows its hosts): a thousand small files then make
/// tens of tasks, not a thousand. Parquet splits, pieces of larger files, and files
/// elsewhere (a task per local or S3 file, as people expect of a directory of parts)
/// stay as they are.
pub fn combine_small_files(splits: Vec<Split>, split_size: u64) -> Vec<Split> {
    let small = |s: &Split| {
        s.url.starts_with("hdfs://")
            && s.row_groups.is_none()
            && s.start == 0
            && s.end == s.file_size
            && s.file_size < split_size
    };
    let (small_files, mut out): (Vec<Split>, Vec<Split>) = splits.into_iter().partition(small);
    // Groups being filled, at most one per set of hosts; each group's `hosts` are those
    // every file in it is on.
    let mut open: Vec<Split> = Vec::new();
    for s in small_files {
        let shares = |g: &Split| {
            g.hosts.is_empty() && s.hosts.is_empty() || g.hosts.iter().any(|h| s.hosts.contains(h))
        };
        // A group on its hosts that this file would overflow is as full as it gets.
        let mut i = 0;
        while i < open.len() {
            if shares(&open[i]) && open[i].len() + s.file_size > split_size {
                out.push(open.swap_remove(i));
            } else {
                i += 1;
            }
        }
        match open.iter().position(shares) {
            Some(i) => {
                let g = &mut open[i];
                g.hosts.retain(|h| s.hosts.contains(h));
                g.more.push(s);
            }
            None => open.push(s),
        }
    }
    out.extend(open);
    out
}

/// This machine's host name, as local workers report it.
pub fn local_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parquet file of column `a` with `rows` rows (none: no row group at all).
    fn parquet_file(dir: &std::path::Path, name: &str, rows: i64) -> FileInfo {
        use arrow::array::Int64Array;
        use arrow::datatypes::{DataType, Field, Schema};
        use arrow::record_batch::RecordBatch;
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let path = dir.join(name);
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            None,
        )
        .unwrap();
        if rows > 0 {
            let column = Arc::new(Int64Array::from_iter_values(0..rows));
            writer
                .write(&RecordBatch::try_new(schema, vec![column]).unwrap())
                .unwrap();
        }
        writer.close().unwrap();
        FileInfo {
            url: format!("file://{}", path.display()),
            size: std::fs::metadata(&path).unwrap().len(),
        }
    }

    #[tokio::test]
    async fn parquet_files_without_rows_are_scanned_only_when_no_file_has_rows() {
        let dir = tempfile::tempdir().unwrap();
        let empty = [
            parquet_file(dir.path(), "e0.parquet", 0),
            parquet_file(dir.path(), "e1.parquet", 0),
        ];
        let rows = parquet_file(dir.path(), "r.parquet", 10);
        let split = |files: &[FileInfo]| {
            let files = files.to_vec();
            async move {
                plan_splits(&files, InputFormat::Parquet, 1 << 20, "h")
                    .await
                    .unwrap()
            }
        };
        // All empty: one scan of no row groups, so the input's columns reach the stages.
        let got = split(&empty).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].url.as_str(), got[0].row_groups),
            (empty[0].url.as_str(), Some((0, 0)))
        );
        // One with rows: only its row groups are scanned.
        let got = split(&[empty[0].clone(), rows.clone(), empty[1].clone()]).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].url.as_str(), got[0].row_groups),
            (rows.url.as_str(), Some((0, 1)))
        );
    }

    fn block(offset: u64, length: u64, hosts: &[&str]) -> BlockLocation {
        BlockLocation {
            offset,
            length,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            racks: vec!["/default-rack".into(); hosts.len()],
            corrupt: false,
        }
    }

    fn file(size: u64) -> FileInfo {
        FileInfo {
            url: "hdfs://nn/f".into(),
            size,
        }
    }

    fn ranges(splits: &[Split]) -> Vec<(u64, u64, Vec<String>)> {
        splits
            .iter()
            .map(|s| (s.start, s.end, s.hosts.clone()))
            .collect()
    }

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn splits_end_at_block_boundaries_when_blocks_are_on_different_hosts() {
        let blocks = [
            block(0, 16, &["a"]),
            block(16, 16, &["b"]),
            block(32, 8, &["c"]),
        ];
        let got = cut_along_blocks(&file(40), &blocks, 100);
        assert_eq!(
            ranges(&got),
            [
                (0, 16, hosts(&["a"])),
                (16, 32, hosts(&["b"])),
                (32, 40, hosts(&["c"]))
            ]
        );
    }

    #[test]
    fn consecutive_blocks_on_a_shared_host_join_up_to_the_split_size() {
        let blocks = [
            block(0, 16, &["a", "b"]),
            block(16, 16, &["b", "c"]),
            block(32, 16, &["b"]),
            block(48, 16, &["b"]),
        ];
        let got = cut_along_blocks(&file(64), &blocks, 40);
        // 0..32 on b (both blocks), then 32..64 on b: 48 would pass 40.
        assert_eq!(
            ranges(&got),
            [(0, 32, hosts(&["b"])), (32, 64, hosts(&["b"]))]
        );
    }

    #[test]
    fn a_block_larger_than_the_split_size_is_cut_evenly_on_its_hosts() {
        let blocks = [block(0, 100, &["a"]), block(100, 10, &["b"])];
        let got = cut_along_blocks(&file(110), &blocks, 30);
        assert_eq!(
            ranges(&got),
            [
                (0, 25, hosts(&["a"])),
                (25, 50, hosts(&["a"])),
                (50, 75, hosts(&["a"])),
                (75, 100, hosts(&["a"])),
                (100, 110, hosts(&["b"]))
            ]
        );
    }

    #[tokio::test]
    async fn files_without_blocks_are_cut_into_even_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        let files = [FileInfo {
            url: format!("file://{}", path.display()),
            size: 100,
        }];
        let got = plan_splits(&files, spindle_job::InputFormat::Csv, 40, "h")
            .await
            .unwrap();
        let sizes: Vec<u64> = got.iter().map(|s| s.end - s.start).collect();
        assert_eq!(sizes, [34, 34, 32], "three even pieces, none over 40");
        assert!(got.iter().all(|s| s.hosts == ["h"]));
    }

    fn whole(name: &str, size: u64, on: &[&str]) -> Split {
        Split {
            url: format!("hdfs://nn/{name}"),
            start: 0,
            end: size,
            file_size: size,
            row_groups: None,
            hosts: hosts(on),
            more: Vec::new(),
        }
    }

    /// Each task's files, in order.
    fn tasks(splits: &[Split]) -> Vec<Vec<&str>> {
        splits
            .iter()
            .map(|s| {
                s.pieces()
                    .map(|p| p.url.rsplit('/').next().unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn small_files_on_a_shared_host_are_read_together_up_to_the_split_size() {
        let splits = vec![
            whole("a1", 30, &["a", "b"]),
            whole("c1", 30, &["c"]),
            whole("a2", 30, &["a"]),
            whole("a3", 30, &["b", "a"]),
            whole("a4", 30, &["a"]),
            whole("big", 100, &["a"]),
        ];
        let got = combine_small_files(splits, 100);
        // a1+a2+a3 fill 90 of 100; a4 would pass it and starts a task of its own.
        assert_eq!(
            tasks(&got),
            [vec!["big"], vec!["a1", "a2", "a3"], vec!["c1"], vec!["a4"]]
        );
        assert_eq!(got[1].hosts, ["a"], "only the host every file is on");
        assert_eq!(got[1].len(), 90);
        assert_eq!(
            got.iter().map(Split::len).sum::<u64>(),
            250,
            "every byte once"
        );
    }

    #[test]
    fn only_whole_small_hdfs_files_are_combined() {
        let mut parquet = whole("p", 10, &["a"]);
        parquet.row_groups = Some((0, 1));
        let mut s3 = whole("s3", 10, &[]);
        s3.url = "s3://bucket/s3".into();
        let mut piece = whole("piece", 10, &["a"]);
        piece.file_size = 500;
        let splits = vec![
            whole("x1", 40, &[]),
            parquet,
            s3.clone(),
            whole("x2", 40, &[]),
            piece,
            s3,
            whole("a", 10, &["a"]),
        ];
        let got = combine_small_files(splits, 100);
        assert_eq!(
            tasks(&got),
            [
                vec!["p"],
                vec!["s3"],
                vec!["piece"],
                vec!["s3"],
                vec!["x1", "x2"],
                vec!["a"]
            ]
        );
    }

    #[tokio::test]
    async fn local_files_keep_a_task_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![];
        for i in 0..3 {
            let path = dir.path().join(format!("f{i}.csv"));
            std::fs::write(&path, vec![b'x'; 30]).unwrap();
            files.push(FileInfo {
                url: format!("file://{}", path.display()),
                size: 30,
            });
        }
        let got = plan_splits(&files, spindle_job::InputFormat::Csv, 100, "h")
            .await
            .unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().all(|s| s.more.is_empty() && s.hosts == ["h"]));
    }

    #[test]
    fn every_byte_is_in_exactly_one_split() {
        for split_size in [1, 7, 16, 33, 1000] {
            let blocks = [
                block(0, 16, &["a"]),
                block(16, 16, &["a"]),
                block(32, 5, &["b"]),
            ];
            let got = cut_along_blocks(&file(45), &blocks, split_size);
            let mut at = 0;
            for s in &got {
                assert_eq!(s.start, at, "split_size {split_size}: {got:?}");
                assert!(s.end > s.start);
                at = s.end;
            }
            assert_eq!(at, 45, "bytes past the last block are covered too");
            assert!(got.last().unwrap().hosts.is_empty());
        }
    }
}
