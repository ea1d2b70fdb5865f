//! An object store whose every call, and every wait for the next item of a stream it
//! returns, fails after a bound. hdfs-native puts no deadline on NameNode calls, so a
//! NameNode that stops answering (a long pause, a full call queue) would otherwise hold a
//! listing, a commit's rename or a lease renewal forever.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
    UploadPart,
};
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Hadoop's own RPC timeout (`ipc.client.rpc-timeout.ms`), for each call and for each
/// wait on a stream (a DataNode's idle reads are bounded at 60 s by
/// `dfs.client.socket-timeout`, well within it).
pub const CALL_WITHIN: Duration = Duration::from_secs(120);

/// `inner`, each call bounded by `within`.
#[derive(Debug)]
pub struct Bounded {
    inner: Arc<dyn ObjectStore>,
    within: Duration,
}

impl Bounded {
    pub fn new(inner: Arc<dyn ObjectStore>, within: Duration) -> Bounded {
        Bounded { inner, within }
    }
}

impl fmt::Display for Bounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

/// The error of a call that had no answer within `within`.
fn timed_out(what: &str, within: Duration) -> object_store::Error {
    object_store::Error::Generic {
        store: "spindle",
        source: format!("{what} had no answer within {} s", within.as_secs_f64()).into(),
    }
}

/// `call`'s result, or an error naming `what` (said only then) once `within` has passed.
async fn within<T>(
    what: impl FnOnce() -> String,
    within: Duration,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(within, call)
        .await
        .unwrap_or_else(|_| Err(timed_out(&what(), within)))
}

/// `items`, failing (and then ending) if the next one takes longer than `within`.
fn each_within<T: Send + 'static>(
    what: String,
    within: Duration,
    items: BoxStream<'static, Result<T>>,
) -> BoxStream<'static, Result<T>> {
    // The label travels with the stream from item to item, so none is copied per item.
    futures::stream::unfold(Some((items, what)), move |state| async move {
        let (mut items, what) = state?;
        match tokio::time::timeout(within, items.next()).await {
            Ok(Some(item)) => Some((item, Some((items, what)))),
            Ok(None) => None,
            Err(_) => Some((Err(timed_out(&what, within)), None)),
        }
    })
    .boxed()
}

/// A direct HDFS client call (`what`), failing as an I/O error once [`CALL_WITHIN`] has
/// passed: the calls the object store cannot make (directory renames, listings with
/// directories), and those of the staging client, get the same bound.
pub async fn hdfs_within<T, E: From<std::io::Error>>(
    what: &str,
    call: impl Future<Output = std::result::Result<T, E>>,
) -> std::result::Result<T, E> {
    io_within(CALL_WITHIN, what, call).await
}

/// `call`'s result, or a timed-out I/O error naming `what` once `bound` has passed.
async fn io_within<T, E: From<std::io::Error>>(
    bound: Duration,
    what: &str,
    call: impl Future<Output = std::result::Result<T, E>>,
) -> std::result::Result<T, E> {
    tokio::time::timeout(bound, call).await.unwrap_or_else(|_| {
        Err(E::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{what} had no answer within {} s", bound.as_secs_f64()),
        )))
    })
}

#[async_trait]
impl ObjectStore for Bounded {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let call = self.inner.put_opts(location, payload, opts);
        within(|| format!("writing {location}"), self.within, call).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let call = self.inner.put_multipart_opts(location, opts);
        let upload = within(|| format!("creating {location}"), self.within, call).await?;
        Ok(Box::new(BoundedUpload {
            inner: upload,
            what: format!("writing {location}"),
            within: self.within,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let what = || format!("reading {location}");
        let call = self.inner.get_opts(location, options);
        let mut got = within(what, self.within, call).await?;
        if let GetResultPayload::Stream(chunks) = got.payload {
            got.payload = GetResultPayload::Stream(each_within(what(), self.within, chunks));
        }
        Ok(got)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let call = self.inner.get_ranges(location, ranges);
        within(|| format!("reading {location}"), self.within, call).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let deleted = self.inner.delete_stream(locations);
        each_within("deleting".into(), self.within, deleted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let what = format!("listing {}", prefix.map_or("/", |p| p.as_ref()));
        each_within(what, self.within, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let what = format!("listing {}", prefix.map_or("/", |p| p.as_ref()));
        let listed = self.inner.list_with_offset(prefix, offset);
        each_within(what, self.within, listed)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let what = || format!("listing {}", prefix.map_or("/", |p| p.as_ref()));
        within(what, self.within, self.inner.list_with_delimiter(prefix)).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let call = self.inner.copy_opts(from, to, options);
        within(|| format!("copying {from} to {to}"), self.within, call).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let call = self.inner.rename_opts(from, to, options);
        within(|| format!("renaming {from} to {to}"), self.within, call).await
    }
}

/// An upload whose parts and completion are each bounded.
#[derive(Debug)]
struct BoundedUpload {
    inner: Box<dyn MultipartUpload>,
    what: String,
    within: Duration,
}

#[async_trait]
impl MultipartUpload for BoundedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.inner.put_part(data);
        let (what, bound) = (self.what.clone(), self.within);
        Box::pin(within(|| what, bound, part))
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let what = || self.what.clone();
        within(what, self.within, self.inner.complete()).await
    }

    async fn abort(&mut self) -> Result<()> {
        let what = || self.what.clone();
        within(what, self.within, self.inner.abort()).await
    }
}

#[cfg(test)]
#[path = "bounded_store_tests.rs"]
mod tests;
