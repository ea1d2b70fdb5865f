//! spindle on a Kerberized minicluster (`scripts/minicluster.sh --secure`): the client
//! logs in from a ticket cache (`kinit` with the test user's keytab), speaks SASL
//! GSSAPI to the ResourceManager and the NameNode, hands the application an HDFS
//! delegation token, and the master and workers use tokens only. Every protection
//! (`privacy`, `integrity`, `authentication`) runs the ETL job end to end with HDFS in
//! and out, every row checked.
//!
//! Nothing here talks Kerberos in the test process: each cluster has its own KDC, and a
//! Kerberos client finds its KDC and tickets through the environment, so every HDFS
//! access goes through a `spindle` child process with that cluster's environment
//! (uploads and downloads are local `spindle run` jobs between a local dir and HDFS).

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::*;
use minicluster::MiniCluster;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A secure cluster and a ticket cache holding the test user's ticket.
struct Secure {
    cluster: MiniCluster,
    ccache: PathBuf,
    principal: String,
}

impl Secure {
    fn start(name: &str, options: &[&str]) -> Secure {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let cluster = MiniCluster::start_secure(&base, options);
        let conf = &cluster.conf_dir;
        let principal = std::fs::read_to_string(conf.join("user.principal"))
            .expect("user.principal in the conf dir")
            .trim()
            .to_string();
        let ccache = base.join("ccache");
        let o = Command::new("kinit")
            .arg("-kt")
            .arg(conf.join("user.keytab"))
            .arg(&principal)
            .env("KRB5_CONFIG", conf.join("krb5.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .output()
            .expect("kinit (MIT Kerberos; scripts/test.sh installs krb5-user)");
        assert!(o.status.success(), "kinit: {}", text(&o));
        Secure {
            cluster,
            ccache,
            principal,
        }
    }

    /// `spindle ARGS` as the test user, with the ticket cache `ccache`.
    fn spindle_with(&self, ccache: &Path, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("HADOOP_CONF_DIR", &self.cluster.conf_dir)
            .env_remove("YARN_CONF_DIR")
            .env_remove("HADOOP_USER_NAME")
            .env("KRB5_CONFIG", self.cluster.conf_dir.join("krb5.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .output()
            .expect("spawn spindle")
    }

    fn spindle(&self, args: &[&str]) -> Output {
        self.spindle_with(&self.ccache, args)
    }

    /// Copies `rows` into HDFS dir `dir` as jsonl, with a local job.
    fn upload(&self, rows: &[Click], dir: &str) {
        let local = tempfile::tempdir().unwrap();
        std::fs::create_dir(local.path().join("in")).unwrap();
        write_jsonl(&local.path().join("in/clicks.jsonl"), rows);
        let spec = local.path().join("up.yaml");
        std::fs::write(
            &spec,
            format!(
                "name: upload\nworkers: {{ instances: 1 }}\ninput: {{ path: \"{}/in/*.jsonl\", format: jsonl }}\noutput: {{ path: \"hdfs://{dir}\", format: jsonl }}\n",
                local.path().display()
            ),
        )
        .unwrap();
        let o = self.spindle(&["run", &spec.display().to_string()]);
        assert!(o.status.success(), "upload to {dir}: {}", text(&o));
    }

    /// The jsonl rows under HDFS dir `dir`, copied back with a local job.
    fn download(&self, dir: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let local = tempfile::tempdir().unwrap();
        let out = local.path().join("out");
        let spec = local.path().join("down.yaml");
        std::fs::write(
            &spec,
            format!(
                "name: download\nworkers: {{ instances: 1 }}\ninput: {{ path: \"hdfs://{dir}/part-*\", format: jsonl }}\noutput: {{ path: \"{}\", format: jsonl }}\n",
                out.display()
            ),
        )
        .unwrap();
        let o = self.spindle(&["run", &spec.display().to_string()]);
        assert!(o.status.success(), "download of {dir}: {}", text(&o));
        read_jsonl_rows(&out)
    }

    /// Writes a YARN job spec over `input` (jsonl in HDFS) and returns its path.
    fn spec(&self, dir: &Path, name: &str, input: &str, stages: &str, out: &str) -> String {
        let spec = dir.join("job.yaml");
        std::fs::write(
            &spec,
            format!(
                "name: {name}\nworkers: {{ instances: 2, memory: 256 MiB }}\ninput: {{ path: \"hdfs://{input}/part-*\", format: jsonl }}\n{stages}\noutput: {{ path: \"hdfs://{out}\", format: jsonl }}\n"
            ),
        )
        .unwrap();
        spec.display().to_string()
    }

    /// `hdfs://host:port` of the cluster's second HDFS (`--second-dfs`).
    fn second_dfs(&self) -> String {
        std::fs::read_to_string(self.cluster.conf_dir.join("second-dfs"))
            .expect("second-dfs in the conf dir: start the cluster with --second-dfs")
            .trim()
            .to_string()
    }

    fn status(&self, app: &str) -> serde_json::Value {
        let o = self.spindle(&["status", app, "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
    }

    /// Polls the application's status until `done`; fails at once if it ends otherwise.
    fn wait_for(&self, app: &str, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let s = self.status(app);
            if done(&s) {
                return;
            }
            let ended =
                ["FINISHED", "FAILED", "KILLED"].contains(&s["state"].as_str().unwrap_or(""));
            assert!(!ended, "ended before {what}: {s}");
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// The privacy cluster the tests share, with short token lifetimes: HDFS and YARN
/// delegation tokens must be renewed every 20 s, and the AMRMToken's key rolls every
/// 60 s (which brings the AM liveness expiry down to 20 s). A second HDFS runs beside it.
fn privacy() -> &'static Secure {
    static CLUSTER: OnceLock<Secure> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Secure::start(
            "secure-privacy",
            &[
                "--second-dfs",
                "--rpc-protection",
                "privacy",
                "--token-renew-interval-s",
                "20",
                "--am-rm-token-roll-s",
                "60",
            ],
        )
    })
}

const GROUP_BY: &str = r#"stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: { by: [user], partitions: 3 }
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user""#;

/// The last line of stdout: where `submit` puts the application id.
fn app_id(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.lines().last().unwrap_or_default().to_string();
    assert!(id.starts_with("application_"), "{}", text(o));
    id
}

/// Uploads clicks, runs the group-by on YARN and checks every output row; returns the
/// application id.
/// The group-by job through HDFS; its summary must say whether workers' traffic was
/// `encrypted` (it is exactly when the cluster asks for privacy).
fn group_by_end_to_end(s: &Secure, name: &str, encrypted: bool) -> String {
    let rows = clicks(1500, 11);
    let input = format!("/user/alice/{name}/in");
    let out = format!("/user/alice/{name}/out");
    s.upload(&rows, &input);
    let dir = tempfile::tempdir().unwrap();
    let spec = s.spec(dir.path(), name, &input, GROUP_BY, &out);
    let o = s.spindle(&["submit", &spec, "--wait", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    assert_eq!(
        text(&o).contains("traffic:  encrypted"),
        encrypted,
        "{}",
        text(&o)
    );
    assert_eq!(by_user(&s.download(&out)), expected_by_user(&rows));
    let report = s.status(&app);
    assert_eq!(report["final_status"], "SUCCEEDED", "{report}");
    assert_eq!(
        report["user"], "alice",
        "the application runs as the principal's user"
    );
    app
}

#[test]
fn the_etl_job_runs_end_to_end_with_privacy() {
    let s = privacy();
    let started = Instant::now();
    let app = group_by_end_to_end(s, "privacy", true);
    let o = s.spindle(&["ls", "--all", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&app),
        "{}",
        text(&o)
    );
    // Uploading the 130 MB binary through an encrypted pipeline is the slow part.
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_without_a_ticket_is_told_so_in_one_line() {
    let s = privacy();
    let nowhere = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-ccache");
    let started = Instant::now();
    let o = s.spindle_with(&nowhere, &["ls"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no Kerberos credentials: run kinit, or pass --principal and --keytab"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn kill_stops_a_running_application_on_a_secure_cluster() {
    let s = privacy();
    s.upload(&clicks(50, 3), "/user/alice/kill/in");
    let dir = tempfile::tempdir().unwrap();
    let stages = "stages:\n  - command: \"sleep 120; cat\"";
    let spec = s.spec(
        dir.path(),
        "secure-kill",
        "/user/alice/kill/in",
        stages,
        "/user/alice/kill/out",
    );
    let o = s.spindle(&["submit", &spec, "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    s.wait_for(&app, "RUNNING", |r| r["state"] == "RUNNING");
    let started = Instant::now();
    let o = s.spindle(&["kill", &app]);
    assert!(o.status.success(), "{}", text(&o));
    s.wait_for(&app, "KILLED", |r| r["state"] == "KILLED");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// The job runs for over 80 s: past four delegation-token renew intervals (the RM renews
/// the token; the master commits with it at the end) and at least one AMRMToken roll.
#[test]
fn a_job_outlives_token_renewal_and_the_amrm_token_roll() {
    let s = privacy();
    let rows = clicks(300, 5);
    s.upload(&rows, "/user/alice/long/in");
    let dir = tempfile::tempdir().unwrap();
    let stages = "stages:\n  - command: \"sleep 80; cat\"\n  - coalesce: 1";
    let spec = s.spec(
        dir.path(),
        "secure-long",
        "/user/alice/long/in",
        stages,
        "/user/alice/long/out",
    );
    let started = Instant::now();
    let o = s.spindle(&["submit", &spec, "--wait", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(started.elapsed() > Duration::from_secs(80));
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "{:?}",
        started.elapsed()
    );
    let app = app_id(&o);
    assert_eq!(s.download("/user/alice/long/out").len(), rows.len());
    let o = s.spindle(&["logs", &app]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rolled the AMRMToken over"),
        "the master saw no AMRMToken roll: {}",
        text(&o)
    );
    assert!(s.principal.starts_with("alice@"));
}

#[test]
fn the_etl_job_runs_end_to_end_with_integrity() {
    let s = Secure::start("secure-integrity", &["--rpc-protection", "integrity"]);
    group_by_end_to_end(&s, "integrity", false);
    a_client_asking_for_privacy_refuses_an_integrity_server(&s);
}

/// A client configured for `privacy` is not talked down to what the server offers.
fn a_client_asking_for_privacy_refuses_an_integrity_server(s: &Secure) {
    let conf = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&s.cluster.conf_dir).unwrap().flatten() {
        std::fs::copy(f.path(), conf.path().join(f.file_name())).unwrap();
    }
    // Every site file carries the key (the later ones win), so each is changed.
    let mut changed = 0;
    for name in ["core-site.xml", "hdfs-site.xml", "yarn-site.xml"] {
        let path = conf.path().join(name);
        let site = std::fs::read_to_string(&path).unwrap();
        let stricter = site.replace(
            "<name>hadoop.rpc.protection</name><value>integrity</value>",
            "<name>hadoop.rpc.protection</name><value>privacy</value>",
        );
        changed += usize::from(site != stricter);
        std::fs::write(&path, stricter).unwrap();
    }
    assert!(changed > 0, "no site file names hadoop.rpc.protection");
    let started = Instant::now();
    let o = Command::new(BIN)
        .args(["ls"])
        .env("HADOOP_CONF_DIR", conf.path())
        .env_remove("YARN_CONF_DIR")
        .env("KRB5_CONFIG", s.cluster.conf_dir.join("krb5.conf"))
        .env("KRB5CCNAME", format!("FILE:{}", s.ccache.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the server offers protection [integrity]")
            && err.contains("hadoop.rpc.protection allows only [privacy]"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_etl_job_runs_end_to_end_with_authentication() {
    let s = Secure::start(
        "secure-authentication",
        &["--rpc-protection", "authentication"],
    );
    group_by_end_to_end(&s, "authentication", false);
}

#[test]
fn a_keytab_login_needs_no_ticket_cache_and_leaves_none_behind() {
    let s = privacy();
    let nowhere = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-ccache");
    let keytab = s.cluster.conf_dir.join("user.keytab").display().to_string();
    let login = [
        "--principal",
        s.principal.as_str(),
        "--keytab",
        keytab.as_str(),
    ];
    let o = s.spindle_with(&nowhere, &[&login[..], &["ls", "--all"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    // Staging goes through hdfs-native, which finds the keytab's tickets too.
    let rows = clicks(100, 9);
    s.upload(&rows, "/user/alice/keytab/in");
    let dir = tempfile::tempdir().unwrap();
    let spec = s.spec(
        dir.path(),
        "secure-keytab",
        "/user/alice/keytab/in",
        "",
        "/user/alice/keytab/out",
    );
    let o = s.spindle_with(
        &nowhere,
        &[
            &login[..],
            &["submit", &spec, "--wait", "--am-memory-mb", "256"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.download("/user/alice/keytab/out").len(), rows.len());

    let started = Instant::now();
    let wrong = [
        "--principal",
        "bob@EXAMPLE.COM",
        "--keytab",
        keytab.as_str(),
        "ls",
    ];
    let o = s.spindle_with(&nowhere, &wrong);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bob@EXAMPLE.COM"),
        "{}",
        text(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // `spindle-krb5-<pid>-<n>`: one of a process that has ended was left behind (other
    // tests' keytab logins may be running now).
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let pid = name
                .strip_prefix("spindle-krb5-")
                .and_then(|r| r.split('-').next());
            pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists())
        })
        .collect();
    assert!(
        left.is_empty(),
        "private ticket caches left behind: {left:?}"
    );
}

/// A cluster whose HDFS delegation tokens live two minutes at most, with a second HDFS
/// whose tokens do too.
fn lifetime() -> &'static Secure {
    static CLUSTER: OnceLock<Secure> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Secure::start(
            "secure-lifetime",
            &["--token-max-lifetime-s", "120", "--second-dfs"],
        )
    })
}

/// `submit --wait --json` of `spec` twice at once: from the keytab, and from the ticket
/// cache; their outputs in that order.
fn submit_both_ways(s: &Secure, keytab_spec: &str, cache_spec: &str) -> (Output, Output) {
    let keytab = s.cluster.conf_dir.join("user.keytab").display().to_string();
    let nowhere = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-ccache");
    let submit = ["submit", "--wait", "--am-memory-mb", "256"];
    std::thread::scope(|scope| {
        let without = scope.spawn(|| s.spindle(&[&submit[..], &[cache_spec]].concat()));
        let login = ["--principal", &s.principal, "--keytab", &keytab];
        let with_keytab = s.spindle_with(&nowhere, &[&login[..], &submit, &[keytab_spec]].concat());
        (with_keytab, without.join().unwrap())
    })
}

/// Here an HDFS delegation token lives two minutes at most, and hdfs-native passes over
/// a token in its last minute, so the token `submit` got cannot open a connection after
/// one minute. Two jobs run for 100 s, then their masters record the summary over a new
/// connection. The one submitted with `--principal/--keytab` does: its master logged in
/// from the keytab, obtained fresh tokens and handed them to its workers too. The same
/// job submitted from a ticket cache at the same time cannot (connections opened early
/// stay up, so its output still lands; a worker started late would fail).
#[test]
fn a_keytab_job_outlives_its_tokens_max_lifetime_on_fresh_ones() {
    let s = lifetime();
    let rows = clicks(200, 8);
    s.upload(&rows, "/user/alice/lifetime/in");
    let dir = tempfile::tempdir().unwrap();
    let stages = "stages:\n  - command: \"sleep 100; cat\"\n  - coalesce: 1";
    let spec = |name: &str| {
        let dir = dir.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let out = format!("/user/alice/lifetime/{name}");
        s.spec(&dir, name, "/user/alice/lifetime/in", stages, &out)
    };
    let (fresh, stale) = (spec("fresh"), spec("stale"));
    let started = Instant::now();
    let (with_keytab, without) = submit_both_ways(s, &fresh, &stale);
    assert!(with_keytab.status.success(), "{}", text(&with_keytab));
    let summary_line = format!("output:   {} rows", rows.len());
    assert!(
        text(&with_keytab).contains(&summary_line),
        "no summary: {}",
        text(&with_keytab)
    );
    assert!(
        !text(&without).contains(&summary_line),
        "a master wrote to HDFS past its token's life without fresh tokens: {}",
        text(&without)
    );
    let o = s.spindle(&["logs", &app_id(&without)]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("cannot record the summary"),
        "{}",
        text(&o)
    );
    assert!(started.elapsed() > Duration::from_secs(100));
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.download("/user/alice/lifetime/fresh").len(), rows.len());
    let o = s.spindle(&["logs", &app_id(&with_keytab)]);
    assert!(o.status.success(), "{}", text(&o));
    let logs = String::from_utf8_lossy(&o.stdout);
    assert!(
        logs.contains("fresh delegation tokens handed out"),
        "the master obtained no fresh tokens: {logs}"
    );
    assert!(
        logs.contains("fresh delegation tokens in place"),
        "no worker took fresh tokens: {logs}"
    );
}

/// The same for a services application: its containers follow fresh tokens through the
/// key-value store. A service that reads HDFS after 100 s, from a new process, succeeds
/// when submitted with a keytab, and fails when submitted from a ticket cache. It reads
/// the second HDFS its spec names in `file_systems` then too: the master's fresh tokens
/// come from both NameNodes.
#[test]
fn a_keytab_service_reads_hdfs_past_its_tokens_max_lifetime() {
    let s = lifetime();
    let rows = clicks(50, 3);
    s.upload(&rows, "/user/alice/lifetime-svc/in");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("down.yaml"),
        "name: down\nworkers: { instances: 1 }\ninput: { path: \"hdfs:///user/alice/lifetime-svc/in/part-*\", format: jsonl }\noutput: { path: out, format: jsonl }\n",
    )
    .unwrap();
    // And the second HDFS, whose tokens come through `file_systems`.
    let second = s.second_dfs();
    std::fs::write(
        dir.path().join("other.yaml"),
        format!("name: other\nworkers: {{ instances: 1 }}\ninput: {{ path: \"{second}/shared/second.txt\", format: text }}\noutput: {{ path: other, format: jsonl }}\n"),
    )
    .unwrap();
    let spec = |name: &str| {
        let spec = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &spec,
            format!(
                "name: {name}\nfile_systems: [\"{second}\"]\nservices:\n  late:\n    resources: {{ memory: 256, vcores: 1 }}\n    files: {{ down.yaml: down.yaml, other.yaml: other.yaml }}\n    script: sleep 100 && spindle run down.yaml --quiet && echo rows=$(cat out/part-* | wc -l) && spindle run other.yaml --quiet && cat other/part-*\n"
            ),
        )
        .unwrap();
        spec.display().to_string()
    };
    let (fresh, stale) = (spec("late-fresh"), spec("late-stale"));
    let started = Instant::now();
    let (with_keytab, without) = submit_both_ways(s, &fresh, &stale);
    assert!(with_keytab.status.success(), "{}", text(&with_keytab));
    let fresh_app = app_id(&with_keytab);
    let report = s.status(&fresh_app);
    assert_eq!(report["final_status"], "SUCCEEDED", "{report}");
    let stale_app = app_id(&without);
    assert_eq!(
        s.status(&stale_app)["final_status"],
        "FAILED",
        "a service read HDFS past its token's life without fresh tokens: {}",
        text(&without)
    );
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "{:?}",
        started.elapsed()
    );
    let o = s.spindle(&["logs", &fresh_app]);
    let logs = String::from_utf8_lossy(&o.stdout);
    assert!(
        logs.contains(&format!("rows={}", rows.len())),
        "{}",
        text(&o)
    );
    assert!(
        logs.contains(r#"{"line":"from the second filesystem"}"#),
        "the second filesystem was not read past its token's life: {}",
        text(&o)
    );
    assert!(
        logs.contains("fresh delegation tokens in place"),
        "{}",
        text(&o)
    );
}

/// A command stage runs as the same user as its worker and can find the worker's
/// credentials file (here through the worker's environment): it holds the HDFS
/// delegation token HDFS clients need, and no longer the application's secret.
#[test]
fn a_command_finds_the_worker_credentials_without_the_secret() {
    let s = privacy();
    s.upload(&clicks(40, 4), "/user/alice/creds/in");
    let dir = tempfile::tempdir().unwrap();
    let stages = r#"stages:
  - command: 'cat >/dev/null; f=$(tr "\0" "\n" < /proc/$PPID/environ | sed -n "s/^HADOOP_TOKEN_FILE_LOCATION=//p"); echo "{\"secret\": $(grep -a -c spindle.secret "$f"), \"token\": $(grep -a -c HDFS_DELEGATION_TOKEN "$f")}"'"#;
    let spec = s.spec(
        dir.path(),
        "secure-creds",
        "/user/alice/creds/in",
        stages,
        "/user/alice/creds/out",
    );
    let o = s.spindle(&["submit", &spec, "--wait", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = s.download("/user/alice/creds/out");
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(
            r["secret"], 0,
            "the secret is still in the credentials file: {r:?}"
        );
        assert!(
            r["token"].as_i64().unwrap() >= 1,
            "the token is gone: {r:?}"
        );
    }
}

/// A services application: the service container gets a file shipped through HDFS
/// (localized with the delegation token) and its secret, and talks to the master's
/// key-value store, whose journal lives in HDFS; the master script ends the application.
#[test]
fn a_services_application_runs_on_a_secure_cluster() {
    let s = privacy();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hi there").unwrap();
    let spec = dir.path().join("app.yaml");
    std::fs::write(
        &spec,
        r#"name: secure-services
master:
  resources: { memory: 256, vcores: 1 }
  script: |
    got=$(spindle kv wait ok/done --timeout 90s)
    test "$got" = "hi there"
services:
  ok:
    resources: { memory: 256, vcores: 1 }
    files: { hello.txt: hello.txt }
    script: spindle kv put ok/done "$(cat hello.txt)"
"#,
    )
    .unwrap();
    let started = Instant::now();
    let o = s.spindle(&["submit", &spec.display().to_string(), "--wait", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["final_status"], "SUCCEEDED", "{report}");
    assert!(
        report["diagnostics"]
            .as_str()
            .unwrap()
            .contains("master script exited 0"),
        "{report}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "{:?}",
        started.elapsed()
    );
}

/// Skein's `user` on a Kerberos cluster: alice's login acts as dave (the cluster lets
/// her: `hadoop.proxyuser.alice.*`), so the application, its staging directory in
/// dave's home and its delegation tokens are dave's, and its containers run as dave.
#[test]
fn a_proxy_submits_on_another_users_behalf_with_kerberos() {
    let s = privacy();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hi dave").unwrap();
    let spec = dir.path().join("app.yaml");
    std::fs::write(
        &spec,
        r#"name: proxied
user: dave
master:
  resources: { memory: 256, vcores: 1 }
  script: |
    got=$(spindle kv wait ok/done --timeout 90s)
    test "$got" = "dave: hi dave"
services:
  ok:
    resources: { memory: 256, vcores: 1 }
    files: { hello.txt: hello.txt }
    script: |
      spindle kv put ok/done "$USER: $(cat hello.txt)"
"#,
    )
    .unwrap();
    let started = Instant::now();
    let o = s.spindle(&["submit", &spec.display().to_string(), "--wait", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["final_status"], "SUCCEEDED", "{report}");
    assert_eq!(report["user"], "dave", "{report}");
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "{:?}",
        started.elapsed()
    );

    // With a keytab the master would hold alice's keys in dave's containers: refused
    // before anything is made.
    let started = Instant::now();
    let keytab = s.cluster.conf_dir.join("user.keytab").display().to_string();
    let args = [
        "--principal",
        s.principal.as_str(),
        "--keytab",
        keytab.as_str(),
    ];
    let spec = spec.display().to_string();
    let o = s.spindle(&[&args[..], &["submit", spec.as_str()]].concat());
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("acting as dave"), "{}", text(&o));
    assert!(err.contains("--keytab"), "{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // A clean hands no keys on: alice's keytab login cleans dave's staging directory,
    // acting as him, and the application's directory goes.
    let app = report["application_id"]
        .as_str()
        .expect("an application id");
    let app_dir = format!("/user/dave/.spindle/{app}");
    let started = Instant::now();
    let clean = [
        "clean",
        "--proxy-user",
        "dave",
        "--older-than",
        "0s",
        "--json",
    ];
    let o = s.spindle(&[&args[..], &clean[..]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["staging_dir"], "/user/dave/.spindle", "{doc}");
    let removed = doc["removed"].as_array().unwrap();
    assert!(
        removed
            .iter()
            .any(|r| r["path"] == app_dir.as_str() && r["action"] == "removed"),
        "{doc}"
    );
    let o = s.spindle(
        &[
            &args[..],
            &["clean", "--proxy-user", "dave", "--dry-run", "--json"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(app),
        "{app_dir} is still there: {}",
        text(&o)
    );
}

/// Skein's `file_systems`: delegation tokens from another HDFS's NameNode reach the
/// containers. Three applications at once against the second HDFS: a service that reads
/// it with a fresh process succeeds when the spec names it in `file_systems`, and fails
/// when it does not; a service whose file lives there gets it, named or not (its token
/// comes with the file, for the NodeManager that fetches it).
#[test]
fn another_filesystems_tokens_come_through_file_systems_and_files() {
    let s = privacy();
    let second = s.second_dfs();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("other.yaml"),
        format!("name: other\nworkers: {{ instances: 1 }}\ninput: {{ path: \"{second}/shared/second.txt\", format: text }}\noutput: {{ path: other, format: jsonl }}\n"),
    )
    .unwrap();
    let read = "spindle run other.yaml --quiet && cat other/part-*";
    let spec = |name: &str, top: &str, files: &str, script: &str| {
        let spec = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &spec,
            format!("name: {name}\n{top}services:\n  reader:\n    resources: {{ memory: 256, vcores: 1 }}\n    files: {{ {files} }}\n    script: {script}\n"),
        )
        .unwrap();
        spec.display().to_string()
    };
    let named = spec(
        "fs-named",
        &format!("file_systems: [\"{second}\"]\n"),
        "other.yaml: other.yaml",
        read,
    );
    let unnamed = spec("fs-unnamed", "", "other.yaml: other.yaml", read);
    let fetched = spec(
        "fs-file",
        "",
        &format!("second.txt: \"{second}/shared/second.txt\""),
        "test \"$(cat second.txt)\" = \"from the second filesystem\"",
    );
    let started = Instant::now();
    let submit = |spec: &str| s.spindle(&["submit", spec, "--wait", "--am-memory-mb", "256"]);
    let (named, unnamed, fetched) = std::thread::scope(|scope| {
        let a = scope.spawn(|| submit(&named));
        let b = scope.spawn(|| submit(&unnamed));
        (a.join().unwrap(), b.join().unwrap(), submit(&fetched))
    });
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "{:?}",
        started.elapsed()
    );
    assert!(named.status.success(), "{}", text(&named));
    let logs = s.spindle(&["logs", &app_id(&named)]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains(r#"{"line":"from the second filesystem"}"#),
        "{}",
        text(&logs)
    );
    assert!(fetched.status.success(), "{}", text(&fetched));
    assert!(
        !unnamed.status.success(),
        "a container read another HDFS without its token: {}",
        text(&unnamed)
    );
    let unnamed = app_id(&unnamed);
    let report = s.status(&unnamed);
    assert_eq!(report["final_status"], "FAILED", "{report}");
    assert!(
        report["diagnostics"].as_str().unwrap().contains("reader"),
        "{report}"
    );
    // It failed for want of credentials for the second HDFS, nothing else.
    let logs = s.spindle(&["logs", &unnamed]);
    let logs = String::from_utf8_lossy(&logs.stdout);
    let refused = logs
        .lines()
        .find(|l| l.contains("error: job other failed"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        refused.contains(&format!("{second}/shared/second.txt"))
            && refused.contains("No credentials"),
        "{refused}"
    );
}

/// A Kerberized HA pair of ResourceManagers with recovery (`--rms 2`).
fn ha_pair() -> &'static Secure {
    static CLUSTER: OnceLock<Secure> = OnceLock::new();
    CLUSTER
        .get_or_init(|| Secure::start("secure-ha", &["--rpc-protection", "privacy", "--rms", "2"]))
}

#[test]
fn a_job_on_a_secure_ha_pair_survives_a_failover() {
    let s = ha_pair();
    let started = Instant::now();
    let rows = clicks(1500, 12);
    s.upload(&rows, "/user/alice/ha/in");
    let dir = tempfile::tempdir().unwrap();
    // Small splits whose first stage sleeps a second each: the job is running when the
    // RM goes.
    let spec = dir.path().join("job.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: secure-ha\nworkers: {{ instances: 2, memory: 256 MiB }}\ninput: {{ path: \"hdfs:///user/alice/ha/in/part-*\", format: jsonl, split_size: 8 KiB }}\nstages:\n  - command: {{ run: \"sleep 1; cat\", format: jsonl }}\n{}\noutput: {{ path: \"hdfs:///user/alice/ha/out\", format: jsonl }}\n",
            &GROUP_BY["stages:\n".len()..]
        ),
    )
    .unwrap();
    let spec = spec.display().to_string();
    let o = s.spindle(&["submit", &spec, "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    s.wait_for(&app, "tasks done", |r| {
        r["state"] == "RUNNING" && r["progress"].as_f64().unwrap_or(0.0) > 0.0
    });
    // The new active RM knows the application's AMRMToken key from the state store:
    // the master reconnects with its token and registers again.
    let answer = s.cluster.control("failover");
    assert!(answer.contains("active=rm2"), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(180);
    let report = loop {
        let r = s.status(&app);
        if ["FINISHED", "FAILED", "KILLED"].contains(&r["state"].as_str().unwrap_or("")) {
            break r;
        }
        assert!(Instant::now() < deadline, "still running: {r}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(report["final_status"], "SUCCEEDED", "{report}");
    assert_eq!(
        by_user(&s.download("/user/alice/ha/out")),
        expected_by_user(&rows)
    );
    let logs = s.spindle(&["logs", &app, "--timeout", "60s"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("registering again"),
        "{}",
        text(&logs)
    );
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "{:?}",
        started.elapsed()
    );
}
