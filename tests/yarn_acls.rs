//! Skein's `acls` on a cluster that enforces application ACLs (`scripts/minicluster.sh
//! --acls`: `yarn.acl.enable`, no cluster or queue administrators). Users are simple-auth
//! names (`HADOOP_USER_NAME`); the owner is the test's own user.

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::*;
use minicluster::MiniCluster;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn cluster() -> &'static MiniCluster {
    static CLUSTER: OnceLock<MiniCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("acls-minicluster");
        MiniCluster::start_shared_with(&base, &["--acls"])
    })
}

/// `spindle args` as `user` (None: the test's own user, the applications' owner).
fn spindle(user: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("HADOOP_CONF_DIR", &cluster().conf_dir)
        .env_remove("YARN_CONF_DIR")
        .env_remove("HADOOP_USER_NAME");
    if let Some(user) = user {
        c.env("HADOOP_USER_NAME", user);
    }
    c.output().expect("spawn spindle")
}

/// The application's report as `user` sees it.
fn status(user: Option<&str>, app: &str) -> serde_json::Value {
    let o = spindle(user, &["status", app, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// Submits a one-service application that sleeps, with `acls` (a YAML block or nothing),
/// and returns its id once it runs.
fn running_app(dir: &Path, name: &str, acls: &str) -> String {
    let spec = format!(
        "name: {name}\n{acls}services:\n  sleeper:\n    resources: {{ memory: 256, vcores: 1 }}\n    script: sleep 600\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    let o = spindle(
        None,
        &["submit", path.to_str().unwrap(), "--am-memory-mb", "256"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let app = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(None, &app)["state"] != "RUNNING" {
        assert!(Instant::now() < deadline, "{app} never ran");
        std::thread::sleep(Duration::from_millis(500));
    }
    app
}

/// Kills `app` as `user`, expecting to be refused.
fn refused_kill(user: &str, app: &str) {
    let started = Instant::now();
    let o = spindle(Some(user), &["kill", app]);
    assert!(!o.status.success(), "{user} killed {app}: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(user) && err.contains("MODIFY_APP") && err.contains("acls.modify_users"),
        "the refusal should say who may not do what: {}",
        text(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(status(None, app)["state"], "RUNNING", "{user}'s kill took");
}

#[test]
fn skeins_acls_decide_who_may_see_and_kill_an_application() {
    let dir = tempfile::tempdir().unwrap();
    let acls = "acls:\n  enable: true\n  view_users: [alice, carol]\n  modify_users: [alice]\n";
    let app = running_app(dir.path(), "acl-app", acls);

    // Someone the ACLs do not name sees only what YARN shows everyone, and cannot kill it.
    let hidden = status(Some("bob"), &app);
    assert_eq!(hidden["am_host"], "N/A", "{hidden}");
    refused_kill("bob", &app);
    // A viewer sees the master's address, and may still not kill it.
    let seen = status(Some("carol"), &app);
    assert_ne!(seen["am_host"], "N/A", "{seen}");
    assert_eq!(seen["am_host"], status(None, &app)["am_host"], "{seen}");
    refused_kill("carol", &app);
    // A modifier may.
    let started = Instant::now();
    let o = spindle(Some("alice"), &["kill", &app]);
    assert!(o.status.success(), "{}", text(&o));
    while status(None, &app)["state"] != "KILLED" {
        assert!(started.elapsed() < Duration::from_secs(60), "not killed");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn without_acls_only_the_owner_may_kill_an_application() {
    let dir = tempfile::tempdir().unwrap();
    let app = running_app(dir.path(), "no-acls", "");
    assert_eq!(status(Some("alice"), &app)["am_host"], "N/A");
    refused_kill("alice", &app);
    let started = Instant::now();
    let o = spindle(None, &["kill", &app]);
    assert!(o.status.success(), "{}", text(&o));
    while status(None, &app)["state"] != "KILLED" {
        assert!(started.elapsed() < Duration::from_secs(60), "not killed");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Writes `spec` as `dir/name.yaml`; its path.
fn spec_file(dir: &Path, name: &str, spec: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

/// `submit --wait` of the spec at `path` as `user`, with a small master; the output.
fn submit_and_wait(user: Option<&str>, path: &str) -> Output {
    let o = spindle(user, &["submit", path, "--wait", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// The test's HDFS client: the test's own user, the HDFS superuser.
fn hdfs() -> hdfs_native::Client {
    let fs = cluster()
        .configuration()
        .get("fs.defaultFS")
        .expect("fs.defaultFS");
    hdfs_client(&fs, &cluster().conf_dir)
}

/// A home directory for `user`, owned by them, as an administrator makes one.
fn make_home(user: &str) {
    block_on(async {
        let home = format!("/user/{user}");
        hdfs().mkdirs(&home, 0o755, true).await.unwrap();
        hdfs().set_owner(&home, Some(user), None).await.unwrap();
    });
}

/// The HDFS file at `path`, as the NameNode describes it.
fn file_at(path: &str) -> hdfs_native::client::FileStatus {
    block_on(async { hdfs().get_file_info(path).await }).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether `path` is on HDFS.
fn exists(path: &str) -> bool {
    block_on(async { hdfs().get_file_info(path).await.is_ok() })
}

/// Who owns the HDFS file at `path`.
fn owner_of(path: &str) -> String {
    block_on(async { hdfs().get_file_info(path).await.unwrap().owner })
}

/// Polls until `app` has ended; its final state.
fn ended(app: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status(None, app);
        if ["FINISHED", "FAILED", "KILLED"].contains(&s["state"].as_str().unwrap_or("")) {
            return s;
        }
        assert!(Instant::now() < deadline, "{app} never ended: {s}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Skein's `user`: the test's own user (a proxy user on this cluster:
/// `hadoop.proxyuser.<it>.hosts|groups = *`) submits on dave's behalf.
#[test]
fn a_proxy_submits_on_another_users_behalf() {
    make_home("dave");
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: proxied\nuser: dave\nservices:\n  who:\n    resources: { memory: 256, vcores: 1 }\n    script: |\n      spindle kv put ran-as \"$USER\"\n      sleep 600\n";
    let path = spec_file(dir.path(), "proxied", spec);
    let o = spindle(None, &["submit", &path, "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = String::from_utf8_lossy(&o.stdout).trim().to_string();
    // The application is dave's: YARN says so, and its containers run as dave.
    assert_eq!(status(None, &app)["user"], "dave");
    // The submitter reaches its store: the secret is read from dave's staging
    // directory, acting as dave again.
    let o = spindle(
        None,
        &["kv", "wait", "ran-as", "--app", &app, "--timeout", "120"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "dave");
    // So does dave, with no proxy at all.
    let o = spindle(Some("dave"), &["kv", "get", "ran-as", "--app", &app]);
    assert!(o.status.success(), "{}", text(&o));
    // The master writes its summary into dave's staging directory as dave, not as the
    // operating-system user its container runs as.
    let o = spindle(None, &["shutdown", &app]);
    assert!(o.status.success(), "{}", text(&o));
    let end = ended(&app);
    assert_eq!(end["final_status"], "SUCCEEDED", "{end}");
    assert_eq!(
        owner_of(&format!("/user/dave/.spindle/{app}/summary.json")),
        "dave"
    );
}

/// On a cluster without Kerberos, a job's containers act on HDFS as the application's
/// user (`HADOOP_USER_NAME`), not as the operating-system user they run as: the output
/// is erin's.
#[test]
fn a_jobs_output_belongs_to_the_user_who_submitted_it() {
    let report = job_in_home("erin", Some("erin"), &[]);
    assert_eq!(report["user"], "erin", "{report}");
}

/// `submit --proxy-user` (as `spark-submit --proxy-user`): the test's own user submits
/// a job on frank's behalf, and the application and its output are frank's.
#[test]
fn a_job_submitted_with_proxy_user_is_that_users() {
    let report = job_in_home("frank", None, &["--proxy-user", "frank"]);
    assert_eq!(report["user"], "frank", "{report}");
}

/// `clean --proxy-user` (as `submit --proxy-user`): the test's own user cleans what it
/// submitted on hana's behalf, acting as her. Someone the cluster does not let act for
/// others is refused first, naming the setting, and removes nothing.
#[test]
fn clean_with_proxy_user_cleans_that_users_staging_directory() {
    let report = job_in_home("hana", None, &["--proxy-user", "hana"]);
    let app = report["application_id"]
        .as_str()
        .expect("an application id");
    let app_dir = format!("/user/hana/.spindle/{app}");
    assert!(exists(&app_dir), "{app_dir} should be there after the job");

    let started = Instant::now();
    let o = spindle(
        Some("mallory"),
        &["clean", "--proxy-user", "hana", "--older-than", "0s"],
    );
    assert_refused_in_one_line(
        &o,
        started,
        &["impersonate hana", "hadoop.proxyuser.mallory"],
    );
    assert!(exists(&app_dir), "a refused clean removed {app_dir}");

    let started = Instant::now();
    let o = spindle(
        None,
        &[
            "clean",
            "--proxy-user",
            "hana",
            "--older-than",
            "0s",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_took_under(started, 60);
    let doc: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(doc["staging_dir"], "/user/hana/.spindle", "{doc}");
    let removed: Vec<&str> = doc["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "removed")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(removed.contains(&app_dir.as_str()), "{doc}");
    assert!(!exists(&app_dir), "{app_dir} is still there: {doc}");
    // The job's output is hana's data, not the staging directory's: it stays.
    assert!(exists("/user/hana/out"), "the clean touched hana's output");
}

/// Runs a job from `/user/HOME/in` to `/user/HOME/out`, submitted as `user` with
/// `extra` flags, checks that every output file is HOME's, and returns the report.
fn job_in_home(home: &str, user: Option<&str>, extra: &[&str]) -> serde_json::Value {
    make_home(home);
    let local = tempfile::tempdir().unwrap();
    let csv = local.path().join("in.csv");
    write_csv(&csv, &clicks(200, 5), true);
    block_on(async {
        let opts = hdfs_native::WriteOptions::default().overwrite(true);
        let path = format!("/user/{home}/in/part-0.csv");
        let mut w = hdfs().create(&path, opts).await.unwrap();
        w.write(std::fs::read(&csv).unwrap().into()).await.unwrap();
        w.close().await.unwrap();
    });
    let spec = format!(
        "name: owned\nworkers: {{ instances: 1, memory: 256 MiB }}\ninput: {{ path: \"hdfs:///user/{home}/in/*.csv\", format: csv }}\nstages:\n  - sql: \"SELECT user, bytes FROM input\"\noutput: {{ path: \"hdfs:///user/{home}/out\", format: jsonl }}\n"
    );
    let path = spec_file(local.path(), "owned", &spec);
    let started = Instant::now();
    let args = [&["submit", path.as_str(), "--wait", "--json"][..], extra].concat();
    let o = spindle(user, &[&args[..], &["--am-memory-mb", "256"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert_took_under(started, 180);
    let out = format!("/user/{home}/out");
    let parts = block_on(async { hdfs().list_status(&out, false).await.unwrap() });
    assert!(!parts.is_empty());
    for part in parts {
        assert_eq!(part.owner, home, "{}", part.path);
    }
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// Someone the cluster does not let act for others is refused before anything is made,
/// with the ResourceManager's reason.
#[test]
fn a_user_who_may_not_proxy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: not-yours\nuser: dave\nservices:\n  s:\n    resources: { memory: 256, vcores: 1 }\n    script: sleep 1\n";
    let path = spec_file(dir.path(), "not-yours", spec);
    let started = Instant::now();
    let o = spindle(Some("mallory"), &["submit", &path]);
    assert!(
        !o.status.success(),
        "mallory submitted as dave: {}",
        text(&o)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mallory")
            && err.contains("impersonate dave")
            && err.contains("hadoop.proxyuser.mallory"),
        "the refusal should say who may not act as whom: {}",
        text(&o)
    );
    assert_took_under(started, 60);
}

/// `spindle logs` of a finished application, by someone its ACLs let see it but whom
/// HDFS does not let read its owner's aggregated logs.
#[test]
fn a_viewer_is_told_why_a_finished_applications_logs_are_out_of_reach() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: logged\nacls:\n  enable: true\n  view_users: [carol]\nservices:\n  say:\n    resources: { memory: 256, vcores: 1 }\n    script: echo hello from the log\n";
    let o = submit_and_wait(None, &spec_file(dir.path(), "logged", spec));
    let out = String::from_utf8_lossy(&o.stdout);
    let app = out.lines().last().unwrap().trim().to_string();
    let o = spindle(None, &["logs", &app]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("hello from the log"),
        "{}",
        text(&o)
    );
    let owner = status(None, &app)["user"].as_str().unwrap().to_string();
    let started = Instant::now();
    let o = spindle(Some("carol"), &["logs", &app]);
    let why = format!("carol may not read {owner}'s aggregated logs");
    assert_refused_in_one_line(&o, started, &["Permission denied: user=carol", &why]);
}

/// `o` failed within 60 s of `started`, saying every one of `says` on stderr, with no
/// Java stack trace.
fn assert_refused_in_one_line(o: &Output, started: Instant, says: &[&str]) {
    assert!(!o.status.success(), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(says.iter().all(|s| err.contains(s)), "{}", text(o));
    assert!(
        !err.contains("\tat org.apache"),
        "no Java stack trace: {}",
        text(o)
    );
    assert_took_under(started, 60);
}

/// A cluster's new administrator, with no home yet, submits first: spindle makes the
/// home 0755 as Hadoop's own tools do (so others still reach theirs, and `/user` on a new
/// cluster), and keeps private only its staging directory. Made as parents of that
/// directory, they used to be 0700.
#[test]
fn a_first_submit_makes_the_home_as_hadoop_tools_do() {
    // In HDFS's superuser group, and given no home: scripts/minicluster.sh.
    const ADMIN: &str = "newadmin";
    let home = format!("/user/{ADMIN}");
    assert!(!exists(&home), "{home} is there before the first submit");
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: first\nservices:\n  s:\n    resources: { memory: 256, vcores: 1 }\n    script: \"true\"\n";
    let started = Instant::now();
    let o = submit_and_wait(Some(ADMIN), &spec_file(dir.path(), "first", spec));
    assert_took_under(started, 180);
    let app = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let modes = [
        ("/user".to_string(), 0o755),
        (home.clone(), 0o755),
        (format!("{home}/.spindle"), 0o700),
        (format!("{home}/.spindle/{app}"), 0o700),
    ];
    for (path, mode) in modes {
        let status = file_at(&path);
        assert_eq!(status.permission, mode, "{path} is {:o}", status.permission);
    }
    assert_eq!(file_at(&home).owner, ADMIN);
}

/// A proxied user without a home directory: refused before submitting, in one line that
/// says where and why (no Java stack trace).
#[test]
fn a_proxied_user_without_a_home_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: homeless\nuser: gina\nservices:\n  s:\n    resources: { memory: 256, vcores: 1 }\n    script: sleep 1\n";
    let path = spec_file(dir.path(), "homeless", spec);
    let started = Instant::now();
    let o = spindle(None, &["submit", &path]);
    assert_refused_in_one_line(
        &o,
        started,
        &[
            "cannot create /user/gina:",
            "AccessControlException: Permission denied: user=gina",
        ],
    );
}
