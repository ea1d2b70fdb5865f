//! One storage interface over `object_store`: a [`Location`] is a store plus a path, parsed
//! from the URLs users write. Stores are cached per scheme and bucket so that connection
//! pools are shared by every task in a process.

use crate::bounded_store::{hdfs_within, Bounded, CALL_WITHIN};
use crate::buffers;
use crate::client_env::{self, ClientEnv};
use crate::error::IoError;
use futures::{StreamExt, TryStreamExt};
use hdfs_native_object_store::HdfsObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// A file or directory in some store.
#[derive(Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    /// `file://`, `s3://bucket`, `memory://name`: prefix that turns `path` back into a URL.
    pub root: String,
    pub path: Path,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// A file found by listing, with what splitting needs.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub url: String,
    pub size: u64,
}

fn cache() -> &'static Mutex<HashMap<String, Arc<dyn ObjectStore>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cached(
    key: &str,
    make: impl FnOnce() -> Result<Arc<dyn ObjectStore>, IoError>,
) -> Result<Arc<dyn ObjectStore>, IoError> {
    let mut map = cache().lock().expect("store cache poisoned");
    if let Some(s) = map.get(key) {
        return Ok(s.clone());
    }
    let store = make()?;
    map.insert(key.to_string(), store.clone());
    Ok(store)
}

fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>, IoError> {
    let store = s3_builder(bucket, client_env::installed())
        .build()
        .map_err(|e| IoError::store(format!("s3://{bucket}"), e))?;
    Ok(Arc::new(store))
}

/// A client for `bucket`, set up from `env`'s `AWS_*` variables (credentials, region,
/// endpoint) as AWS's own tools read them.
fn s3_builder(bucket: &str, env: &ClientEnv) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
    for (name, value) in env.aws() {
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    if let Some(endpoint) = env.s3_endpoint() {
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        // Self-hosted servers (MinIO, moto) serve buckets by path, not virtual host.
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    if !env.has_region() {
        builder = builder.with_region("us-east-1");
    }
    builder
}

/// An HDFS client for `hdfs://authority` (or the default filesystem when the authority
/// is empty), configured from the installed `HADOOP_CONF_DIR` like every Hadoop client.
pub fn hdfs_client(root: &str) -> Result<hdfs_native::Client, IoError> {
    let mut builder = hdfs_native::ClientBuilder::new();
    if let Some(dir) = &client_env::installed().hadoop_conf_dir {
        builder = builder.with_config_dir(dir);
    }
    if !root.ends_with("://") {
        builder = builder.with_url(root);
    }
    builder
        .build()
        .map_err(|e| IoError::Unsupported(format!("{root}: cannot set up an HDFS client: {e}")))
}

fn hdfs_store(root: &str) -> Result<Arc<dyn ObjectStore>, IoError> {
    let client = hdfs_client(root)?;
    hdfs_clients()
        .lock()
        .expect("hdfs client cache poisoned")
        .insert(root.to_string(), client.clone());
    let store = Arc::new(HdfsObjectStore::new(client));
    Ok(Arc::new(Bounded::new(store, CALL_WITHIN)))
}

/// A read's failure, as the stores report theirs (so it counts as transient).
pub(crate) fn read_failure(
    source: Box<dyn std::error::Error + Send + Sync>,
) -> object_store::Error {
    object_store::Error::Generic {
        store: "spindle",
        source,
    }
}

/// `len` bytes from `chunks`, in a buffer the process reuses once they are dropped.
pub(crate) async fn fill_reused(
    len: usize,
    mut chunks: futures::stream::BoxStream<'_, object_store::Result<bytes::Bytes>>,
    what: &str,
) -> Result<bytes::Bytes, IoError> {
    let mut buf = buffers::SPLITS.take(len);
    while let Some(chunk) = chunks.next().await {
        buf.extend_from_slice(&chunk.map_err(|e| IoError::store(what, e))?);
    }
    whole(len, buf, what)
}

/// The buffer, shared, if it holds the `len` bytes asked for: fewer is an error.
fn whole(len: usize, buf: Vec<u8>, what: &str) -> Result<bytes::Bytes, IoError> {
    if buf.len() != len {
        let short = format!("{len} bytes asked, {} given", buf.len());
        return Err(IoError::store(what, read_failure(short.into())));
    }
    Ok(buffers::SPLITS.share(buf))
}

/// HDFS has real directories, which object_store cannot delete; these clients can.
fn hdfs_clients() -> &'static Mutex<HashMap<String, hdfs_native::Client>> {
    static CLIENTS: OnceLock<Mutex<HashMap<String, hdfs_native::Client>>> = OnceLock::new();
    CLIENTS.get_or_init(Default::default)
}

impl Location {
    /// Parses `file:///p`, `/p`, `relative/p`, `s3://bucket/key`, `hdfs://nn:port/p`,
    /// `hdfs:///p` (the default filesystem), `memory://name/p`.
    pub fn parse(text: &str) -> Result<Location, IoError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("s3://").or(text.strip_prefix("s3a://")) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(IoError::Unsupported(format!("{text}: no bucket in S3 URL")));
            }
            let store = cached(&format!("s3://{bucket}"), || s3_store(bucket))?;
            return Ok(Location {
                store,
                root: format!("s3://{bucket}"),
                path: parse_path(text, key)?,
            });
        }
        if let Some(rest) = text.strip_prefix("memory://") {
            let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
            let root = format!("memory://{name}");
            let store = cached(&root, || Ok(Arc::new(InMemory::new())))?;
            return Ok(Location {
                store,
                root,
                path: parse_path(text, key)?,
            });
        }
        for scheme in ["hdfs", "viewfs"] {
            if let Some(rest) = text.strip_prefix(&format!("{scheme}://")) {
                // `hdfs:///p` means the default filesystem (`fs.defaultFS`).
                let (authority, key) = rest.split_once('/').unwrap_or((rest, ""));
                let root = format!("{scheme}://{authority}");
                let store = cached(&root, || hdfs_store(&root))?;
                return Ok(Location {
                    store,
                    root,
                    path: parse_path(text, key)?,
                });
            }
        }
        if let Some((scheme, _)) = text.split_once("://") {
            if scheme != "file" {
                return Err(IoError::Unsupported(format!(
                    "{text}: unsupported scheme `{scheme}://` (use file://, s3:// or a local path)"
                )));
            }
        }
        let local = text.strip_prefix("file://").unwrap_or(text);
        let absolute = normalize(&if local.starts_with('/') {
            PathBuf::from(local)
        } else {
            std::env::current_dir()?.join(local)
        });
        let store = cached("file://", || Ok(Arc::new(LocalFileSystem::new())))?;
        let p = absolute.to_string_lossy().to_string();
        Ok(Location {
            store,
            root: "file://".into(),
            path: parse_path(text, p.trim_start_matches('/'))?,
        })
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.root, self.path)
    }

    /// A location below this one.
    pub fn child(&self, name: &str) -> Location {
        let mut path = self.path.clone();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        Location {
            store: self.store.clone(),
            root: self.root.clone(),
            path,
        }
    }

    /// The local filesystem path, for stores on this machine's disk.
    pub fn local_path(&self) -> Option<PathBuf> {
        (self.root == "file://").then(|| PathBuf::from(format!("/{}", self.path)))
    }

    /// The HDFS client behind this location, when it is on HDFS.
    pub fn hdfs(&self) -> Option<hdfs_native::Client> {
        let clients = hdfs_clients().lock().expect("hdfs client cache poisoned");
        clients.get(&self.root).cloned()
    }

    /// Removes this directory if nothing is left in it (local disk and HDFS; object
    /// stores have no empty directories).
    pub async fn remove_dir_if_empty(&self) -> Result<(), IoError> {
        if let Some(dir) = self.local_path() {
            let _ = std::fs::remove_dir(dir);
        } else if let Some(client) = self.hdfs() {
            let path = format!("/{}", self.path);
            match hdfs_within(&path, client.list_status(&path, false)).await {
                Ok(children) if children.is_empty() => {
                    let _ = hdfs_within(&path, client.delete(&path, false)).await;
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub async fn head(&self) -> Result<ObjectMeta, IoError> {
        self.store
            .head(&self.path)
            .await
            .map_err(|e| IoError::store(self.url(), e))
    }

    /// Every object below this location (recursively).
    pub async fn list(&self) -> Result<Vec<ObjectMeta>, IoError> {
        let prefix = (!self.path.as_ref().is_empty()).then_some(&self.path);
        self.store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| IoError::store(self.url(), e))
    }

    pub async fn get_range(&self, range: std::ops::Range<u64>) -> Result<bytes::Bytes, IoError> {
        self.store
            .get_range(&self.path, range.clone())
            .await
            .map_err(|e| IoError::store(format!("{} bytes {range:?}", self.url()), e))
    }

    /// The bytes in `range`, like `get_range`, in a buffer the process reuses once they
    /// are dropped (`crate::buffers`): a split's tens of MiB would otherwise be mapped
    /// and faulted in afresh for every split. Fewer bytes than asked (a file shorter than
    /// the range) is an error.
    pub async fn get_range_reused(
        &self,
        range: std::ops::Range<u64>,
    ) -> Result<bytes::Bytes, IoError> {
        let what = || format!("{} bytes {range:?}", self.url());
        let len = (range.end - range.start) as usize;
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&self.path, options)
            .await
            .map_err(|e| IoError::store(what(), e))?;
        match got.payload {
            GetResultPayload::Stream(chunks) => fill_reused(len, chunks, &what()).await,
            GetResultPayload::File(file, _) => {
                let mut buf = buffers::SPLITS.take(len);
                // The store ends the range at the file's end; what is missing is told below.
                let (at, have) = (got.range.start, got.range.end - got.range.start);
                // Read into the buffer's spare room: a reused buffer is not zeroed first.
                buf = tokio::task::spawn_blocking(move || {
                    use std::io::{Read, Seek, SeekFrom};
                    let mut file = file;
                    file.seek(SeekFrom::Start(at))?;
                    file.take(have.min(len as u64)).read_to_end(&mut buf)?;
                    Ok::<_, std::io::Error>(buf)
                })
                .await
                .map_err(|e| IoError::Protocol(format!("{}: read task failed: {e}", what())))?
                .map_err(|e| IoError::store(what(), read_failure(e.into())))?;
                whole(len, buf, &what())
            }
        }
    }

    pub async fn put(&self, data: Vec<u8>) -> Result<(), IoError> {
        self.store
            .put(&self.path, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| IoError::store(self.url(), e))
    }

    pub async fn rename_to(&self, to: &Location) -> Result<(), IoError> {
        self.store
            .rename(&self.path, &to.path)
            .await
            .map_err(|e| IoError::store(format!("rename {} to {}", self.url(), to.url()), e))
    }

    /// Deletes everything below this location, including empty local directories.
    pub async fn remove_all(&self) -> Result<(), IoError> {
        if let Some(client) = self.hdfs() {
            // One recursive delete on the NameNode instead of one call per file.
            let path = format!("/{}", self.path);
            return match hdfs_within(&path, client.delete(&path, true)).await {
                Ok(_) | Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(()),
                Err(e) => Err(IoError::Unsupported(format!("{}: {e}", self.url()))),
            };
        }
        if let Some(dir) = self.local_path() {
            // std's removal never follows a symlink (object_store's listing would).
            let removed = match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&dir).await,
                Ok(_) => tokio::fs::remove_file(&dir).await,
                Err(e) => Err(e),
            };
            return match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        }
        for meta in self.list().await? {
            self.store
                .delete(&meta.location)
                .await
                .map_err(|e| IoError::store(self.url(), e))?;
        }
        Ok(())
    }

    /// Expands a path or glob into the files it names, sorted by URL. A directory means
    /// every file below it, skipping Hadoop's hidden names (`_SUCCESS`, `.crc`, ...).
    pub async fn expand(pattern: &str) -> Result<Vec<FileInfo>, IoError> {
        let glob_at = pattern.find(['*', '?', '[', '{']);
        let base_text = match glob_at {
            Some(i) => &pattern[..pattern[..i].rfind('/').map(|p| p + 1).unwrap_or(0)],
            None => pattern,
        };
        let base = Location::parse(base_text)?;
        let matcher = match glob_at {
            Some(_) => {
                let full = Location::parse(pattern)?;
                Some(
                    globset::GlobBuilder::new(full.path.as_ref())
                        .literal_separator(true)
                        .build()
                        .map_err(|e| IoError::Unsupported(format!("bad glob {pattern}: {e}")))?
                        .compile_matcher(),
                )
            }
            None => None,
        };
        if matcher.is_none() {
            if let Ok(meta) = base.head().await {
                return Ok(vec![FileInfo {
                    url: base.url(),
                    size: meta.size,
                }]);
            }
        }
        let mut files: Vec<FileInfo> = base
            .list()
            .await?
            .into_iter()
            .filter(|m| !is_hidden(&m.location, &base.path))
            .filter(|m| {
                matcher
                    .as_ref()
                    .is_none_or(|g| g.is_match(m.location.as_ref()))
            })
            .map(|m| FileInfo {
                url: format!("{}/{}", base.root, m.location),
                size: m.size,
            })
            .collect();
        if files.is_empty() {
            return Err(IoError::NoMatch(pattern.to_string()));
        }
        files.sort_by(|a, b| a.url.cmp(&b.url));
        Ok(files)
    }
}

/// Resolves `.` and `..` lexically (object_store paths reject them), without touching the
/// filesystem, so globs and not-yet-existing outputs work too.
fn normalize(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn parse_path(url: &str, key: &str) -> Result<Path, IoError> {
    Path::parse(key.trim_end_matches('/'))
        .map_err(|e| IoError::Unsupported(format!("{url}: invalid path: {e}")))
}

/// Names below `base` that start with `_` or `.` are Hadoop's bookkeeping, not data.
fn is_hidden(path: &Path, base: &Path) -> bool {
    let base_parts = base.parts().count();
    path.parts()
        .skip(base_parts)
        .any(|p| p.as_ref().starts_with('_') || p.as_ref().starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reused_read_gives_the_same_bytes_as_a_plain_one_from_files_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let file = dir.path().join("data.bin");
        std::fs::write(&file, &data).unwrap();
        let local = Location::parse(&file.to_string_lossy()).unwrap();
        let memory = Location::parse("memory://reused/data.bin").unwrap();
        memory.put(data.clone()).await.unwrap();
        for loc in [&local, &memory] {
            for range in [0..200_000u64, 1..2, 99_999..150_001] {
                let plain = loc.get_range(range.clone()).await.unwrap();
                let reused = loc.get_range_reused(range.clone()).await.unwrap();
                assert_eq!(reused, plain, "{} {range:?}", loc.url());
            }
            let past_the_end = loc.get_range_reused(150_000..200_001).await.unwrap_err();
            let told = past_the_end.to_string();
            assert!(told.contains("bytes 150000..200001"), "{told}");
            if loc.local_path().is_some() {
                assert!(told.contains("50001 bytes asked, 50000 given"), "{told}");
            }
        }
    }

    #[tokio::test]
    async fn expands_globs_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a/x.csv", "a/y.csv", "a/_SUCCESS", "b/z.csv", "a/sub/w.csv"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "1\n").unwrap();
        }
        let root = dir.path().to_string_lossy();
        let glob = Location::expand(&format!("{root}/a/*.csv")).await.unwrap();
        let names: Vec<_> = glob
            .iter()
            .map(|f| f.url.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["x.csv", "y.csv"]);
        let all = Location::expand(&format!("file://{root}/a")).await.unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
        let one = Location::expand(&format!("{root}/b/z.csv")).await.unwrap();
        assert_eq!(one[0].size, 2);
        let err = Location::expand(&format!("{root}/nothing/*.csv"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no input files match"), "{err}");
    }

    #[test]
    fn relative_local_paths_resolve_dot_segments() {
        let loc = Location::parse("/data/in/../out/./x.csv").unwrap();
        assert_eq!(loc.url(), "file:///data/out/x.csv");
        let here = std::env::current_dir().unwrap();
        let rel = Location::parse("../y").unwrap();
        let want = format!("file://{}/y", here.parent().unwrap().display());
        assert_eq!(rel.url(), want);
    }

    #[test]
    fn rejects_unknown_schemes_clearly() {
        let e = Location::parse("gopher://x/y").unwrap_err().to_string();
        assert!(e.contains("unsupported scheme"), "{e}");
    }

    #[test]
    fn an_s3_client_is_set_up_from_the_environment_it_is_given() {
        use AmazonS3ConfigKey as Key;
        let given = |pairs: &[(&str, &str)]| {
            let vars = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string()));
            ClientEnv::from_vars(vars, "alice".into())
        };
        let local = s3_builder(
            "b",
            &given(&[
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ]),
        );
        let value = |b: &AmazonS3Builder, k: Key| b.get_config_value(&k);
        assert_eq!(value(&local, Key::AccessKeyId).as_deref(), Some("id"));
        assert_eq!(
            value(&local, Key::Endpoint).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(value(&local, Key::Region).as_deref(), Some("us-east-1"));
        assert_eq!(
            value(&local, Key::VirtualHostedStyleRequest).as_deref(),
            Some("false")
        );
        let aws = s3_builder("b", &given(&[("AWS_REGION", "eu-west-1")]));
        assert_eq!(value(&aws, Key::Region).as_deref(), Some("eu-west-1"));
        assert_eq!(value(&aws, Key::Endpoint), None);
    }
}
