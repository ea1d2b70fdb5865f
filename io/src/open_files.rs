//! HDFS files a job's scans read, each opened once for all of its splits.
//!
//! Through `object_store`, every ranged read of an HDFS file asks the NameNode twice
//! (`getFileInfo`, then `getBlockLocations`) before a byte moves: for a file of many
//! splits that is two round trips a split, paid again by the look past each split's
//! end. A job's input does not change while it runs, so its block list is asked for once
//! a file and kept briefly (block access tokens expire; a failed read forgets it).

use crate::bounded_store::{hdfs_within, CALL_WITHIN};
use crate::buffers;
use crate::error::IoError;
use crate::storage::{read_failure, Location};
use futures::StreamExt;
use hdfs_native::file::FileReader;
use hdfs_native::HdfsError;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An opened file's block list is used this long, then asked for again.
const KEEP: Duration = Duration::from_secs(60);
/// More files open than this and the oldest half is forgotten.
const MOST_OPEN: usize = 4096;

/// The HDFS files one job reads, by URL. Other stores are read as `Location` reads them.
#[derive(Default)]
pub struct OpenFiles {
    hdfs: Mutex<HashMap<String, (Instant, Arc<FileReader>)>>,
}

impl OpenFiles {
    /// The bytes in `range` of the file at `loc`, like [`Location::get_range_reused`]:
    /// fewer than asked (a file shorter than the range) is an error.
    pub async fn get_range_reused(
        &self,
        loc: &Location,
        range: Range<u64>,
    ) -> Result<bytes::Bytes, IoError> {
        if loc.hdfs().is_none() {
            return loc.get_range_reused(range).await;
        }
        let mut buf = buffers::SPLITS.take(range.end.saturating_sub(range.start) as usize);
        self.for_each_chunk(loc, range, |chunk| buf.extend_from_slice(chunk))
            .await?;
        Ok(buffers::SPLITS.share(buf))
    }

    /// Feeds the bytes in `range` of the file at `loc` to `feed` in order, as they
    /// arrive from HDFS, without gathering them in one buffer (other stores read the
    /// range whole first). Fewer bytes than asked is an error.
    pub async fn for_each_chunk(
        &self,
        loc: &Location,
        range: Range<u64>,
        mut feed: impl FnMut(&[u8]),
    ) -> Result<(), IoError> {
        let Some(client) = loc.hdfs() else {
            feed(&loc.get_range_reused(range).await?);
            return Ok(());
        };
        let url = loc.url();
        let what = format!("{url} bytes {range:?}");
        let reader = self.open(&client, loc, &url, &what).await?;
        let size = reader.file_length() as u64;
        if range.start > range.end || range.end > size {
            let short = format!("the file holds {size} bytes");
            return Err(IoError::store(what, read_failure(short.into())));
        }
        let len = (range.end - range.start) as usize;
        let mut chunks = reader.read_range_stream(range.start as usize, len);
        let mut got = 0;
        loop {
            let Ok(next) = tokio::time::timeout(CALL_WITHIN, chunks.next()).await else {
                self.forget(&url);
                let stalled = format!("no bytes within {} s", CALL_WITHIN.as_secs());
                return Err(IoError::store(what, read_failure(stalled.into())));
            };
            let Some(chunk) = next else { break };
            match chunk {
                Ok(chunk) => {
                    got += chunk.len();
                    feed(&chunk);
                }
                Err(e) => {
                    self.forget(&url);
                    return Err(IoError::store(what, to_store_error(&url, e)));
                }
            }
        }
        if got != len {
            self.forget(&url);
            let short = format!("{len} bytes asked, {got} given");
            return Err(IoError::store(what, read_failure(short.into())));
        }
        Ok(())
    }

    async fn open(
        &self,
        client: &hdfs_native::Client,
        loc: &Location,
        url: &str,
        what: &str,
    ) -> Result<Arc<FileReader>, IoError> {
        if let Some(reader) = self.kept(url) {
            return Ok(reader);
        }
        let path = format!("/{}", loc.path);
        let reader = hdfs_within(&path, client.read(&path))
            .await
            .map_err(|e| IoError::store(what, to_store_error(url, e)))?;
        let reader = Arc::new(reader);
        let mut open = self.hdfs.lock().expect("open files poisoned");
        if open.len() >= MOST_OPEN {
            forget_oldest_half(&mut open);
        }
        open.insert(url.to_string(), (Instant::now(), reader.clone()));
        Ok(reader)
    }

    fn kept(&self, url: &str) -> Option<Arc<FileReader>> {
        let open = self.hdfs.lock().expect("open files poisoned");
        let (at, reader) = open.get(url)?;
        (at.elapsed() < KEEP).then(|| reader.clone())
    }

    fn forget(&self, url: &str) {
        self.hdfs.lock().expect("open files poisoned").remove(url);
    }
}

fn forget_oldest_half(open: &mut HashMap<String, (Instant, Arc<FileReader>)>) {
    let mut ages: Vec<Instant> = open.values().map(|(at, _)| *at).collect();
    ages.sort_unstable();
    let cut = ages[ages.len() / 2];
    open.retain(|_, (at, _)| *at >= cut);
}

/// An HDFS error as `object_store` reports one, so it reads and retries as other reads do.
fn to_store_error(url: &str, e: HdfsError) -> object_store::Error {
    match e {
        HdfsError::FileNotFound(_) => object_store::Error::NotFound {
            path: url.to_string(),
            source: Box::new(e),
        },
        other => read_failure(Box::new(other)),
    }
}
