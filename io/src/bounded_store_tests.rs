use super::*;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{Attributes, ObjectStoreExt};
use std::time::Instant;

const BOUND: Duration = Duration::from_millis(200);

/// A store that never answers a call: a NameNode that stopped. With `stalled_reads`, a
/// read answers at once and then sends no bytes: a DataNode that stopped.
#[derive(Debug)]
struct Silent {
    stalled_reads: bool,
}

impl fmt::Display for Silent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Silent")
    }
}

#[async_trait]
impl ObjectStore for Silent {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        futures::future::pending().await
    }
    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        futures::future::pending().await
    }
    async fn get_opts(&self, location: &Path, _: GetOptions) -> Result<GetResult> {
        if !self.stalled_reads {
            return futures::future::pending().await;
        }
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::pending().boxed()),
            meta: ObjectMeta {
                location: location.clone(),
                last_modified: Default::default(),
                size: 10,
                e_tag: None,
                version: None,
            },
            range: 0..10,
            attributes: Attributes::default(),
        })
    }
    fn delete_stream(
        &self,
        _: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        futures::stream::pending().boxed()
    }
    fn list(&self, _: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        futures::stream::pending().boxed()
    }
    async fn list_with_delimiter(&self, _: Option<&Path>) -> Result<ListResult> {
        futures::future::pending().await
    }
    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        futures::future::pending().await
    }
}

fn silent(stalled_reads: bool) -> Bounded {
    Bounded::new(Arc::new(Silent { stalled_reads }), BOUND)
}

/// `err` says it had no answer, and came within a few bounds of `started`.
fn assert_timed_out(err: object_store::Error, started: Instant, what: &str) {
    let text = err.to_string();
    assert!(
        text.contains(what) && text.contains("had no answer within 0.2 s"),
        "{text}"
    );
    assert!(started.elapsed() < BOUND * 5, "{:?}", started.elapsed());
}

#[tokio::test]
async fn calls_to_a_store_that_never_answers_fail_at_the_bound() {
    let store = silent(false);
    let path = Path::from("dir/f");
    let started = Instant::now();
    assert_timed_out(
        store.head(&path).await.unwrap_err(),
        started,
        "reading dir/f",
    );
    let started = Instant::now();
    let put = store.put(&path, PutPayload::from_static(b"x")).await;
    assert_timed_out(put.unwrap_err(), started, "writing dir/f");
    let started = Instant::now();
    let renamed = store.rename(&path, &Path::from("dir/g")).await;
    assert_timed_out(renamed.unwrap_err(), started, "dir/f to dir/g");
    let started = Instant::now();
    let listed = store.list_with_delimiter(Some(&Path::from("dir"))).await;
    assert_timed_out(listed.unwrap_err(), started, "listing dir");
}

#[tokio::test]
async fn a_stream_that_stops_fails_once_at_the_bound_and_ends() {
    let store = silent(true);
    let started = Instant::now();
    let mut listed = store.list(Some(&Path::from("dir")));
    let first = listed.next().await.expect("an error, not the end");
    assert_timed_out(first.unwrap_err(), started, "listing dir");
    assert!(
        listed.next().await.is_none(),
        "the stream ends after its error"
    );

    let started = Instant::now();
    let got = store.get(&Path::from("dir/f")).await.unwrap();
    assert_timed_out(got.bytes().await.unwrap_err(), started, "reading dir/f");
}

#[tokio::test]
async fn a_store_that_answers_is_unchanged() {
    let store = Bounded::new(Arc::new(InMemory::new()), BOUND);
    let (a, b) = (Path::from("d/a"), Path::from("d/b"));
    store
        .put(&a, PutPayload::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(store.get(&a).await.unwrap().bytes().await.unwrap(), "hello");
    store.rename(&a, &b).await.unwrap();
    let listed: Vec<ObjectMeta> = store
        .list(Some(&Path::from("d")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location, b);
    store.delete(&b).await.unwrap();
    assert!(store.head(&b).await.is_err());
}

#[tokio::test]
async fn a_direct_call_that_never_answers_fails_as_timed_out_at_the_bound() {
    let started = Instant::now();
    let never = std::future::pending::<std::io::Result<()>>();
    let err = io_within(BOUND, "/logs/app_1", never).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(err.to_string(), "/logs/app_1 had no answer within 0.2 s");
    assert!(started.elapsed() < BOUND * 5, "{:?}", started.elapsed());
    let answered = io_within(BOUND, "/logs/app_1", async { Ok::<_, std::io::Error>(7) });
    assert_eq!(answered.await.unwrap(), 7);
}
