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

/// Runs `spec` on a pool whose lost worker is never replaced, with `cancel`.
async fn run_without_replacement(spec: &QuerySpec, cancel: watch::Receiver<bool>) -> Summary {
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
