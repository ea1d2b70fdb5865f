//! One writer per output: a lease file beside the output names its holder (attempt,
//! host, pid, application) and an expiry the holder keeps pushing forward. A second job
//! fails at once naming the holder; a lease whose holder is dead or expired is taken
//! over, with a warning.
//!
//! On local disk and HDFS the holder renews by touching the file (its modification time
//! plus the recorded time to live is the expiry): one NameNode call, where rewriting
//! the file took four and a close that can wait half a second, long enough for a kill
//! to land inside it and leave the store's temporary file beside the output. Object
//! stores rewrite the record.

use serde::{Deserialize, Serialize};
use spindle_io::{IoError, Location};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

/// Who is asking for a lease; filled in by the binary, which knows its process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseOwner {
    /// Unique per job attempt; names the staging directory too.
    pub attempt: String,
    pub host: String,
    pub pid: u32,
    /// The YARN application, when the holder is an application master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    #[serde(flatten)]
    owner: LeaseOwner,
    output: String,
    expires_unix_ms: u64,
    /// Renewals touch the file: it expires this long after its modification time, if
    /// that is later. Absent in leases written before renewals touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl_ms: Option<u64>,
}

impl LeaseRecord {
    /// `owner`'s lease on `output`, valid for `ttl` from now.
    fn new(owner: &LeaseOwner, output: String, ttl: Duration) -> LeaseRecord {
        LeaseRecord {
            owner: owner.clone(),
            output,
            expires_unix_ms: now_ms() + ttl.as_millis() as u64,
            ttl_ms: Some(ttl.as_millis() as u64),
        }
    }

    /// When the lease expires, given the file's modification time.
    fn expires_ms(&self, modified_ms: u64) -> u64 {
        let touched = self.ttl_ms.map_or(0, |ttl| modified_ms.saturating_add(ttl));
        self.expires_unix_ms.max(touched)
    }
}

/// A held lease; renewed in the background until released.
pub struct Lease {
    file: Location,
    owner: LeaseOwner,
    /// Stops the renewer between renewals, never inside one, so that no renewal lands
    /// after `release` has deleted the file.
    stop: watch::Sender<bool>,
    renewer: Mutex<Option<JoinHandle<()>>>,
}

/// Why a lease was not granted.
pub enum LeaseError {
    Held(String),
    Io(IoError),
}

impl From<IoError> for LeaseError {
    fn from(e: IoError) -> Self {
        LeaseError::Io(e)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl LeaseOwner {
    fn describe(&self) -> String {
        match &self.app {
            Some(app) => format!("application {app} (attempt {})", self.attempt),
            None => format!(
                "spindle process {} on {} (attempt {})",
                self.pid, self.host, self.attempt
            ),
        }
    }
}

impl Lease {
    /// Takes the lease in `file` for `output`, valid for `ttl` and renewed every third of
    /// it. A holder on `owner.host` is checked by its pid.
    pub async fn acquire(
        file: Location,
        output: &Location,
        owner: LeaseOwner,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let record = |owner: &LeaseOwner| LeaseRecord::new(owner, output.url(), ttl);
        let bytes = |r: &LeaseRecord| serde_json::to_vec(r).expect("lease serializes");
        // A few rounds: the holder may release between our create and our read.
        for _ in 0..5 {
            if file.create_new(bytes(&record(&owner))).await? {
                return Ok(Lease::start(file, owner, ttl, output.url()));
            }
            let Some(seen) = file.read_versioned().await? else {
                continue;
            };
            let held: Option<LeaseRecord> = serde_json::from_slice(&seen.data).ok();
            let stale = match &held {
                None => Some("unreadable".to_string()),
                Some(h) if h.expires_ms(seen.modified_ms) < now_ms() => Some(format!(
                    "expired {} s ago",
                    (now_ms() - h.expires_ms(seen.modified_ms)) / 1000
                )),
                Some(h) if h.owner.app.is_some() && h.owner.app == owner.app => {
                    Some("an earlier attempt of this application".to_string())
                }
                Some(h)
                    if h.owner.app.is_none()
                        && h.owner.host == owner.host
                        && !process_alive(h.owner.pid) =>
                {
                    Some(format!("process {} is gone", h.owner.pid))
                }
                Some(_) => None,
            };
            let holder = held
                .as_ref()
                .map_or("unknown".to_string(), |h| h.owner.describe());
            let Some(why) = stale else {
                return Err(LeaseError::Held(format!(
                    "output {} is being written by {holder} (lease {}); wait for it to finish, or kill it",
                    output.url(),
                    file.url()
                )));
            };
            if file
                .replace_if_unchanged(&seen, bytes(&record(&owner)), &owner.attempt)
                .await?
            {
                warn!(lease = %file.url(), %holder, %why, "took over a stale output lease");
                return Ok(Lease::start(file, owner, ttl, output.url()));
            }
        }
        Err(LeaseError::Held(format!(
            "output {}: another job keeps taking the lease {}",
            output.url(),
            file.url()
        )))
    }

    fn start(file: Location, owner: LeaseOwner, ttl: Duration, output: String) -> Lease {
        let (f, o) = (file.clone(), owner.clone());
        let (stop, mut stopped) = watch::channel(false);
        let renewer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    // A dropped sender stops it too.
                    _ = stopped.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(ttl / 3) => {}
                }
                match f.read_versioned().await {
                    Ok(Some(seen)) if holder_of(&seen.data).as_ref() == Some(&o) => {
                        // Nobody else writes a live lease, so local disk and HDFS renew in
                        // place, by a touch (a rename-aside would open a window for a
                        // second job); object stores renew only the version they read.
                        let renewed = if f.renames_dirs() {
                            f.touch(now_ms()).await.map(|_| ())
                        } else {
                            let r = LeaseRecord::new(&o, output.clone(), ttl);
                            let data = serde_json::to_vec(&r).expect("lease serializes");
                            f.replace_if_unchanged(&seen, data, &o.attempt)
                                .await
                                .map(|_| ())
                        };
                        if let Err(e) = renewed {
                            warn!(lease = %f.url(), error = %e, "cannot renew the output lease");
                        }
                    }
                    Ok(_) => {
                        warn!(lease = %f.url(), "the output lease was taken by another job");
                        return;
                    }
                    Err(e) => warn!(lease = %f.url(), error = %e, "cannot read the output lease"),
                }
            }
        });
        Lease {
            file,
            owner,
            stop,
            renewer: Mutex::new(Some(renewer)),
        }
    }

    /// Fails unless the lease file still names this holder: checked right before publish.
    pub async fn check(&self) -> Result<(), IoError> {
        let data = self.file.read_small().await?;
        match data.as_deref().and_then(holder_of) {
            Some(h) if h == self.owner => Ok(()),
            other => Err(IoError::Unsupported(format!(
                "lost the output lease {} (now held by {}); not publishing",
                self.file.url(),
                other.map_or("nobody".into(), |h| h.describe())
            ))),
        }
    }

    /// Stops renewing (after a renewal under way has finished) and removes the lease
    /// file if it is still ours.
    pub async fn release(&self) {
        let _ = self.stop.send(true);
        let renewer = self.renewer.lock().expect("lease renewer lock").take();
        if let Some(renewer) = renewer {
            let _ = renewer.await;
        }
        if self.check().await.is_ok() {
            if let Err(e) = self.file.delete().await {
                warn!(lease = %self.file.url(), error = %e, "cannot remove the output lease");
            }
        }
    }
}

impl Drop for Lease {
    /// Unreleased (the job failed): the renewer stops at its next pause, so the lease
    /// expires.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn holder_of(data: &[u8]) -> Option<LeaseOwner> {
    serde_json::from_slice::<LeaseRecord>(data)
        .ok()
        .map(|r| r.owner)
}

/// Whether a process with this pid runs here and is a spindle (pids are reused).
fn process_alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("spindle"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Released while renewing every millisecond: nothing may be left beside the output,
    /// neither the lease nor a renewal's temporary file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_released_lease_leaves_nothing_even_mid_renewal() {
        let dir = tempfile::tempdir().unwrap();
        let output = Location::parse(&dir.path().join("out").display().to_string()).unwrap();
        let file = dir.path().join(".out.spindle-lease");
        for round in 0..40u32 {
            let owner = LeaseOwner {
                attempt: format!("attempt-{round}"),
                host: "here".into(),
                pid: std::process::id(),
                app: None,
            };
            let location = Location::parse(&file.display().to_string()).unwrap();
            let lease = Lease::acquire(location, &output, owner, Duration::from_millis(3))
                .await
                .unwrap_or_else(|_| panic!("round {round}: lease refused"));
            tokio::time::sleep(Duration::from_millis(u64::from(round % 7))).await;
            lease.release().await;
            let left: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(left.is_empty(), "round {round}: {left:?}");
        }
    }

    fn app_owner(app: &str) -> LeaseOwner {
        LeaseOwner {
            attempt: format!("{app}-1"),
            host: "here".into(),
            pid: std::process::id(),
            app: Some(app.into()),
        }
    }

    /// Renewed by touches, a lease stays held long after the expiry written in it, and
    /// its content never changes; once its holder stops renewing it expires and is taken.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_renewed_by_touches_stays_held_and_expires_when_they_stop() {
        let dir = tempfile::tempdir().unwrap();
        let output = Location::parse(&dir.path().join("out").display().to_string()).unwrap();
        let path = dir.path().join(".out.spindle-lease");
        let file = Location::parse(&path.display().to_string()).unwrap();
        let ttl = Duration::from_millis(300);
        let Ok(held) = Lease::acquire(file.clone(), &output, app_owner("a"), ttl).await else {
            panic!("the first lease was refused");
        };
        let written = std::fs::read(&path).unwrap();
        let modified = || std::fs::metadata(&path).unwrap().modified().unwrap();
        let first_mtime = modified();
        tokio::time::sleep(ttl * 3).await;
        assert!(modified() > first_mtime, "never touched");
        assert_eq!(std::fs::read(&path).unwrap(), written, "rewritten");
        let started = std::time::Instant::now();
        match Lease::acquire(file.clone(), &output, app_owner("b"), ttl).await {
            Err(LeaseError::Held(m)) => assert!(m.contains("application a"), "{m}"),
            _ => panic!("a renewed lease was taken"),
        }
        drop(held);
        tokio::time::sleep(ttl * 2).await;
        let Ok(taken) = Lease::acquire(file.clone(), &output, app_owner("b"), ttl).await else {
            panic!("an expired lease was not taken over");
        };
        assert!(taken.check().await.is_ok());
        taken.release().await;
        assert!(!path.exists(), "released");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
