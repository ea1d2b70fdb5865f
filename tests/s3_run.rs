//! `spindle run` against a real S3-compatible server on loopback (started by
//! scripts/test.sh, which exports AWS_ENDPOINT_URL and credentials). Without it these
//! tests fail: they never skip.

mod common;
use common::commit_suite::TestStore;
use common::*;
use spindle_io::client_env::{self, ClientEnv};
use spindle_io::Location;

const BUCKET: &str = "spindle-test";

fn require_server() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: run the tests through scripts/test.sh, which starts an S3 server"
    );
}

/// `url` in this process's stores, which see the S3 server's variables as the spindle
/// binary does (installed here, at the test's edge).
fn located(url: &str) -> Result<Location, spindle_io::IoError> {
    require_server();
    let vars = std::env::vars().filter(|(name, _)| name.starts_with("AWS_"));
    let _ = client_env::install(ClientEnv::from_vars(vars, "tester".into()));
    Location::parse(url)
}

fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn put(url: &str, data: Vec<u8>) {
    located(url).unwrap().put(data).await.unwrap();
}

async fn list(url: &str) -> Vec<String> {
    let loc = located(url).unwrap();
    loc.list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_group_by_from_s3_to_s3() {
    require_server();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("groupby");
    let a = clicks(400, 21);
    let b = clicks(300, 22);
    for (name, rows) in [("a.csv", &a), ("b.csv", &b)] {
        let p = dir.path().join(name);
        write_csv(&p, rows, true);
        put(
            &format!("s3://{BUCKET}/{prefix}/in/{name}"),
            std::fs::read(&p).unwrap(),
        )
        .await;
    }
    let out_url = format!("s3://{BUCKET}/{prefix}/out");
    let spec = format!(
        "name: s3-groupby\ninput:\n  path: \"s3://{BUCKET}/{prefix}/in/*.csv\"\n  format: csv\n  split_size: 2 KiB\nstages:\n  - sql: \"SELECT user, bytes FROM input WHERE status = 200\"\n  - shuffle: {{ by: [user], partitions: 3 }}\n  - sql: \"SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user\"\noutput:\n  path: \"{out_url}\"\n  format: jsonl\n"
    );
    let d = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || run_spec(&d, &spec, &["--workers", "2"]))
        .await
        .unwrap();
    run.assert_ok();
    let keys = list(&out_url).await;
    assert!(keys.iter().any(|k| k.ends_with("/_SUCCESS")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("_temporary")), "{keys:?}");
    let rows = jsonl_rows(&keys).await;
    let all: Vec<Click> = [a, b].concat();
    assert_eq!(by_user(&rows), expected_by_user(&all));
    assert!(run.summary["locality"]["no_preference"].as_u64().unwrap() > 0);
    assert!(
        run.summary["locality"]["no_preference_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_s3_job_leaves_no_objects() {
    require_server();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("fail");
    let p = dir.path().join("a.csv");
    write_csv(&p, &clicks(100, 23), true);
    put(
        &format!("s3://{BUCKET}/{prefix}/in/a.csv"),
        std::fs::read(&p).unwrap(),
    )
    .await;
    let out_url = format!("s3://{BUCKET}/{prefix}/out");
    let spec = format!(
        "name: s3-fail\ninput:\n  path: \"s3://{BUCKET}/{prefix}/in/a.csv\"\n  format: csv\nstages:\n  - sql: \"SELECT missing_col FROM input\"\noutput:\n  path: \"{out_url}\"\n  format: csv\n"
    );
    let d = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || run_spec(&d, &spec, &["--workers", "1"]))
        .await
        .unwrap();
    assert!(!run.ok());
    assert!(run.stderr().contains("missing_col"), "{}", run.stderr());
    assert_eq!(list(&out_url).await, Vec::<String>::new());
}

/// A query over S3 with stages after it: the stages read the query's result from the
/// output's staging prefix, and only their files are left under the job's prefix.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_then_stages_from_s3_to_s3_leaves_only_the_output() {
    require_server();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("query-stages");
    let rows = clicks(500, 24);
    let p = dir.path().join("a.csv");
    write_csv(&p, &rows, true);
    let input = format!("s3://{BUCKET}/{prefix}/in/a.csv");
    put(&input, std::fs::read(&p).unwrap()).await;
    let out_url = format!("s3://{BUCKET}/{prefix}/out");
    let spec = format!(
        "name: s3-query-stages\n\
         inputs:\n  clicks: {{ path: \"{input}\", format: csv }}\n\
         query: SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM clicks \
         WHERE status = 200 GROUP BY user\n\
         stages:\n  - command: {{ run: cat, format: jsonl }}\n  - coalesce: 1\n\
         output: {{ path: \"{out_url}\", format: jsonl }}\n"
    );
    let d = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || run_spec(&d, &spec, &["--workers", "2"]))
        .await
        .unwrap();
    run.assert_ok();
    let written: Vec<String> = list(&format!("s3://{BUCKET}/{prefix}"))
        .await
        .into_iter()
        .filter(|k| !k.starts_with(&format!("{prefix}/in/")))
        .collect();
    assert_eq!(written.len(), 2, "one part and _SUCCESS only: {written:?}");
    assert!(
        written.iter().any(|k| k.ends_with("/out/_SUCCESS")),
        "{written:?}"
    );
    let got = jsonl_rows(&written).await;
    assert_eq!(by_user(&got), expected_by_user(&rows));
}

/// The rows of the jsonl part files among `keys`.
async fn jsonl_rows(keys: &[String]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut rows = vec![];
    for k in keys.iter().filter(|k| k.contains("/part-")) {
        let loc = located(&format!("s3://{BUCKET}/{k}")).unwrap();
        let size = loc.head().await.unwrap().size;
        let data = loc.get_range(0..size).await.unwrap();
        for line in std::str::from_utf8(&data).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            rows.push(v.as_object().unwrap().clone());
        }
    }
    rows
}

/// The commit fault suite on S3: a prefix per test; inspected through object listings.
struct S3Store {
    base: String,
}

impl S3Store {
    fn new(name: &str) -> S3Store {
        require_server();
        S3Store {
            base: format!("s3://{BUCKET}/{}", unique(name)),
        }
    }
}

impl TestStore for S3Store {
    fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base)
    }
    fn put(&self, rel: &str, data: &[u8]) {
        block_on(put(&self.url(rel), data.to_vec()));
    }
    fn files(&self, rel: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        block_on(async {
            let root = located(&self.url(rel)).unwrap();
            let prefix = root.path.as_ref().len();
            let mut out = std::collections::BTreeMap::new();
            for meta in root.list().await.unwrap() {
                let key = meta.location.as_ref()[prefix..]
                    .trim_start_matches('/')
                    .to_string();
                let loc = root.child(&key);
                let data = loc.get_range(0..meta.size).await.unwrap();
                out.insert(key, data.to_vec());
            }
            out
        })
    }
    fn top_names(&self) -> Vec<String> {
        block_on(async { located(&self.base).unwrap().child_names().await.unwrap() })
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![]
    }
    fn has_move_old_step(&self) -> bool {
        false
    }
    fn cut_short_lease_write(&self) -> Option<&'static str> {
        None
    }
}

/// The commit fault suite (S3).
mod s3_commit_suite {
    use super::*;
    common::commit_suite::commit_suite_tests!(|name: &str| S3Store::new(name));
}
