//! A query job's run when a lost worker's replacement does not come: it ends by the
//! query's timeout, or at once on a signal, with nothing committed.

use super::*;
use crate::commit::{CommitHooks, CommitOptions, Inputs, LeaseOwner, Protected};
use std::path::Path;

/// One worker, lost at once; its replacement never serves (a full cluster).
struct NoReplacement {
    lost: bool,
}

impl QueryPool for NoReplacement {
    fn count(&self) -> usize {
        1
    }
    fn started(&self) -> usize {
        2
    }
    fn coordinator_memory(&self) -> u64 {
        64 << 20
    }
    fn remote(&self) -> RemoteWorkers {
        RemoteWorkers::new(Vec::new(), "secret".into())
    }
    async fn lost(&mut self) -> LostWorker {
        if std::mem::replace(&mut self.lost, true) {
            return std::future::pending().await;
        }
        LostWorker {
            index: 0,
            message: "query worker 0 ended".into(),
        }
    }
    fn loss_settles(&self) -> Duration {
        Duration::from_millis(10)
    }
    async fn replace(&mut self, _index: usize) -> Result<(), String> {
        std::future::pending().await
    }
}

/// A query job over one small csv file in `dir`, stopped after `timeout`.
fn spec_in(dir: &Path, timeout: &str) -> QuerySpec {
    std::fs::write(dir.join("t.csv"), "a,b\n1,2\n3,4\n").unwrap();
    let yaml = format!(
        "name: q\ninputs:\n  t: {{ path: {}, format: csv, csv: {{ header: true }} }}\n\
         query: SELECT sum(a) AS s FROM t\noutput: {{ path: {} }}\ntimeout: {timeout}\n",
        dir.join("t.csv").display(),
        dir.join("out").display()
    );
    QuerySpec::from_yaml(&yaml, "q.yaml").unwrap()
}

/// `spec` planned in this process, and its output's commit prepared.
async fn prepared(spec: &QuerySpec) -> (PlannedQuery, Committer) {
    let opts = options(spec, QueryWorkers::InProcess(1), 64 << 20);
    let planned = spindle_query::plan(spec, &opts).await.unwrap();
    let patterns = spec.input_paths();
    let inputs = Inputs {
        patterns: &patterns,
        files: &planned.files,
    };
    let commit = CommitOptions {
        owner: LeaseOwner {
            attempt: "test-1".into(),
            host: "localhost".into(),
            pid: std::process::id(),
            app: None,
        },
        protected: Protected::default(),
        hooks: CommitHooks::default(),
        lease_ttl: Duration::from_secs(30),
    };
    let committer = Committer::prepare(&spec.output, &spec.name, &inputs, &commit)
        .await
        .unwrap();
    (planned, committer)
}

/// Runs `spec` on a pool whose lost worker is never replaced, with `cancel`.
async fn run_without_replacement(spec: &QuerySpec, cancel: watch::Receiver<bool>) -> Summary {
    let (planned, committer) = prepared(spec).await;
    let mut pool = NoReplacement { lost: false };
    let run = run_query(
        spec,
        &mut pool,
        planned,
        &committer,
        cancel,
        None,
        Instant::now(),
    );
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run ended")
}

/// The query's result goes where a symlink was planted in the staging directory, and
/// is removed at the commit: both removals take the link away, never what it points
/// to, and never a file beside the output.
#[tokio::test]
async fn a_query_result_for_stages_replaces_a_planted_symlink_and_never_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec_in(dir.path(), "1m");
    spec.stages = vec![spindle_job::Stage::Coalesce(1).into()];
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep.parquet"), b"not the job's").unwrap();
    std::fs::write(dir.path().join("beside"), b"not the job's either").unwrap();
    let (planned, committer) = prepared(&spec).await;
    let scratch = committer.scratch().local_path().unwrap();
    std::fs::create_dir_all(scratch.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&foreign, &scratch).unwrap();
    // The worker is never lost: the query runs once, in this process.
    let mut pool = NoReplacement { lost: true };
    let (_keep, cancel) = watch::channel(false);
    let summary = run_query(
        &spec,
        &mut pool,
        planned,
        &committer,
        cancel,
        None,
        Instant::now(),
    )
    .await;
    assert_eq!(summary.status, Status::Succeeded, "{:?}", summary.error);
    assert_eq!(
        summary.output, None,
        "the stages' output is committed, not the query's"
    );
    assert!(!dir.path().join("out").exists(), "nothing committed yet");
    let meta = std::fs::symlink_metadata(&scratch).unwrap();
    assert!(meta.is_dir(), "the result is a directory of the job's own");
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        1,
        "one parquet file"
    );
    committer.commit(&[]).await.unwrap();
    assert!(!dir.path().join("out").join("query-result").exists());
    assert_eq!(
        std::fs::read(foreign.join("keep.parquet")).unwrap(),
        b"not the job's"
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
    assert_eq!(
        std::fs::read(dir.path().join("beside")).unwrap(),
        b"not the job's either"
    );
}

#[tokio::test]
async fn a_replacement_that_never_comes_fails_the_query_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), "1s");
    let (_keep, cancel) = watch::channel(false);
    let started = Instant::now();
    let summary = run_without_replacement(&spec, cancel).await;
    let took = started.elapsed();
    assert_eq!(summary.status, Status::Failed);
    let error = summary.error.unwrap_or_default();
    assert!(error.contains("query worker 0 ended"), "{error}");
    assert!(error.contains("no replacement"), "{error}");
    assert!(error.contains("timeout (1s)"), "{error}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(!dir.path().join("out").exists(), "nothing committed");
}

#[tokio::test]
async fn a_signal_ends_the_wait_for_a_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), "10m");
    let (stop, cancel) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send_replace(true);
    });
    let started = Instant::now();
    let summary = run_without_replacement(&spec, cancel).await;
    assert_eq!(summary.status, Status::Killed, "{:?}", summary.error);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!dir.path().join("out").exists(), "nothing committed");
}

#[test]
fn stages_data_is_compressed_unless_every_worker_is_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), "1s");
    let compress = |addrs: &[&str]| {
        let urls = addrs
            .iter()
            .map(|a| url::Url::parse(&format!("spindle://{a}")).unwrap())
            .collect();
        let workers = QueryWorkers::Remote(RemoteWorkers::new(urls, "secret".into()));
        options(&spec, workers, 64 << 20).compress
    };
    assert!(!compress(&["127.0.0.1:7001", "127.0.0.1:7002"]));
    assert!(compress(&["node1.example:7001", "node2.example:7001"]));
    assert!(compress(&["127.0.0.1:7001", "node2.example:7001"]));
    assert!(!options(&spec, QueryWorkers::InProcess(2), 64 << 20).compress);
}
