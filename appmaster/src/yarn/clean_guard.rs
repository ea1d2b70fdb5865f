//! The handshake that keeps `spindle clean` from removing a shared file (the binary, a
//! site file, a service's file) that a concurrent `spindle submit` has just chosen to
//! reuse.
//!
//! A submit records the shared files it uses in its application's directory, then waits
//! while a clean's marker stands, then checks that every file it staged is still there,
//! unchanged. A clean makes its marker before it reads any record, and removes nothing
//! once its marker is gone or [`CLEAN_WINDOW`] after it began. So either the clean reads
//! the submit's record and keeps its files, or the submit checks after the clean has
//! removed all it will, and fails before the ResourceManager has the application.
//! A clean that dies leaves its marker, which counts for nothing after
//! [`MARKER_EXPIRY`]; both ages are measured on the NameNode's clock.

use super::clean_survey::{info, list};
use super::hdfs_error::one_line;
use super::launch::Staged;
use bytes::Bytes;
use hdfs_native_sync::client::FileStatus;
use hdfs_native_sync::{Client, WriteOptions};
use spindle_io::bounded_store::hdfs_within as within;
use std::time::{Duration, Instant};

/// The shared files an application uses, in its directory: a directory of empty files,
/// one per shared file, named by [`record_entry`]. Empty files close at once, where a
/// file with a block waits for the NameNode to hear of it (half a second per submit).
pub const RECORD: &str = "shared-files";
/// Where cleans put their markers, in the staging directory: one file per clean, so a
/// clean lifts only its own.
pub const MARKERS: &str = ".cleaning";
/// How long after it began a clean may remove anything.
pub const CLEAN_WINDOW: Duration = Duration::from_secs(30);
/// How old a marker is when it counts for nothing: its clean is past its window (with
/// room for a removal the NameNode received late) or dead.
pub const MARKER_EXPIRY: Duration = Duration::from_secs(60);

/// How much longer a submit waits for a marker made at `marker_ms`, at `now_ms` (both
/// the NameNode's); `None` when it has expired.
pub fn marker_wait(marker_ms: i64, now_ms: i64) -> Option<Duration> {
    let left = marker_ms + MARKER_EXPIRY.as_millis() as i64 - now_ms;
    (left > 0).then(|| Duration::from_millis(left as u64))
}

/// Called by a submit once everything is staged, before the ResourceManager has the
/// application: records `shared` (the files under the staging directory that other
/// applications share) in `app_dir`, waits out a running clean, and checks that every
/// file in `staged` is still as staged. `waiting` is told once if it waits.
pub async fn hold_staged(
    client: &Client,
    root: &str,
    app_dir: &str,
    shared: &[&Staged],
    staged: &[&Staged],
    waiting: impl Fn(Duration),
) -> Result<(), String> {
    let record = format!("{app_dir}/{RECORD}");
    within(&record, client.mkdirs(&record, 0o700, true))
        .await
        .map_err(|e| format!("cannot create {record}: {}", one_line(e)))?;
    let in_record = &record;
    let entries = shared.iter().map(|s| async move {
        let entry = record_entry(root, &s.path)
            .ok_or_else(|| format!("{} is not a shared file of {root}", s.path))?;
        let path = format!("{in_record}/{entry}");
        write_small(client, &path, Bytes::new(), true).await
    });
    futures::future::try_join_all(entries).await?;
    // The record's time, that of its last entry, is the NameNode's "now", as a marker's is.
    let written = Instant::now();
    let now_ms = info(client, &record)
        .await?
        .map_or(0, |s| s.modification_time) as i64;
    let mut told = false;
    while let Some(newest) = newest_marker(client, root).await? {
        let elapsed = written.elapsed().as_millis() as i64;
        let Some(left) = marker_wait(newest, now_ms + elapsed) else {
            break;
        };
        if !told {
            waiting(left);
            told = true;
        }
        tokio::time::sleep(left.min(Duration::from_millis(250))).await;
    }
    for s in staged {
        let now = info(client, &s.path).await?;
        if !now.is_some_and(|n| n.modification_time as i64 == s.timestamp && !n.isdir) {
            return Err(format!(
                "{} was removed or replaced while this submit staged it (a `spindle clean` \
                 ran meanwhile); nothing was submitted: submit again",
                s.path
            ));
        }
    }
    Ok(())
}

/// The name of `path` (`<root>/<dir>/<name>`) in a record: `<dir>.<name>` (HDFS takes
/// no `:` in a name, and `dir`, spindle's, has no dot).
pub fn record_entry(root: &str, path: &str) -> Option<String> {
    let rel = path.strip_prefix(root)?.strip_prefix('/')?;
    let (dir, name) = rel.split_once('/')?;
    (!name.contains('/') && !dir.contains('.')).then(|| format!("{dir}.{name}"))
}

/// The path a record's entry names.
pub fn recorded_path(root: &str, entry: &str) -> Option<String> {
    let (dir, name) = entry.split_once('.')?;
    Some(format!("{root}/{dir}/{name}"))
}

/// A clean's hold on the staging directory: while it stands, submits wait.
pub struct CleanMarker {
    path: String,
    /// Removals stop at this instant: before the NameNode's clock says the marker expired.
    until: Instant,
    /// The NameNode's time when the marker was made.
    pub made_ms: i64,
}

impl CleanMarker {
    /// Makes this clean's marker in `root`, removing markers that have expired; refuses
    /// while another clean's stands.
    pub async fn make(client: &Client, root: &str) -> Result<CleanMarker, String> {
        let dir = format!("{root}/{MARKERS}");
        within(&dir, client.mkdirs(&dir, 0o700, true))
            .await
            .map_err(|e| format!("cannot create {dir}: {}", one_line(e)))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = format!("{dir}/{}-{nanos}", std::process::id());
        // Before the NameNode stamps the marker: the window ends no later than its stamp
        // says.
        let began = Instant::now();
        write_small(client, &path, Bytes::new(), false).await?;
        let made_ms = info(client, &path)
            .await?
            .ok_or_else(|| format!("{path} vanished as it was made"))?
            .modification_time as i64;
        let marker = CleanMarker {
            path,
            until: began + CLEAN_WINDOW,
            made_ms,
        };
        for other in markers(client, root).await? {
            if other.path == marker.path {
                continue;
            }
            let other_ms = other.modification_time as i64;
            if let Some(left) = marker_wait(other_ms, made_ms) {
                marker.lift(client).await?;
                return Err(format!(
                    "another `spindle clean` is running ({} was made {} s ago); it ends \
                     within {} s: try again then",
                    other.path,
                    (made_ms - other_ms).max(0) / 1000,
                    left.as_secs() + 1
                ));
            }
            // Expired: its clean is over, or dead.
            let _ = within(&other.path, client.delete(&other.path, false)).await;
        }
        Ok(marker)
    }

    /// Whether a removal may still start.
    pub fn may_remove(&self) -> bool {
        Instant::now() < self.until
    }

    /// Removes the marker: submits waiting on it go on.
    pub async fn lift(self, client: &Client) -> Result<(), String> {
        within(&self.path, client.delete(&self.path, false))
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot remove {}: {}", self.path, one_line(e)))
    }
}

/// The cleans' markers (none when no clean ever ran): files named as a clean names its
/// own; anything else there is not one, and is left alone.
async fn markers(client: &Client, root: &str) -> Result<Vec<FileStatus>, String> {
    let all = list(client, &format!("{root}/{MARKERS}")).await?;
    Ok(all
        .into_iter()
        .filter(|s| !s.isdir && is_marker_name(s.path.rsplit('/').next().unwrap_or_default()))
        .collect())
}

/// `<pid>-<nanoseconds>`, as [`CleanMarker::make`] names a marker.
fn is_marker_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.split_once('-')
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// The NameNode's time of the newest marker.
async fn newest_marker(client: &Client, root: &str) -> Result<Option<i64>, String> {
    let all = markers(client, root).await?;
    Ok(all.iter().map(|m| m.modification_time as i64).max())
}

async fn write_small(
    client: &Client,
    path: &str,
    data: Bytes,
    overwrite: bool,
) -> Result<(), String> {
    let opts = WriteOptions::default()
        .overwrite(overwrite)
        .permission(0o600);
    let mut w = within(path, client.create(path, opts))
        .await
        .map_err(|e| format!("cannot create {path}: {}", one_line(e)))?;
    if !data.is_empty() {
        within(path, w.write_bytes(data))
            .await
            .map_err(|e| format!("writing {path}: {}", one_line(e)))?;
    }
    within(path, w.close())
        .await
        .map_err(|e| format!("closing {path}: {}", one_line(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_holds_submits_until_it_expires() {
        let made = 1_000_000;
        assert_eq!(marker_wait(made, made), Some(MARKER_EXPIRY));
        assert_eq!(
            marker_wait(made, made + 45_000),
            Some(Duration::from_secs(15))
        );
        assert_eq!(marker_wait(made, made + 60_000), None);
        assert_eq!(marker_wait(made, made + 3_600_000), None);
        // A NameNode clock read before the marker was stamped: the whole expiry and more.
        assert!(marker_wait(made, made - 5_000).unwrap() > MARKER_EXPIRY);
    }

    #[test]
    fn a_record_entry_names_its_shared_file() {
        let root = "/user/u/.spindle";
        for path in [
            "/user/u/.spindle/bin/spindle-0123456789abcdef",
            "/user/u/.spindle/files/0123456789abcdef-env.1.tar.gz",
        ] {
            let entry = record_entry(root, path).unwrap();
            assert!(!entry.contains('/'), "{entry}");
            assert_eq!(recorded_path(root, &entry).as_deref(), Some(path));
        }
        assert_eq!(record_entry(root, "/user/u/.spindle/bin"), None);
        assert_eq!(record_entry(root, "/user/u/.spindle/a/b/c"), None);
        assert_eq!(record_entry(root, "/user/v/.spindle/bin/x"), None);
        assert_eq!(record_entry(root, "/user/u/.spindlex/bin/x"), None);
        assert_eq!(record_entry(root, "/user/u/.spindle/b.in/x"), None);
    }

    #[test]
    fn only_a_cleans_own_names_are_markers() {
        assert!(is_marker_name("4242-123456789"));
        for foreign in ["notes", "4242", "4242-", "-1", "42a-1", "4242-1.bak"] {
            assert!(!is_marker_name(foreign), "{foreign}");
        }
    }

    #[test]
    fn a_clean_stops_removing_well_before_its_marker_expires() {
        // Removals that began inside the window and reached the NameNode late still land
        // before any submit stops waiting.
        assert!(CLEAN_WINDOW * 2 <= MARKER_EXPIRY);
    }
}
