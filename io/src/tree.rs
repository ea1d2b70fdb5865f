//! Filesystem-shaped operations the output commit needs and `object_store` does not give:
//! listing that never follows a symlink and tells directories from files, renaming whole
//! directories (atomically where the store can), exclusive creates, conditional replaces
//! and reads of small control files. Local disk and HDFS do these natively; object stores
//! get per-object equivalents.

use crate::bounded_store::hdfs_within;
use crate::error::IoError;
use crate::storage::Location;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::path::Path;

/// What a name in a listing is. Symlinks are reported, never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Sockets, devices, fifos: nothing spindle ever writes.
    Other,
}

/// One name below a listed location, relative to it (`a/b.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rel: String,
    pub kind: EntryKind,
}

/// A small file's content with the version a conditional replace needs.
pub struct Versioned {
    pub data: Vec<u8>,
    /// When it was last written or touched ([`Location::touch`]), in ms since the epoch.
    pub modified_ms: u64,
    version: UpdateVersion,
}

impl Location {
    /// Whether whole directories rename in one step (local disk, HDFS); object stores
    /// rename object by object.
    pub fn renames_dirs(&self) -> bool {
        self.local_path().is_some() || self.hdfs().is_some()
    }

    /// The last path segment (`clicks` of `s3://b/out/clicks`).
    pub fn name(&self) -> String {
        self.path.filename().unwrap_or_default().to_string()
    }

    /// The directory holding this location; `None` at a root.
    pub fn parent(&self) -> Option<Location> {
        let parts: Vec<_> = self.path.parts().collect();
        if parts.is_empty() {
            return None;
        }
        let path = object_store::path::Path::from_iter(parts[..parts.len() - 1].iter().cloned());
        Some(Location {
            store: self.store.clone(),
            root: self.root.clone(),
            path,
        })
    }

    /// A location next to this one, in the same directory.
    pub fn sibling(&self, name: &str) -> Location {
        let parent = self.parent().unwrap_or_else(|| self.clone());
        parent.child(name)
    }

    fn hdfs_path(&self) -> String {
        format!("/{}", self.path)
    }

    /// What is at this location, without following a symlink; `None` when nothing is.
    /// On an object store a prefix with objects below it is a directory.
    pub async fn stat(&self) -> Result<Option<EntryKind>, IoError> {
        if let Some(p) = self.local_path() {
            return match std::fs::symlink_metadata(&p) {
                Ok(m) => Ok(Some(kind_of(m.file_type()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(local_error(&p, e)),
            };
        }
        if let Some(client) = self.hdfs() {
            let path = self.hdfs_path();
            return match hdfs_within(&path, client.get_file_info(&path)).await {
                Ok(s) if s.isdir => Ok(Some(EntryKind::Dir)),
                Ok(_) => Ok(Some(EntryKind::File)),
                Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(None),
                Err(e) => Err(hdfs_error(self, e)),
            };
        }
        if !self.path.as_ref().is_empty() && self.head().await.is_ok() {
            return Ok(Some(EntryKind::File));
        }
        Ok((!self.list().await?.is_empty()).then_some(EntryKind::Dir))
    }

    /// Every name below this directory, recursively, directories included, symlinks
    /// listed as such and not entered. Sorted by relative path.
    pub async fn entries(&self) -> Result<Vec<Entry>, IoError> {
        let mut out = vec![];
        if let Some(root) = self.local_path() {
            walk_local(&root, &root, &mut out)?;
        } else if let Some(client) = self.hdfs() {
            let base = self.hdfs_path();
            let statuses = match hdfs_within(&base, client.list_status(&base, true)).await {
                Ok(s) => s,
                Err(hdfs_native::HdfsError::FileNotFound(_)) => vec![],
                Err(e) => return Err(hdfs_error(self, e)),
            };
            for s in statuses {
                let rel = s.path[base.len()..].trim_start_matches('/').to_string();
                let kind = if s.isdir {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                };
                out.push(Entry { rel, kind });
            }
        } else {
            let prefix = self.path.as_ref().len();
            for meta in self.list().await? {
                let rel = meta.location.as_ref()[prefix..].trim_start_matches('/');
                out.push(Entry {
                    rel: rel.to_string(),
                    kind: EntryKind::File,
                });
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// The names directly inside this directory (files, directories, links), unsorted.
    pub async fn child_names(&self) -> Result<Vec<String>, IoError> {
        if let Some(dir) = self.local_path() {
            let listing = match std::fs::read_dir(&dir) {
                Ok(l) => l,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
                Err(e) => return Err(local_error(&dir, e)),
            };
            return listing
                .map(|e| {
                    e.map(|e| e.file_name().to_string_lossy().to_string())
                        .map_err(|e| local_error(&dir, e))
                })
                .collect();
        }
        if let Some(client) = self.hdfs() {
            let path = self.hdfs_path();
            return match hdfs_within(&path, client.list_status(&path, false)).await {
                Ok(s) => Ok(s
                    .into_iter()
                    .map(|s| s.path.rsplit('/').next().unwrap_or_default().to_string())
                    .collect()),
                Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(vec![]),
                Err(e) => Err(hdfs_error(self, e)),
            };
        }
        let prefix = (!self.path.as_ref().is_empty()).then_some(&self.path);
        let listing = self
            .store
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| IoError::store(self.url(), e))?;
        Ok(listing
            .common_prefixes
            .iter()
            .chain(listing.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Renames this directory (or file) to `to`, which must not exist. One atomic step on
    /// local disk and HDFS; an error on object stores.
    pub async fn rename_dir(&self, to: &Location) -> Result<(), IoError> {
        if let (Some(from), Some(dest)) = (self.local_path(), to.local_path()) {
            if std::fs::symlink_metadata(&dest).is_ok() {
                return Err(IoError::Unsupported(format!(
                    "cannot rename {} to {}: the destination exists",
                    self.url(),
                    to.url()
                )));
            }
            return std::fs::rename(&from, &dest).map_err(|e| local_error(&from, e));
        }
        if let Some(client) = self.hdfs() {
            // rename2 without OVERWRITE fails if the destination exists.
            let (from, dest) = (self.hdfs_path(), to.hdfs_path());
            let renamed = client.rename(&from, &dest, false);
            return hdfs_within(&format!("renaming {from} to {dest}"), renamed)
                .await
                .map_err(|e| hdfs_error(self, e));
        }
        Err(IoError::Unsupported(format!(
            "{}: directories cannot be renamed on this store",
            self.url()
        )))
    }

    /// Swaps this directory with `other` in one atomic step (Linux `renameat2` with
    /// `RENAME_EXCHANGE` on local disk). `Ok(false)` where the store cannot.
    pub async fn exchange(&self, other: &Location) -> Result<bool, IoError> {
        let (Some(a), Some(b)) = (self.local_path(), other.local_path()) else {
            return Ok(false);
        };
        exchange_local(&a, &b)
    }

    /// Writes a small file only if nothing is there yet; `Ok(false)` if something is.
    pub async fn create_new(&self, data: Vec<u8>) -> Result<bool, IoError> {
        self.put_if(PutMode::Create, data).await
    }

    /// A put under a precondition; `Ok(false)` when the precondition does not hold.
    async fn put_if(&self, mode: PutMode, data: Vec<u8>) -> Result<bool, IoError> {
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.path, PutPayload::from(data), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(IoError::store(self.url(), e)),
        }
    }

    /// A small file's bytes with its version; `None` when it does not exist.
    pub async fn read_versioned(&self) -> Result<Option<Versioned>, IoError> {
        match self.store.get(&self.path).await {
            Ok(got) => {
                let version = UpdateVersion {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let modified_ms = got.meta.last_modified.timestamp_millis().max(0) as u64;
                let data = got
                    .bytes()
                    .await
                    .map_err(|e| IoError::store(self.url(), e))?;
                Ok(Some(Versioned {
                    data: data.to_vec(),
                    modified_ms,
                    version,
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(IoError::store(self.url(), e)),
        }
    }

    /// A small file's bytes; `None` when it does not exist.
    pub async fn read_small(&self) -> Result<Option<Vec<u8>>, IoError> {
        Ok(self.read_versioned().await?.map(|v| v.data))
    }

    /// Replaces a small file only if it is still the version that was read: `Ok(false)`
    /// when somebody else changed it first. On stores without conditional replace (local
    /// disk, HDFS), the old file is first renamed away under a name unique to `claimant`:
    /// only one claimant's rename can succeed.
    pub async fn replace_if_unchanged(
        &self,
        seen: &Versioned,
        data: Vec<u8>,
        claimant: &str,
    ) -> Result<bool, IoError> {
        if self.renames_dirs() {
            let aside = self.sibling(&format!("{}.claimed-{claimant}", self.name()));
            if self.rename_dir(&aside).await.is_err() {
                return Ok(false);
            }
            let now = aside.read_versioned().await?;
            let unchanged = now
                .as_ref()
                .is_some_and(|v| v.data == seen.data && v.modified_ms == seen.modified_ms);
            if !unchanged {
                // Changed or touched since it was read (renewed by its holder): put it back.
                aside.rename_dir(self).await?;
                return Ok(false);
            }
            aside.delete().await?;
            return self.create_new(data).await;
        }
        self.put_if(PutMode::Update(seen.version.clone()), data)
            .await
    }

    /// Server-side copy of one object or file to `to` (replacing it).
    pub async fn copy_to(&self, to: &Location) -> Result<(), IoError> {
        self.store
            .copy(&self.path, &to.path)
            .await
            .map_err(|e| IoError::store(format!("copy {} to {}", self.url(), to.url()), e))
    }

    /// Sets a file's modification time to `at_ms` (ms since the epoch) without writing
    /// it: one NameNode call on HDFS. `Ok(false)` on object stores, which cannot.
    pub async fn touch(&self, at_ms: u64) -> Result<bool, IoError> {
        if let Some(path) = self.local_path() {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(at))
                .map_err(|e| local_error(&path, e))?;
            return Ok(true);
        }
        if let Some(client) = self.hdfs() {
            client
                .set_times(&self.hdfs_path(), at_ms, at_ms)
                .await
                .map_err(|e| hdfs_error(self, e))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Deletes the file `name` inside this directory, named as [`Location::child_names`]
    /// lists it: on local disk and HDFS a character that object_store escapes (the `#`
    /// of a local upload's temporary file) is reached as it is. Missing is not an error.
    pub async fn delete_listed(&self, name: &str) -> Result<(), IoError> {
        if let Some(dir) = self.local_path() {
            let path = dir.join(name);
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(local_error(&path, e)),
                _ => Ok(()),
            };
        }
        if let Some(client) = self.hdfs() {
            let path = format!("{}/{name}", self.hdfs_path());
            return match hdfs_within(&path, client.delete(&path, false)).await {
                Ok(_) | Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(()),
                Err(e) => Err(hdfs_error(self, e)),
            };
        }
        self.child(name).delete().await
    }

    /// Deletes one file; a missing file is not an error.
    pub async fn delete(&self) -> Result<(), IoError> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(IoError::store(self.url(), e)),
        }
    }
}

fn kind_of(t: std::fs::FileType) -> EntryKind {
    if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn local_error(path: &Path, e: std::io::Error) -> IoError {
    IoError::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

fn hdfs_error(at: &Location, e: hdfs_native::HdfsError) -> IoError {
    IoError::Unsupported(format!("{}: {e}", at.url()))
}

fn walk_local(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> Result<(), IoError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir == root => return Ok(()),
        Err(e) => return Err(local_error(dir, e)),
    };
    for item in listing {
        let item = item.map_err(|e| local_error(dir, e))?;
        // `DirEntry::file_type` does not follow symlinks.
        let kind = kind_of(item.file_type().map_err(|e| local_error(&item.path(), e))?);
        let path = item.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        out.push(Entry { rel, kind });
        if kind == EntryKind::Dir {
            walk_local(root, &path, out)?;
        }
    }
    Ok(())
}

fn exchange_local(a: &Path, b: &Path) -> Result<bool, IoError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca =
        CString::new(a.as_os_str().as_bytes()).map_err(|e| IoError::Unsupported(e.to_string()))?;
    let cb =
        CString::new(b.as_os_str().as_bytes()).map_err(|e| IoError::Unsupported(e.to_string()))?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // Filesystems or kernels without RENAME_EXCHANGE.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => Ok(false),
        _ => Err(local_error(a, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_report_symlinks_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.csv"), "1").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let loc = Location::parse(&dir.path().to_string_lossy()).unwrap();
        let got = loc.entries().await.unwrap();
        let want = vec![
            Entry {
                rel: "link".into(),
                kind: EntryKind::Symlink,
            },
            Entry {
                rel: "sub".into(),
                kind: EntryKind::Dir,
            },
            Entry {
                rel: "sub/a.csv".into(),
                kind: EntryKind::File,
            },
        ];
        assert_eq!(got, want);
        assert_eq!(
            loc.child("link").stat().await.unwrap(),
            Some(EntryKind::Symlink)
        );
        assert_eq!(loc.child("nope").stat().await.unwrap(), None);
    }

    #[tokio::test]
    async fn exchange_swaps_directories_atomically() {
        let dir = tempfile::tempdir().unwrap();
        for (d, f) in [("a", "one"), ("b", "two")] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
            std::fs::write(dir.path().join(d).join(f), f).unwrap();
        }
        let a = Location::parse(&dir.path().join("a").to_string_lossy()).unwrap();
        let b = a.sibling("b");
        assert!(a.exchange(&b).await.unwrap());
        assert!(dir.path().join("a/two").exists());
        assert!(dir.path().join("b/one").exists());
        let err = a.rename_dir(&b).await.unwrap_err().to_string();
        assert!(err.contains("destination exists"), "{err}");
    }

    #[tokio::test]
    async fn create_new_and_conditional_replace_admit_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let f = Location::parse(&dir.path().join("lease").to_string_lossy()).unwrap();
        assert!(f.create_new(b"one".to_vec()).await.unwrap());
        assert!(!f.create_new(b"two".to_vec()).await.unwrap());
        let seen = f.read_versioned().await.unwrap().unwrap();
        assert_eq!(seen.data, b"one");
        assert!(f
            .replace_if_unchanged(&seen, b"A".to_vec(), "a")
            .await
            .unwrap());
        assert!(!f
            .replace_if_unchanged(&seen, b"B".to_vec(), "b")
            .await
            .unwrap());
        assert_eq!(f.read_small().await.unwrap().unwrap(), b"A");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["lease"]);
    }
}
