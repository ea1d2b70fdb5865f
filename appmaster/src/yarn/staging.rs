//! Staging to the default filesystem: the spindle binary and the Hadoop site files once
//! per content hash under `/user/<user>/.spindle/bin/` and `.../conf/` (later submits
//! reuse them, and NodeManagers cache them per user), and per application the spec and
//! the secret under `/user/<user>/.spindle/<application id>/`, readable by the user only.

use super::hdfs_error::one_line;
use super::launch::Staged;
use bytes::Bytes;
use spindle_io::bounded_store::hdfs_within as within;
// hdfs-native 0.14 (under the `hdfs-native-sync` name), which can act as another user.
use hdfs_native_sync::client::FileStatus;
use hdfs_native_sync::{Client, ClientBuilder, HdfsError, WriteOptions};
use sha2::{Digest, Sha256};
use spindle_hadoop::user::Identity;
use std::path::Path;

/// Upload chunk: large enough to keep the DataNode pipeline busy.
const CHUNK: usize = 4 << 20;

pub struct Staging {
    client: Client,
    /// `/user/<user>/.spindle`
    pub root: String,
    /// The site files clients of other filesystems are built with too.
    conf_dir: String,
    /// The user a proxy acts as (`Identity::proxied`), for clients of other filesystems.
    proxied: Option<String>,
    /// `host:port` of the default filesystem's NameNode ("" for a nameservice).
    default_authority: String,
}

impl Staging {
    /// Connects to `default_fs` with the site files of `conf_dir`, as `who` (whose
    /// staging directory it is; a proxy acts as its user on the NameNode too).
    pub fn connect(default_fs: &str, conf_dir: &Path, who: &Identity) -> Result<Staging, String> {
        let conf_dir = conf_dir.display().to_string();
        let proxied = who.proxied().map(str::to_string);
        let client = client_for(default_fs, &conf_dir, proxied.as_deref())?;
        Ok(Staging {
            client,
            root: format!("/user/{}/.spindle", who.user),
            conf_dir,
            proxied,
            default_authority: authority_of(default_fs).to_string(),
        })
    }

    /// The binary at `exe`, uploaded unless a file with its content hash is there.
    pub async fn binary(&self, exe: &Path) -> Result<(Staged, bool), String> {
        let hash = content_hash(exe).await?;
        let path = format!("{}/bin/spindle-{}", self.root, &hash[..16]);
        let uploaded = self.upload_once(exe, &path, 0o755).await?;
        Ok((
            staged(&self.client, super::launch::BINARY, &path, true).await?,
            uploaded,
        ))
    }

    /// A Hadoop site file (`core-site.xml`, ...) for the containers, once per content hash
    /// as `conf/<hash>-<name>` and private to the user, like the binary: a NodeManager
    /// then keeps it for later applications, and their containers start with nothing to
    /// localize (an application's own files are fetched anew on every node it reaches,
    /// a few hundred ms before its first container there can start).
    pub async fn site_file(&self, name: &str, data: Vec<u8>) -> Result<Staged, String> {
        let hash = hex::encode(Sha256::digest(&data));
        let path = format!("{}/conf/{}-{name}", self.root, &hash[..16]);
        if !self.holds(&path, data.len() as u64).await {
            self.put_once(&path, Bytes::from(data), 0o600).await?;
        }
        staged(&self.client, name, &path, true).await
    }

    /// Uploads `local` to `path` (named by its content hash) unless a file of its size
    /// is there already: later submits, and other applications, reuse it.
    async fn upload_once(&self, local: &Path, path: &str, permission: u32) -> Result<bool, String> {
        let size = std::fs::metadata(local)
            .map_err(|e| format!("{}: {e}", local.display()))?
            .len();
        if self.holds(path, size).await {
            return Ok(false);
        }
        let data = tokio::fs::read(local)
            .await
            .map_err(|e| format!("{}: {e}", local.display()))?;
        self.put_once(path, Bytes::from(data), permission).await?;
        Ok(true)
    }

    /// Whether a file of `size` bytes is at `path` (named by its content's hash).
    async fn holds(&self, path: &str, size: u64) -> bool {
        let status = within(path, self.client.get_file_info(path)).await;
        status.is_ok_and(|s| !s.isdir && s.length as u64 == size)
    }

    /// Writes `data` to `path`, which concurrent submits may race to write with the same
    /// bytes: written aside, then renamed, and the loser's copy removed.
    async fn put_once(&self, path: &str, data: Bytes, permission: u32) -> Result<(), String> {
        let tmp = format!("{path}.tmp-{}", std::process::id());
        self.write(&tmp, data, permission).await?;
        match within(&tmp, self.client.rename(&tmp, path, false)).await {
            Ok(()) => Ok(()),
            Err(_) if within(path, self.client.get_file_info(path)).await.is_ok() => {
                let _ = within(&tmp, self.client.delete(&tmp, false)).await;
                Ok(())
            }
            Err(e) => Err(format!("cannot rename {tmp} to {path}: {}", one_line(e))),
        }
    }

    /// The HDFS client, for the key-value journal.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The application's private directory. The user's home (and `/user` on a new
    /// cluster) is made first where missing, 0755 as Hadoop's own tools make it: made as
    /// a parent of this 0700 directory it would be 0700 too, and other users could no
    /// longer reach their own homes through `/user`.
    pub async fn app_dir(&self, app: &str) -> Result<String, String> {
        let home = self.root.rsplit_once('/').map_or("/", |(home, _)| home);
        within(home, self.client.mkdirs(home, 0o755, true))
            .await
            .map_err(|e| format!("cannot create {home}: {}", one_line(e)))?;
        let dir = format!("{}/{app}", self.root);
        within(&dir, self.client.mkdirs(&dir, 0o700, true))
            .await
            .map_err(|e| format!("cannot create {dir}: {}", one_line(e)))?;
        Ok(dir)
    }

    /// Writes `data` as `dir/name` and describes it for localization.
    pub async fn file(&self, dir: &str, name: &str, data: Vec<u8>) -> Result<Staged, String> {
        let path = format!("{dir}/{name}");
        self.write(&path, Bytes::from(data), 0o600).await?;
        staged(&self.client, name, &path, false).await
    }

    pub async fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let reader = within(path, self.client.read(path))
            .await
            .map_err(|e| format!("{path}: {}", one_line(e)))?;
        let len = reader.file_length();
        let bytes = within(path, reader.read_range(0, len))
            .await
            .map_err(|e| format!("{path}: {}", one_line(e)))?;
        Ok(bytes.to_vec())
    }

    async fn write(&self, path: &str, data: Bytes, permission: u32) -> Result<(), String> {
        let opts = WriteOptions::default()
            .overwrite(true)
            .permission(permission);
        let mut writer = within(path, self.client.create(path, opts))
            .await
            .map_err(|e| format!("cannot create {path}: {}", one_line(e)))?;
        let mut offset = 0;
        while offset < data.len() {
            let end = (offset + CHUNK).min(data.len());
            within(path, writer.write_bytes(data.slice(offset..end)))
                .await
                .map_err(|e| format!("writing {path} at byte {offset}: {}", one_line(e)))?;
            offset = end;
        }
        within(path, writer.close())
            .await
            .map_err(|e| format!("closing {path}: {}", one_line(e)))
    }

    /// A file the user named (a service's `files`), localized as `name`: a local file
    /// uploaded once per content hash as `files/<hash>-<its name>` (reused by later
    /// submits), or one already on the default filesystem (an `hdfs://` URL or
    /// `hdfs:///path`), whose size and time must match `expect` when the spec gives them.
    pub async fn user_file(
        &self,
        name: &str,
        source: &str,
        how: UserFile,
    ) -> Result<Staged, String> {
        let mut staged = if let Some(rest) = source.strip_prefix("hdfs://") {
            // hdfs:///path or hdfs://authority/path: the path part.
            let path = rest.find('/').map_or("/", |i| &rest[i..]);
            let authority = authority_of(source);
            let other = !authority.is_empty() && authority != self.default_authority;
            let other_client;
            let client = if other {
                other_client = self.client_of(authority)?;
                &other_client
            } else {
                &self.client
            };
            if how.public {
                readable_by_everyone(client, path).await?;
            }
            let mut staged = staged(client, name, path, how.private).await?;
            staged.public = how.public;
            staged.filesystem = other.then(|| authority.to_string());
            for (what, want, have) in [
                ("size", how.size, staged.size),
                ("timestamp", how.timestamp, staged.timestamp),
            ] {
                if want.is_some_and(|w| w != have) {
                    return Err(format!(
                        "{source} has {what} {have}, but the spec says {}",
                        want.unwrap_or_default()
                    ));
                }
            }
            staged
        } else if how.public {
            return Err(format!(
                "visibility public: {source} is a local file, which spindle uploads to your \
                 private staging directory; put it where everyone may read it on the cluster's \
                 filesystem and name its hdfs:// path, or use visibility private"
            ));
        } else {
            let local = Path::new(source.strip_prefix("file://").unwrap_or(source));
            if local.is_dir() {
                return Err(format!(
                    "{source} is a directory: pack it (tar czf x.tar.gz -C {source} .) and ship the archive"
                ));
            }
            let hash = content_hash(local).await?;
            let base = local
                .file_name()
                .map_or("file".into(), |b| b.to_string_lossy());
            let path = format!("{}/files/{}-{base}", self.root, &hash[..16]);
            self.upload_once(local, &path, 0o600).await?;
            staged(&self.client, name, &path, how.private).await?
        };
        staged.archive = how.archive;
        Ok(staged)
    }

    /// A client of the NameNode at `authority`, another filesystem than the default,
    /// with the same site files (and, on a Kerberos cluster, the same login).
    fn client_of(&self, authority: &str) -> Result<Client, String> {
        let url = format!("hdfs://{authority}");
        client_for(&url, &self.conf_dir, self.proxied.as_deref())
    }
}

/// An HDFS client of `url`, acting as `proxied` when given. Without it, the client is
/// who the login or `HADOOP_USER_NAME` says: naming the user would make a Kerberos login
/// whose principal has a host part (`alice/host@REALM`) ask to act as `alice`.
fn client_for(url: &str, conf_dir: &str, proxied: Option<&str>) -> Result<Client, String> {
    let mut builder = ClientBuilder::new()
        .with_url(url)
        .with_config_dir(conf_dir.to_string());
    if let Some(user) = proxied {
        builder = builder.with_user(user);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up an HDFS client for {url}: {e}"))
}

/// What the NameNode says of `path`, which must be there.
async fn existing(client: &Client, path: &str) -> Result<FileStatus, String> {
    within(path, client.get_file_info(path))
        .await
        .map_err(|e| match e {
            HdfsError::FileNotFound(_) => format!("{path} does not exist"),
            e => format!("{path}: {}", one_line(e)),
        })
}

async fn staged(client: &Client, name: &str, path: &str, private: bool) -> Result<Staged, String> {
    let status = existing(client, path).await?;
    Ok(Staged {
        name: name.to_string(),
        path: path.to_string(),
        size: status.length as i64,
        timestamp: status.modification_time as i64,
        private,
        archive: false,
        public: false,
        filesystem: None,
    })
}

/// A NodeManager caches a public file for every user only if everyone may read it
/// and enter each directory above it; otherwise its localization fails after the
/// application has started. Checked here, before submitting.
async fn readable_by_everyone(client: &Client, path: &str) -> Result<(), String> {
    let status = existing(client, path).await?;
    if status.permission & 0o004 == 0 {
        return Err(format!(
            "visibility public: {path} is not readable by everyone (mode {:o}); \
             chmod o+r it or use visibility private",
            status.permission
        ));
    }
    let mut dir = Path::new(path).parent();
    while let Some(d) = dir {
        let d_str = d.to_string_lossy();
        let info = within(&d_str, client.get_file_info(&d_str))
            .await
            .map_err(|e| format!("{d_str}: {}", one_line(e)))?;
        if info.permission & 0o001 == 0 {
            return Err(format!(
                "visibility public: everyone may not enter {d_str} (mode {:o}) above {path}; \
                 chmod o+x it or use visibility private",
                info.permission
            ));
        }
        dir = d.parent();
    }
    Ok(())
}

/// `host:port` of an `hdfs://host:port/...` URL; empty for `hdfs:///...` or another scheme.
fn authority_of(url: &str) -> &str {
    url.strip_prefix("hdfs://")
        .map_or("", |rest| rest.split('/').next().unwrap_or(""))
}

/// How a user's file is localized, and what the spec says it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserFile {
    pub archive: bool,
    /// Cached per user on each node across applications, not per application.
    pub private: bool,
    /// Cached once on each node for every user: the file must be readable by everyone.
    pub public: bool,
    pub size: Option<i64>,
    pub timestamp: Option<i64>,
}

async fn content_hash(path: &Path) -> Result<String, String> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || hash_file(&owned))
        .await
        .map_err(|e| e.to_string())?
}

fn hash_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
