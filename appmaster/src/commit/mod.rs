//! The output commit. Nothing a job did not write is ever removed, and readers see the
//! complete old output or the complete new one, never a mix:
//!
//! - Workers write into a staging directory beside the output, `.<name>.spindle-<attempt>`.
//! - On local disk and HDFS the finished staging directory, with its manifest in
//!   `_SUCCESS`, replaces the output by directory renames (one atomic exchange on Linux).
//! - On object stores the files are copied in under names unique to the commit, then the
//!   manifest is written (the commit point), then the previous commit's files go.
//! - `overwrite` accepts an existing output only if it holds exactly the files its
//!   manifest lists; a lease beside the output admits one writer at a time; an interrupted
//!   commit is rolled back or finished by the next job on that output ([`recover`]).

pub mod guard;
mod hooks;
pub mod lease;
pub mod manifest;
mod publish;
mod recover;

pub use guard::{Inputs, Protected};
pub use hooks::CommitHooks;
pub use lease::LeaseOwner;

use lease::{Lease, LeaseError};
use manifest::Manifest;
use spindle_io::tree::EntryKind;
use spindle_io::{IoError, Location};
use spindle_job::{OutputMode, OutputSpec};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::warn;

/// In the staging directory: a query's result that the job's `stages` read. It is never
/// published: the commit removes it first, and an abort or a later recovery removes it
/// with the staging directory.
const SCRATCH: &str = "query-result";

/// How long an output lease lives without renewal (renewed every third of it).
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// How the binary wants commits done: who it is, what it protects, test pause points.
#[derive(Clone)]
pub struct CommitOptions {
    pub owner: LeaseOwner,
    pub protected: Protected,
    pub hooks: CommitHooks,
    pub lease_ttl: Duration,
}

/// Why an output cannot be written.
#[derive(Debug)]
pub enum CommitError {
    /// Refused before any work: the output is unsafe or not ours to replace (exit 2).
    Refused(String),
    /// Held by another writer, or the store failed.
    Failed(String),
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Refused(m) => write!(f, "key `output.path`: {m}"),
            CommitError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<IoError> for CommitError {
    fn from(e: IoError) -> Self {
        CommitError::Failed(e.to_string())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Committing,
    Closed,
}

/// An output being written by one job attempt; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    inner: Arc<Inner>,
}

struct Inner {
    output: Location,
    staging: Location,
    mode: OutputMode,
    ext: &'static str,
    job: String,
    attempt: String,
    /// The manifest of the output being replaced.
    previous: Option<Manifest>,
    lease: Lease,
    hooks: CommitHooks,
    state: Mutex<State>,
    /// Whether a query was told to write into [`SCRATCH`]: only then does the commit
    /// remove it (other jobs' commits make no extra call).
    scratch_used: AtomicBool,
}

/// The staging, old-output and lease names beside an output.
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub(crate) fn of(output: &Location) -> Names {
        Names {
            prefix: format!(".{}.spindle-", output.name()),
        }
    }
    fn staging(&self, attempt: &str) -> String {
        format!("{}{attempt}", self.prefix)
    }
    fn old(&self, attempt: &str) -> String {
        format!("{}{attempt}.old", self.prefix)
    }
    fn lease(&self) -> String {
        format!("{}lease", self.prefix)
    }
    /// The temporary file a lease write leaves when its process dies inside it: the
    /// store writes beside the lease and renames over it (`..<lease>.tmp.N` on HDFS,
    /// `<lease>#N` on local disk).
    fn is_lease_temp(&self, name: &str) -> bool {
        let lease = self.lease();
        let local = name
            .strip_prefix(&lease)
            .is_some_and(|rest| rest.starts_with('#'));
        local || name.starts_with(&format!(".{lease}.tmp."))
    }
}

impl Committer {
    /// Everything before any work: refuses unsafe outputs, takes the lease, recovers an
    /// interrupted commit, and checks that an existing output may be replaced.
    pub async fn prepare(
        spec: &OutputSpec,
        job: &str,
        inputs: &Inputs<'_>,
        opts: &CommitOptions,
    ) -> Result<Committer, CommitError> {
        let output =
            Location::parse(&spec.path).map_err(|e| CommitError::Refused(e.to_string()))?;
        guard::check_output(&output, inputs, &opts.protected)
            .await
            .map_err(CommitError::Refused)?;
        let names = Names::of(&output);
        let lease = Lease::acquire(
            output.sibling(&names.lease()),
            &output,
            opts.owner.clone(),
            opts.lease_ttl,
        )
        .await
        .map_err(|e| match e {
            LeaseError::Held(m) => CommitError::Failed(m),
            LeaseError::Io(e) => e.into(),
        })?;
        let checked = async {
            recover::recover(&output).await?;
            existing_output(&output, spec.mode).await
        }
        .await;
        let previous = match checked {
            Ok(p) => p,
            Err(e) => {
                lease.release().await;
                return Err(e);
            }
        };
        let attempt = opts.owner.attempt.clone();
        Ok(Committer {
            inner: Arc::new(Inner {
                staging: output.sibling(&names.staging(&attempt)),
                output,
                mode: spec.mode,
                ext: spec.format.extension(),
                job: job.to_string(),
                attempt,
                previous,
                lease,
                hooks: opts.hooks.clone(),
                state: Mutex::new(State::Open),
                scratch_used: AtomicBool::new(false),
            }),
        })
    }

    pub fn output(&self) -> &Location {
        &self.inner.output
    }

    /// Where workers write their files.
    pub fn staging(&self) -> &Location {
        &self.inner.staging
    }

    /// Where a query writes the result that the job's stages then read (see [`SCRATCH`]).
    pub fn scratch(&self) -> Location {
        self.inner.scratch_used.store(true, Ordering::SeqCst);
        self.inner.staging.child(SCRATCH)
    }

    /// Publishes each final task's file (`(task, name in staging)`, in partition order)
    /// as the output, replacing the previous commit's files. On failure the old output is
    /// left as it was. Returns the bytes published.
    pub async fn commit(&self, files: &[(u32, String)]) -> Result<u64, IoError> {
        let i = &self.inner;
        {
            let mut state = i.state.lock().await;
            if *state != State::Open {
                return Err(IoError::Unsupported("the commit was already closed".into()));
            }
            *state = State::Committing;
        }
        let result = async {
            i.lease.check().await?;
            if i.scratch_used.load(Ordering::SeqCst) {
                i.staging.child(SCRATCH).remove_all().await?;
            }
            if i.output.renames_dirs() {
                publish::by_rename(i, files).await
            } else {
                publish::by_manifest(i, files).await
            }
        }
        .await;
        if let Err(e) = &result {
            warn!(output = %i.output.url(), error = %e, "commit failed; restoring the previous output");
            if let Err(e) = recover::recover(&i.output).await {
                warn!(output = %i.output.url(), error = %e, "cannot roll back the commit yet; the next job on this output will");
            }
        }
        i.lease.release().await;
        *i.state.lock().await = State::Closed;
        result
    }

    /// Removes what this attempt staged and releases the output. A commit under way is
    /// left to finish (or to the next job's recovery, if the process dies).
    pub async fn abort(&self) -> Result<(), IoError> {
        let i = &self.inner;
        let Ok(mut state) = i.state.try_lock() else {
            return Ok(());
        };
        if *state != State::Open {
            return Ok(());
        }
        *state = State::Closed;
        let removed = i.staging.remove_all().await;
        i.lease.release().await;
        removed
    }
}

/// The refusals [`Committer::prepare`] makes, without taking the lease or changing
/// anything: for a client that hands the job to an application master (`submit`).
pub async fn check(
    spec: &OutputSpec,
    inputs: &Inputs<'_>,
    protected: &Protected,
) -> Result<(), CommitError> {
    let output = Location::parse(&spec.path).map_err(|e| CommitError::Refused(e.to_string()))?;
    guard::check_output(&output, inputs, protected)
        .await
        .map_err(CommitError::Refused)?;
    existing_output(&output, spec.mode).await.map(|_| ())
}

/// What an existing output holds, checked against the mode: `error_if_exists` accepts
/// nothing (an empty directory is nothing); `overwrite` accepts exactly a previous
/// commit's files. Returns the manifest to replace.
async fn existing_output(
    output: &Location,
    mode: OutputMode,
) -> Result<Option<Manifest>, CommitError> {
    let refuse = |what: String| CommitError::Refused(what);
    match output.stat().await? {
        None => return Ok(None),
        Some(EntryKind::Dir) => {}
        Some(kind) => {
            return Err(refuse(format!(
                "{} is a {}, not a directory; spindle never replaces it",
                output.url(),
                kind_name(kind)
            )))
        }
    }
    let entries = output.entries().await?;
    let Some(first) = entries.first() else {
        return Ok(None);
    };
    if mode == OutputMode::ErrorIfExists {
        return Err(refuse(format!(
            "output {} already exists (holds {}); remove it or set `output.mode: overwrite`",
            output.url(),
            first.rel
        )));
    }
    let manifest = output
        .child("_SUCCESS")
        .read_small()
        .await?
        .and_then(|b| Manifest::parse(&b));
    let Some(manifest) = manifest else {
        return Err(refuse(format!(
            "{} holds {}, and no spindle manifest (`_SUCCESS`) says spindle wrote it; \
             refusing to overwrite: remove it yourself or choose another output",
            output.url(),
            first.rel
        )));
    };
    let listed: std::collections::HashSet<&String> = manifest.files.iter().collect();
    for e in &entries {
        let ours = e.kind == EntryKind::File && (e.rel == "_SUCCESS" || listed.contains(&e.rel));
        if !ours {
            return Err(refuse(format!(
                "{} holds {} ({}), which its last spindle commit did not write; \
                 refusing to overwrite: move it away or choose another output",
                output.url(),
                e.rel,
                kind_name(e.kind)
            )));
        }
    }
    Ok(Some(manifest))
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Other => "special file",
    }
}
