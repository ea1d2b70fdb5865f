//! `spindle submit` end to end on a real MiniYARNCluster + MiniDFSCluster: the binary is
//! staged to HDFS, the application master runs in a YARN container, workers in more
//! containers read HDFS input and commit HDFS output. Every output row is checked.
//! One cluster serves every test in this file; it stops when the test process exits.

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::commit_suite::TestStore;
use common::*;
use minicluster::MiniCluster;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn cluster() -> &'static MiniCluster {
    static CLUSTER: OnceLock<MiniCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("yarn-minicluster");
        MiniCluster::start_shared(1, &base)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn hdfs() -> hdfs_native::Client {
    let fs = cluster()
        .configuration()
        .get("fs.defaultFS")
        .expect("fs.defaultFS");
    hdfs_client(&fs, &cluster().conf_dir)
}

fn put(path: &str, data: Vec<u8>) {
    runtime().block_on(async {
        let mut w = hdfs()
            .create(path, hdfs_native::WriteOptions::default().overwrite(true))
            .await
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
        w.write(data.into()).await.unwrap();
        w.close().await.unwrap();
    })
}

fn get(path: &str) -> Option<Vec<u8>> {
    runtime().block_on(async {
        let r = hdfs().read(path).await.ok()?;
        Some(r.read_range(0, r.file_length()).await.unwrap().to_vec())
    })
}

/// Names directly below `dir`, empty if it does not exist.
fn ls(dir: &str) -> Vec<String> {
    runtime().block_on(async {
        let mut names: Vec<String> = hdfs()
            .list_status(dir, false)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.path.rsplit('/').next().unwrap().to_string())
            .collect();
        names.sort();
        names
    })
}

/// Rows of the jsonl part files below `dir` in HDFS.
fn hdfs_jsonl_rows(dir: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut rows = vec![];
    for name in ls(dir).iter().filter(|n| n.starts_with("part-")) {
        let text = String::from_utf8(get(&format!("{dir}/{name}")).unwrap()).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            rows.push(v.as_object().unwrap().clone());
        }
    }
    rows
}

fn spindle(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HADOOP_CONF_DIR", &cluster().conf_dir)
        .env_remove("YARN_CONF_DIR")
        .output()
        .expect("spawn spindle")
}

/// The last line of stdout: where `submit` puts the application id.
fn app_id(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.lines().last().unwrap_or_default().to_string();
    assert!(id.starts_with("application_"), "{}", text(o));
    id
}

fn status(app: &str) -> serde_json::Value {
    let o = spindle(&["status", app, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn wait_for(app: &str, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = status(app);
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Uploads clicks as CSV files under `dir` and returns every row.
fn upload_clicks(dir: &str, seeds: &[(usize, u64)]) -> Vec<Click> {
    let local = tempfile::tempdir().unwrap();
    let mut all = vec![];
    for (i, (n, seed)) in seeds.iter().enumerate() {
        let rows = clicks(*n, *seed);
        let path = local.path().join("x.csv");
        write_csv(&path, &rows, true);
        put(
            &format!("{dir}/part-{i}.csv"),
            std::fs::read(&path).unwrap(),
        );
        all.extend(rows);
    }
    all
}

fn write_spec(name: &str, input: &str, stages: &str, out: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "name: {name}\nworkers: {{ instances: 2, memory: 256 MiB }}\ninput:\n  path: \"hdfs://{input}\"\n  format: csv\n  split_size: 2 KiB\n{stages}\noutput:\n  path: \"hdfs://{out}\"\n  format: jsonl\n"
    );
    std::fs::write(dir.path().join("job.yaml"), spec).unwrap();
    dir
}

const GROUP_BY: &str = r#"stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: { by: [user], partitions: 3 }
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
"#;

/// `spindle submit` of the spec in `dir` with a small AM, plus `extra` flags.
fn submit(dir: &tempfile::TempDir, extra: &[&str]) -> Output {
    let spec = dir.path().join("job.yaml").display().to_string();
    let mut args = vec!["submit", spec.as_str(), "--am-memory-mb", "256"];
    args.extend_from_slice(extra);
    spindle(&args)
}

/// Submits without waiting and returns the application id once its AM has registered,
/// with the status that says so.
fn submit_until_registered(dir: &tempfile::TempDir) -> (String, serde_json::Value) {
    let o = submit(dir, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let s = wait_for(&app, "the AM to register", |s| {
        s["state"] == "RUNNING" && s["am_rpc_port"].as_i64().unwrap_or(-1) > 0
    });
    (app, s)
}

#[test]
fn submit_runs_a_job_on_hdfs_and_every_row_is_right() {
    let rows = upload_clicks("/it/groupby/in", &[(900, 1), (600, 2), (5, 3)]);
    let spec = write_spec(
        "yarn-groupby",
        "/it/groupby/in/*.csv",
        GROUP_BY,
        "/it/groupby/out",
    );
    let o = submit(&spec, &["--wait"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let out = "/it/groupby/out";
    assert_eq!(by_user(&hdfs_jsonl_rows(out)), expected_by_user(&rows));
    let names = ls(out);
    assert!(names.contains(&"_SUCCESS".to_string()), "{names:?}");
    assert!(!names.contains(&"_temporary".to_string()), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("part-")).count(), 3);

    let s = status(&app);
    assert_eq!(s["state"], "FINISHED", "{s}");
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
    assert_eq!(s["type"], "SPINDLE", "{s}");
    let diagnostics = s["diagnostics"].as_str().unwrap();
    assert!(
        diagnostics.contains(&format!("{} rows in", rows.len())),
        "{diagnostics}"
    );
    let o = spindle(&["ls", "--all", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let apps: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        apps.as_array()
            .unwrap()
            .iter()
            .any(|a| a["application_id"] == app.as_str()),
        "{apps}"
    );

    // A second submit reuses the staged binary instead of uploading it again.
    let again = write_spec(
        "yarn-groupby-again",
        "/it/groupby/in/*.csv",
        GROUP_BY,
        "/it/groupby/out2",
    );
    let summary_path = again.path().join("summary.json");
    let summary_arg = summary_path.display().to_string();
    let o = submit(
        &again,
        &["--wait", "--json", "--summary-json", &summary_arg],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("reusing /user/"),
        "{}",
        text(&o)
    );
    let result: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // So are the site files, kept once per content where NodeManagers can cache them
    // across applications, private to the user; the application's own directory has none.
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let staging = format!("/user/{user}/.spindle");
    let conf =
        runtime().block_on(async { hdfs().list_status(&format!("{staging}/conf"), false).await });
    let conf = conf.expect("the staged site files");
    let mut names: Vec<&str> = conf
        .iter()
        .filter_map(|f| f.path.rsplit('/').next()?.split_once('-'))
        .map(|(_hash, name)| name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["core-site.xml", "hdfs-site.xml", "yarn-site.xml"],
        "{conf:?}"
    );
    assert!(conf.iter().all(|f| f.permission == 0o600), "{conf:?}");
    let app_dir = ls(&format!(
        "{staging}/{}",
        result["application_id"].as_str().unwrap()
    ));
    assert!(
        !app_dir.iter().any(|n| n.ends_with("site.xml")),
        "{app_dir:?}"
    );
    // `--summary-json` writes the document `spindle run --summary-json` writes: the
    // job's summary, as in `--json`'s `summary`.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(written, result["summary"], "{written}");
    assert!(
        written["locality"]["data_local_bytes"].as_u64().unwrap() > 0,
        "{written}"
    );
    assert_eq!(result["summary"]["rows_in"], rows.len() as u64, "{result}");
    // Block locations name the node the workers run on: every scan is data-local.
    let locality = &result["summary"]["locality"];
    assert!(locality["data_local"].as_u64().unwrap() >= 3, "{result}");
    assert!(
        locality["data_local_bytes"].as_u64().unwrap() > 0,
        "{result}"
    );
    assert_eq!(locality["off_switch"], 0, "{result}");
    assert_eq!(locality["off_switch_bytes"], 0, "{result}");
    assert_eq!(locality["no_preference"], 0, "{result}");
    assert_eq!(result["summary"]["status"], "succeeded", "{result}");
    assert_eq!(
        by_user(&hdfs_jsonl_rows("/it/groupby/out2")),
        expected_by_user(&rows)
    );
}

#[test]
fn summary_json_needs_wait() {
    let o = spindle(&["submit", "job.yaml", "--summary-json", "s.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--wait"),
        "{}",
        text(&o)
    );
}

/// A stage naming a column its input lacks is refused before any application.
#[test]
fn a_stage_naming_a_missing_column_is_refused_before_any_application() {
    upload_clicks("/it/badcol/in", &[(50, 4)]);
    let stages = "stages:\n  - sql: \"SELECT no_such_column FROM input\"\n";
    let spec = write_spec("yarn-badcol", "/it/badcol/in", stages, "/it/badcol/out");
    let started = Instant::now();
    let o = submit(&spec, &["--wait"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("key `stages`: stage 1 (sql)") && stderr.contains("no_such_column"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("application_"), "{}", text(&o));
    assert!(
        ls("/it/badcol").iter().all(|n| n == "in"),
        "{:?}",
        ls("/it/badcol")
    );
}

/// A stage after a command (whose columns are known only when it runs) that names a
/// missing column fails in its tasks, and says so in YARN's diagnostics.
#[test]
fn a_wrong_query_fails_with_the_sql_error_in_yarn_diagnostics() {
    upload_clicks("/it/badsql/in", &[(50, 4)]);
    let stages = "stages:\n  - command: cat\n  - sql: \"SELECT no_such_column FROM input\"\n";
    let spec = write_spec("yarn-badsql", "/it/badsql/in", stages, "/it/badsql/out");
    let o = submit(&spec, &["--wait"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("no_such_column"), "{}", text(&o));
    let s = status(&app_id(&o));
    assert_eq!(s["final_status"], "FAILED", "{s}");
    let diagnostics = s["diagnostics"].as_str().unwrap();
    assert!(diagnostics.contains("no_such_column"), "{diagnostics}");
    assert!(diagnostics.contains("stage 2"), "{diagnostics}");
    assert!(
        ls("/it/badsql/out").is_empty(),
        "{:?}",
        ls("/it/badsql/out")
    );
}

#[test]
fn kill_ends_a_running_application_and_commits_nothing() {
    upload_clicks("/it/kill/in", &[(200, 5)]);
    let stages = "stages:\n  - command: \"sleep 120; cat\"\n";
    let spec = write_spec("yarn-kill", "/it/kill/in", stages, "/it/kill/out");
    let (app, _) = submit_until_registered(&spec);
    let o = spindle(&["kill", &app, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s = wait_for(&app, "KILLED", |s| s["state"] == "KILLED");
    assert_eq!(s["final_status"], "KILLED", "{s}");
    let names = ls("/it/kill/out");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("part-") || n == "_SUCCESS"),
        "{names:?}"
    );
    // The AM removed its staging and released the output's lease on SIGTERM.
    let beside = ls("/it/kill");
    assert!(
        !beside.iter().any(|n| n.starts_with(".out.spindle-")),
        "{beside:?}"
    );
}

/// `spindle ROLE` processes of application `app` (their containers' ids name it): their
/// arguments and pids.
fn spindle_processes(app: &str, role: &str) -> Vec<(Vec<String>, i32)> {
    let containers = format!(
        "CONTAINER_ID=container_{}_",
        app.trim_start_matches("application_")
    );
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        let ours = std::fs::read(entry.path().join("environ")).is_ok_and(|env| {
            env.split(|b| *b == 0)
                .any(|v| String::from_utf8_lossy(v).starts_with(&containers))
        });
        if ours
            && args.first().is_some_and(|a| a.ends_with("spindle"))
            && args.get(1).is_some_and(|a| a == role)
        {
            found.push((args, pid));
        }
    }
    found
}

/// Worker processes of application `app`, with their worker ids.
fn worker_pids(app: &str) -> Vec<(u32, i32)> {
    let mut found: Vec<(u32, i32)> = spindle_processes(app, "worker")
        .into_iter()
        .filter_map(|(args, pid)| {
            let id = args.windows(2).find(|w| w[0] == "--id")?;
            Some((id[1].parse().unwrap(), pid))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_killed_worker_container_is_replaced_and_the_result_is_exact() {
    let rows = upload_clicks("/it/crash/in", &[(3000, 11)]);
    let stages = "stages:\n  - command: \"sleep 0.3; cat\"\n  - sql: \"SELECT user, bytes FROM input WHERE status = 200\"\n  - shuffle: { by: [user], partitions: 3 }\n  - sql: \"SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user\"\n";
    let spec = write_spec("yarn-crash", "/it/crash/in", stages, "/it/crash/out");
    let (app, _) = submit_until_registered(&spec);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut workers = vec![];
    while workers.len() < 2 {
        assert!(Instant::now() < deadline, "workers of {app} never ran");
        std::thread::sleep(Duration::from_millis(100));
        workers = worker_pids(&app);
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        status(&app)["state"],
        "RUNNING",
        "job ended before the kill"
    );
    // Each worker found its master in the key-value store and registered its data
    // address there, under a key its container owns.
    let killed = workers[0].0;
    let key = format!("spindle.workers/{killed}");
    let o = spindle(&["kv", "get", &key, "--app", &app]);
    assert!(o.status.success(), "{}", text(&o));
    let registered: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        registered["data"].as_str().unwrap().contains(':'),
        "{registered}"
    );
    assert_eq!(registered["host"], "localhost", "{registered}");
    assert!(signal(workers[0].1 as u32, 9), "kill failed");
    let s = wait_for(&app, "the end", |s| s["state"] != "RUNNING");
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
    // The journal shows the killed worker's key deleted once its container ended.
    let journal = get(&format!(
        "/user/{}/.spindle/{app}/kv.journal",
        spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref())
    ))
    .expect("the journal");
    let replayed = spindle_appmaster::kv::journal::replay(&journal, 100_000).unwrap();
    let events = replayed
        .store
        .events_since(&spindle_appmaster::kv::store::KeyRange::Key(key.clone()), 0)
        .unwrap();
    let kinds: Vec<bool> = events.iter().map(|e| e.put.is_some()).collect();
    assert_eq!(kinds, [true, false], "{key}: put, then deleted: {events:?}");
    assert_eq!(
        by_user(&hdfs_jsonl_rows("/it/crash/out")),
        expected_by_user(&rows)
    );
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let summary: serde_json::Value = serde_json::from_slice(
        &get(&format!("/user/{user}/.spindle/{app}/summary.json")).expect("summary.json"),
    )
    .unwrap();
    assert!(summary["workers_lost"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["workers"].as_u64().unwrap() >= 3, "{summary}");
}

#[test]
fn the_namenode_reports_block_locations_and_file_info() {
    // The minicluster's block size is 16 MiB: 20 MiB make two blocks.
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    put("/it/blocks/two-blocks.bin", data);
    let conf = cluster().configuration();
    let fs = conf.get("fs.defaultFS").unwrap();
    let addr = fs
        .trim_start_matches("hdfs://")
        .trim_end_matches('/')
        .to_string();
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    runtime().block_on(async {
        let nn = spindle_hadoop::hdfs::NameNodeClient::connect(&addr, &user)
            .await
            .expect("connect to the NameNode");
        let info = nn
            .get_file_info("/it/blocks/two-blocks.bin")
            .await
            .unwrap()
            .expect("the file exists");
        assert!(!info.is_dir);
        assert_eq!(info.length, 20 << 20);
        assert_eq!(info.block_size, 16 << 20);
        assert!(
            nn.get_file_info("/it/blocks")
                .await
                .unwrap()
                .unwrap()
                .is_dir
        );
        assert_eq!(nn.get_file_info("/it/no/such/file").await.unwrap(), None);
        let blocks = nn
            .get_block_locations("/it/blocks/two-blocks.bin", 0, 20 << 20)
            .await
            .unwrap();
        let layout: Vec<(u64, u64)> = blocks.iter().map(|b| (b.offset, b.length)).collect();
        assert_eq!(layout, [(0, 16 << 20), (16 << 20, 4 << 20)]);
        for b in &blocks {
            assert_eq!(b.hosts, ["localhost"], "{b:?}");
            assert_eq!(b.racks, ["/default-rack"], "{b:?}");
            assert!(!b.corrupt);
        }
        let tail = nn
            .get_block_locations("/it/blocks/two-blocks.bin", 17 << 20, 1)
            .await
            .unwrap();
        assert_eq!(tail.len(), 1, "only the block holding the range: {tail:?}");
        assert_eq!(tail[0].offset, 16 << 20);
    });
}

/// The commit fault suite on HDFS (`spindle run` with local workers, HDFS output): a
/// directory per test, inspected with hdfs-native directly.
struct HdfsStore {
    base: String,
}

impl HdfsStore {
    fn new(name: &str) -> HdfsStore {
        cluster();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        HdfsStore {
            base: format!("/commit-{name}-{nanos}"),
        }
    }
}

impl TestStore for HdfsStore {
    fn url(&self, rel: &str) -> String {
        format!("hdfs://{}/{rel}", self.base)
    }
    fn put(&self, rel: &str, data: &[u8]) {
        put(&format!("{}/{rel}", self.base), data.to_vec());
    }
    fn files(&self, rel: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        let root = format!("{}/{rel}", self.base);
        let statuses = runtime()
            .block_on(async { hdfs().list_status(&root, true).await })
            .unwrap_or_default();
        statuses
            .into_iter()
            .filter(|s| !s.isdir)
            .map(|s| {
                let rel = s.path[root.len()..].trim_start_matches('/').to_string();
                (rel, get(&s.path).unwrap())
            })
            .collect()
    }
    fn top_names(&self) -> Vec<String> {
        ls(&self.base)
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "HADOOP_CONF_DIR".into(),
            cluster().conf_dir.display().to_string(),
        )]
    }
    fn has_move_old_step(&self) -> bool {
        true
    }
    fn cut_short_lease_write(&self) -> Option<&'static str> {
        Some("..out.spindle-lease.tmp.1")
    }
}

/// The commit fault suite (HDFS).
mod hdfs_commit_suite {
    use super::*;
    common::commit_suite::commit_suite_tests!(|name: &str| HdfsStore::new(name));
}

#[test]
fn the_key_value_store_serves_the_edge_node_and_journals_every_change() {
    upload_clicks("/it/kv/in", &[(50, 8)]);
    let stages = "stages:\n  - command: \"sleep 60; cat\"\n";
    let spec = write_spec("yarn-kv", "/it/kv/in", stages, "/it/kv/out");
    let (app, _) = submit_until_registered(&spec);
    let kv = |args: &[&str]| {
        let started = Instant::now();
        let mut all = vec!["kv"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--app", &app]);
        let o = spindle(&all);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "kv {args:?} took too long"
        );
        o
    };
    let o = kv(&["put", "svc/a", "10.0.0.1:80"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kv(&["get", "svc/a"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(o.stdout, b"10.0.0.1:80", "the value alone");
    // a waiter started before the put returns with its value
    let waiter = Command::new(BIN)
        .args(["kv", "wait", "svc/b", "--timeout", "60s", "--app", &app])
        .env("HADOOP_CONF_DIR", &cluster().conf_dir)
        .env_remove("YARN_CONF_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let put_at = Instant::now();
    assert!(kv(&["put", "svc/b", "ready"]).status.success());
    let waited = waiter.wait_with_output().unwrap();
    assert!(waited.status.success(), "{}", text(&waited));
    assert_eq!(waited.stdout, b"ready");
    assert!(put_at.elapsed() < Duration::from_secs(15));
    let o = kv(&["ls", "svc/"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "svc/a\nsvc/b\n",
        "{}",
        text(&o)
    );
    let o = kv(&["del", "svc/", "--prefix"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "2",
        "{}",
        text(&o)
    );
    let o = kv(&["get", "svc/a"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no key `svc/a`"),
        "{}",
        text(&o)
    );
    // the job's scheduler is published where workers connect
    let o = kv(&["get", "spindle.scheduler"]);
    assert!(o.status.success(), "{}", text(&o));
    let scheduler = String::from_utf8_lossy(&o.stdout).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut workers = spindle_processes(&app, "worker");
    while workers.is_empty() {
        assert!(Instant::now() < deadline, "workers of {app} never ran");
        std::thread::sleep(Duration::from_millis(200));
        workers = spindle_processes(&app, "worker");
    }
    // Workers are not told where the master is: they read it from the store, and
    // register where they serve data, each under a key its container owns.
    assert!(!scheduler.is_empty());
    assert!(
        workers
            .iter()
            .all(|(argv, _)| !argv.iter().any(|a| a == "--master")),
        "{workers:?}"
    );
    let registered = loop {
        let o = kv(&["ls", "spindle.workers/"]);
        let keys = String::from_utf8_lossy(&o.stdout).lines().count();
        if keys >= workers.len() {
            break keys;
        }
        assert!(
            Instant::now() < deadline,
            "workers never registered: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(registered >= 1);
    // a job runs no services: steering it fails at once, saying so
    let asked = Instant::now();
    let o = spindle(&["scale", &app, "web", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("runs no services"),
        "{}",
        text(&o)
    );
    assert!(asked.elapsed() < Duration::from_secs(15));
    // a stage job's master publishes its progress line for `submit --wait`
    let progress = loop {
        let o = kv(&["get", "spindle.progress"]);
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        if o.status.success() && line.contains("rows in, ") {
            break line;
        }
        assert!(Instant::now() < deadline, "no progress: {}", text(&o));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(progress.contains(" read, "), "{progress}");
    // every acknowledged change is in the journal on HDFS, as the next reader finds it
    // (the killed master left it open: recovering its lease closes it)
    assert!(spindle(&["kill", &app]).status.success());
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let path = format!("/user/{user}/.spindle/{app}/kv.journal");
    let conf = cluster().configuration();
    let default_fs = conf.get("fs.defaultFS").expect("fs.defaultFS");
    let recovering = Instant::now();
    runtime()
        .block_on(spindle_appmaster::yarn::kv_journal::recover_journal(
            &default_fs,
            &cluster().conf_dir,
            &path,
        ))
        .unwrap();
    assert!(recovering.elapsed() < Duration::from_secs(120));
    let journal = get(&path).expect("kv.journal");
    let replayed = spindle_appmaster::kv::journal::replay(&journal, 1000).unwrap();
    // The two puts and two deletes under svc/, in order; the scheduler's address and the
    // progress line; the workers' own keys (put, and deleted as their containers ended)
    // are the rest.
    let svc = replayed
        .store
        .events_since(
            &spindle_appmaster::kv::store::KeyRange::Prefix("svc/".into()),
            0,
        )
        .unwrap();
    let kinds: Vec<(&str, bool)> = svc
        .iter()
        .map(|e| (e.key.as_str(), e.put.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("svc/a", true),
            ("svc/b", true),
            ("svc/a", false),
            ("svc/b", false)
        ]
    );
    assert!(replayed.store.get("spindle.scheduler").is_some());
    assert!(replayed.store.get("spindle.progress").is_some());
    let others = replayed.store.len() - 2;
    let workers_keys = replayed
        .store
        .events_since(
            &spindle_appmaster::kv::store::KeyRange::Prefix("spindle.workers/".into()),
            0,
        )
        .unwrap();
    assert!(others <= workers_keys.len(), "only workers' keys besides");
}

#[test]
fn the_key_value_store_survives_a_new_application_master_attempt() {
    upload_clicks("/it/kvam/in", &[(50, 9)]);
    let stages = "stages:\n  - command: \"sleep 120; cat\"\n";
    let spec = write_spec("yarn-kv-am", "/it/kvam/in", stages, "/it/kvam/out");
    let o = submit(&spec, &["--max-attempts", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let first = wait_for(&app, "the AM to register", |s| {
        s["state"] == "RUNNING" && s["am_rpc_port"].as_i64().unwrap_or(-1) > 0
    });
    let kv = |args: &[&str]| {
        let mut all = vec!["kv"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--app", &app, "--json"]);
        spindle(&all)
    };
    let spawn_kv = |args: &[&str]| {
        Command::new(BIN)
            .arg("kv")
            .args(args)
            .args(["--app", &app, "--json"])
            .env("HADOOP_CONF_DIR", &cluster().conf_dir)
            .env_remove("YARN_CONF_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let put_revision = |o: Output| -> u64 {
        assert!(o.status.success(), "{}", text(&o));
        let put: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        put["revision"].as_u64().unwrap()
    };
    let first_put = put_revision(kv(&["put", "svc/a", "v1"]));
    let before: serde_json::Value = serde_json::from_slice(&kv(&["get", "svc/a"]).stdout).unwrap();
    assert_eq!(before["mod_revision"], first_put, "{before}");
    // a watcher and a waiter, both started before the master dies
    let mut watcher = spawn_kv(&["watch", "svc/", "--prefix"]);
    let waiter = spawn_kv(&["wait", "svc/later", "--timeout", "150s"]);
    std::thread::sleep(Duration::from_secs(2));
    let masters = spindle_processes(&app, "appmaster");
    assert_eq!(masters.len(), 1, "one application master");
    let killed_at = Instant::now();
    assert!(signal(masters[0].1 as u32, 9));
    let second = wait_for(&app, "a second attempt to register", |s| {
        s["state"] == "RUNNING"
            && s["am_rpc_port"].as_i64().unwrap_or(-1) > 0
            && s["am_rpc_port"] != first["am_rpc_port"]
    });
    assert!(killed_at.elapsed() < Duration::from_secs(120), "{second}");
    // the new attempt serves the key at the revision it had
    let after: serde_json::Value = serde_json::from_slice(&kv(&["get", "svc/a"]).stdout).unwrap();
    assert_eq!(after, before);
    let later = put_revision(kv(&["put", "svc/later", "v2"]));
    // Revisions go on from the journal: the new attempt's own changes (its scheduler
    // address, its workers) come between.
    assert!(later > first_put + 1, "{later} after {first_put}");
    let waited = waiter.wait_with_output().unwrap();
    assert!(waited.status.success(), "{}", text(&waited));
    let got: serde_json::Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(
        (got["value"].as_str(), got["mod_revision"].as_u64()),
        (Some("v2"), Some(later))
    );
    assert!(kv(&["del", "svc/a"]).status.success());
    // the watcher saw every event once, in order, across the restart
    let out = std::io::BufReader::new(watcher.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(out).map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines: Vec<serde_json::Value> = vec![];
    while lines.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(serde_json::from_str(&line).unwrap()),
            Err(_) => break,
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let seen: Vec<(u64, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["revision"].as_u64().unwrap(),
                l["event"].as_str().unwrap().into(),
                l["key"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], (first_put, "put".into(), "svc/a".into()));
    assert_eq!(seen[1], (later, "put".into(), "svc/later".into()));
    assert_eq!(
        (seen[2].1.as_str(), seen[2].2.as_str()),
        ("delete", "svc/a")
    );
    assert!(seen[2].0 > later, "{seen:?}");
    assert!(spindle(&["kill", &app]).status.success());
}

#[test]
fn an_unreadable_journal_fails_the_next_attempt_at_once() {
    upload_clicks("/it/kvbad/in", &[(50, 12)]);
    let stages = "stages:\n  - command: \"sleep 120; cat\"\n";
    let spec = write_spec("yarn-kv-bad", "/it/kvbad/in", stages, "/it/kvbad/out");
    let o = submit(&spec, &["--max-attempts", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    wait_for(&app, "the AM to register", |s| {
        s["state"] == "RUNNING" && s["am_rpc_port"].as_i64().unwrap_or(-1) > 0
    });
    // With the master frozen (so it cannot touch its journal), replace the journal with
    // bytes that are no journal, then end the master: the next attempt cannot rebuild
    // the store its workers find the master in.
    let masters = spindle_processes(&app, "appmaster");
    assert_eq!(masters.len(), 1, "one application master");
    assert!(signal(masters[0].1 as u32, 19), "SIGSTOP");
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let path = format!("/user/{user}/.spindle/{app}/kv.journal");
    runtime().block_on(async { hdfs().delete(&path, false).await.unwrap() });
    put(&path, vec![0xFF; 64]);
    let killed_at = Instant::now();
    assert!(signal(masters[0].1 as u32, 9));
    let s = wait_for(&app, "the second attempt to fail", |s| {
        s["state"] == "FAILED" || s["state"] == "FINISHED"
    });
    assert_eq!(s["final_status"], "FAILED", "{s}");
    assert!(
        s["diagnostics"]
            .as_str()
            .unwrap()
            .contains("key-value store cannot be served"),
        "{s}"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(90), "{s}");
    assert!(get("/it/kvbad/out").is_none(), "no output");
}

#[test]
fn keys_owned_by_a_container_go_when_it_ends() {
    upload_clicks("/it/kvown/in", &[(50, 10)]);
    let stages = "stages:\n  - command: \"sleep 120; cat\"\n";
    let spec = write_spec("yarn-kv-owner", "/it/kvown/in", stages, "/it/kvown/out");
    let (app, _) = submit_until_registered(&spec);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut workers = vec![];
    while workers.is_empty() {
        assert!(Instant::now() < deadline, "workers of {app} never ran");
        std::thread::sleep(Duration::from_millis(200));
        workers = worker_pids(&app);
    }
    let pid = workers[0].1;
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let container = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).to_string())
        .find_map(|v| v.strip_prefix("CONTAINER_ID=").map(str::to_string))
        .expect("the worker knows its container");
    let kv = |args: &[&str]| {
        let mut all = vec!["kv"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--app", &app]);
        spindle(&all)
    };
    let o = kv(&["put", "addr/w1", "10.0.0.9:7000", "--owner", &container]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(kv(&["put", "config", "kept"]).status.success());
    assert_eq!(kv(&["get", "addr/w1"]).stdout, b"10.0.0.9:7000");
    let killed_at = Instant::now();
    assert!(signal(pid as u32, 9));
    loop {
        let o = kv(&["get", "addr/w1"]);
        if o.status.code() == Some(1) {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "the key outlived its container: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        kv(&["get", "config"]).stdout,
        b"kept",
        "keys nobody owns stay"
    );
    assert!(spindle(&["kill", &app]).status.success());
}

#[path = "yarn_run/services.rs"]
mod services;

#[path = "yarn_run/logs.rs"]
mod logs;

#[path = "yarn_run/query.rs"]
mod query;

/// On an unsecured cluster a worker's credentials file holds only the secret, so the
/// worker deletes it: a command stage (same user) that looks for it through the
/// worker's environment finds nothing.
#[test]
fn a_command_finds_no_credentials_file_of_its_worker() {
    upload_clicks("/it/creds/in", &[(40, 4)]);
    let stages = r#"stages:
  - command: 'cat >/dev/null; f=$(tr "\0" "\n" < /proc/$PPID/environ | sed -n "s/^HADOOP_TOKEN_FILE_LOCATION=//p"); if [ -n "$f" ] && [ ! -e "$f" ]; then echo "{\"gone\": 1}"; else echo "{\"gone\": 0}"; fi'
"#;
    let spec = write_spec("yarn-creds", "/it/creds/in", stages, "/it/creds/out");
    let o = submit(&spec, &["--wait"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = hdfs_jsonl_rows("/it/creds/out");
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(
            r["gone"], 1,
            "the worker's credentials file is still there: {r:?}"
        );
    }
}

#[path = "yarn_run/hflush.rs"]
mod hflush;

#[path = "yarn_run/hdfs_splits.rs"]
mod hdfs_splits;

#[path = "yarn_run/lease.rs"]
mod lease;

#[path = "yarn_run/clean.rs"]
mod clean;
