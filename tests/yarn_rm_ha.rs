//! ResourceManager faults on real ResourceManagers (`scripts/minicluster.sh --rms N`):
//! an HA pair failed over while `submit --wait` follows a job, and while the job runs;
//! its active RM restarted mid-job; `status`, `ls` and `kill` with the first RM down;
//! and a lone RM restarted with recovery mid-job. Each job's application master must
//! register again with the RM that forgot it, and each result must be exact. The
//! launcher changes the RMs when sent a control line and answers once the change is
//! made.

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::*;
use minicluster::MiniCluster;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An HA pair.
fn ha() -> &'static MiniCluster {
    static CLUSTER: OnceLock<MiniCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rm-ha-minicluster");
        MiniCluster::start_shared_with(&base, &["--rms", "2"])
    })
}

/// One RM, not HA, with recovery.
fn lone() -> &'static MiniCluster {
    static CLUSTER: OnceLock<MiniCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rm-restart-minicluster");
        MiniCluster::start_shared_with(&base, &["--rms", "1"])
    })
}

/// One test at a time on the HA set: each changes which RM is active.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long one job may take, faults included.
const JOB_BOUND: Duration = Duration::from_secs(180);

fn default_fs(cluster: &MiniCluster) -> String {
    cluster
        .configuration()
        .get("fs.defaultFS")
        .expect("fs.defaultFS")
}

fn spindle(cluster: &MiniCluster) -> Command {
    let mut c = Command::new(BIN);
    c.env("HADOOP_CONF_DIR", &cluster.conf_dir)
        .env_remove("YARN_CONF_DIR");
    c
}

fn run(cluster: &MiniCluster, args: &[&str]) -> Output {
    spindle(cluster).args(args).output().expect("spawn spindle")
}

/// Copies local clicks into HDFS `dir` with a local `spindle run`, and returns them.
fn upload(cluster: &MiniCluster, dir: &str, n: usize, seed: u64) -> Vec<Click> {
    let local = tempfile::tempdir().unwrap();
    let rows = clicks(n, seed);
    write_csv(&local.path().join("in.csv"), &rows, true);
    let spec = format!(
        "name: upload\ninput: {{ path: \"{}/in.csv\", format: csv, split_size: 4 KiB }}\noutput: {{ path: \"{}{dir}\", format: csv }}\n",
        local.path().display(),
        default_fs(cluster)
    );
    let path = local.path().join("upload.yaml");
    std::fs::write(&path, spec).unwrap();
    let o = run(
        cluster,
        &["run", path.to_str().unwrap(), "--quiet", "--workers", "2"],
    );
    assert!(o.status.success(), "{}", text(&o));
    rows
}

/// The rows under HDFS `dir`, read back with a local `spindle run`.
fn download(cluster: &MiniCluster, dir: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let local = tempfile::tempdir().unwrap();
    let back = local.path().join("back");
    let spec = format!(
        "name: back\ninput: {{ path: \"{}{dir}/*.jsonl\", format: jsonl }}\noutput: {{ path: \"{}\", format: jsonl }}\n",
        default_fs(cluster),
        back.display()
    );
    let path = local.path().join("back.yaml");
    std::fs::write(&path, spec).unwrap();
    let o = run(cluster, &["run", path.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    read_jsonl_rows(&back)
}

/// A group-by whose first stage takes a second per split, so that the job is still
/// running when the RM changes under it.
fn write_job(cluster: &MiniCluster, dir: &Path, name: &str, input: &str, out: &str) -> String {
    let spec = format!(
        r#"name: {name}
workers: {{ instances: 2, memory: 256 MiB }}
input: {{ path: "{fs}{input}/*.csv", format: csv, split_size: 4 KiB }}
stages:
  - command: {{ run: "sleep 1; cat", format: csv }}
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: {{ by: [user], partitions: 3 }}
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
output: {{ path: "{fs}{out}", format: jsonl }}
"#,
        fs = default_fs(cluster)
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

/// When, in `submit --wait`'s progress lines, the control line is sent.
#[derive(Clone, Copy, Debug)]
enum When {
    /// As soon as the RM has accepted the application.
    Submitted,
    /// Once some tasks are done: workers run and the master is registered.
    Working,
}

impl When {
    fn is_now(self, line: &str) -> bool {
        match self {
            When::Submitted => line.starts_with("submitted application_"),
            When::Working => line.contains(": RUNNING ") && !line.trim_end().ends_with(" 0%"),
        }
    }
}

/// What one `submit --wait` did while the RMs changed under it.
struct Faulted {
    app: String,
    /// Its stderr: progress lines, then the job's summary.
    stderr: String,
    answer: String,
    took: Duration,
}

/// Runs `submit SPEC --wait`, sends `line` to the launcher at `when`, and waits
/// for the submit to end (within [`JOB_BOUND`]).
fn submit_with_fault(cluster: &MiniCluster, spec: &str, when: When, line: &str) -> Faulted {
    let started = Instant::now();
    let mut child = spindle(cluster)
        .args(["submit", spec, "--wait", "--am-memory-mb", "256"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spindle submit");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (now_tx, now_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for l in stderr.lines().map_while(Result::ok) {
            if when.is_now(&l) {
                let _ = now_tx.send(());
            }
            seen.push_str(&l);
            seen.push('\n');
        }
        seen
    });
    let reached = now_rx.recv_timeout(JOB_BOUND).is_ok();
    let answer = if reached {
        cluster.control(line)
    } else {
        String::new()
    };
    let mut stdout = String::new();
    let mut out = child.stdout.take().unwrap();
    let waiter = std::thread::spawn(move || {
        let _ = out.read_to_string(&mut stdout);
        stdout
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > JOB_BOUND {
            let _ = child.kill();
            panic!("submit --wait still running after {JOB_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = waiter.join().unwrap();
    let stderr = reader.join().unwrap();
    assert!(reached, "never reached {when:?}:\n{stderr}");
    assert!(
        status.success(),
        "{status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let app = stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        app.starts_with("application_"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Faulted {
        app,
        stderr,
        answer,
        took: started.elapsed(),
    }
}

/// The application's logs, once YARN has its master's (aggregation follows the end).
fn master_log(cluster: &MiniCluster, app: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = run(cluster, &["logs", app, "--timeout", "30s"]);
        let log = String::from_utf8_lossy(&o.stdout).to_string();
        if o.status.success() && log.contains("job ended") {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no master log for {app}: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The job finished as a whole, exact, and in time.
fn assert_exact(cluster: &MiniCluster, f: &Faulted, rows: &[Click], out: &str) {
    assert!(f.stderr.contains(" succeeded in "), "{}", f.stderr);
    let rows_in = format!("input:    {} rows", rows.len());
    assert!(f.stderr.contains(&rows_in), "{}", f.stderr);
    assert_eq!(by_user(&download(cluster, out)), expected_by_user(rows));
    assert!(f.took < JOB_BOUND, "{:?}", f.took);
    let s = run(cluster, &["status", &f.app, "--json"]);
    assert!(s.status.success(), "{}", text(&s));
    let s: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(s["state"], "FINISHED", "{s}");
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
}

/// A job the RM changed under while its workers ran: exact, no worker lost, and its
/// master registered again with the RM that forgot it.
fn assert_rode_out(cluster: &MiniCluster, f: &Faulted, rows: &[Click], out: &str) {
    assert!(f.answer.contains("active=rm"), "{}", f.answer);
    assert_exact(cluster, f, rows, out);
    assert!(f.stderr.contains("workers (0 lost)"), "{}", f.stderr);
    let log = master_log(cluster, &f.app);
    assert!(log.contains("registering again"), "{log}");
}

#[test]
fn an_ha_pair_fails_over_during_submit_wait_and_during_a_running_job() {
    let cluster = ha();
    let _turn = turn();
    let rows = upload(cluster, "/ha/failover/in", 1500, 71);
    let dir = tempfile::tempdir().unwrap();

    // Failover while the application is being accepted and its master starts.
    let spec = write_job(
        cluster,
        dir.path(),
        "ha-early",
        "/ha/failover/in",
        "/ha/failover/early",
    );
    let early = submit_with_fault(cluster, &spec, When::Submitted, "failover");
    assert!(early.answer.contains("active=rm"), "{}", early.answer);
    assert_exact(cluster, &early, &rows, "/ha/failover/early");

    // Failover while workers run: the master finds the new active RM, registers again
    // and keeps its containers.
    let spec = write_job(
        cluster,
        dir.path(),
        "ha-mid",
        "/ha/failover/in",
        "/ha/failover/mid",
    );
    let mid = submit_with_fault(cluster, &spec, When::Working, "failover");
    assert_rode_out(cluster, &mid, &rows, "/ha/failover/mid");
    eprintln!(
        "failover during submit: {:.1} s; during the job: {:.1} s\n{}",
        early.took.as_secs_f64(),
        mid.took.as_secs_f64(),
        mid.stderr
    );
}

#[test]
fn a_pair_whose_active_rm_restarts_mid_job_finishes_it_exact() {
    let cluster = ha();
    let _turn = turn();
    let rows = upload(cluster, "/ha/restart/in", 1500, 74);
    let dir = tempfile::tempdir().unwrap();
    let spec = write_job(
        cluster,
        dir.path(),
        "ha-restart",
        "/ha/restart/in",
        "/ha/restart/out",
    );
    // While the active RM restarts, the other is a standby: nothing is active until the
    // restarted one has recovered.
    let f = submit_with_fault(cluster, &spec, When::Working, "restart-rm");
    assert_rode_out(cluster, &f, &rows, "/ha/restart/out");
}

#[test]
fn status_ls_and_kill_reach_the_active_rm_with_the_first_one_down() {
    let cluster = ha();
    let _turn = turn();
    // rm1 comes first in every client's list; make it the active one, then stop it.
    for _ in 0..2 {
        let conf = cluster.configuration();
        let first = conf.rm_addresses()[0].clone();
        if std::net::TcpStream::connect(&first).is_ok() {
            break;
        }
        cluster.control("failover");
    }
    let answer = cluster.control("stop-rm");
    assert!(answer.contains("stopped=rm1"), "{answer}");

    upload(cluster, "/ha/down/in", 300, 72);
    let dir = tempfile::tempdir().unwrap();
    let spec = write_job(
        cluster,
        dir.path(),
        "ha-down",
        "/ha/down/in",
        "/ha/down/out",
    );
    let started = Instant::now();
    let o = run(cluster, &["submit", &spec, "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    assert!(app.starts_with("application_"), "{}", text(&o));

    let deadline = Instant::now() + JOB_BOUND;
    let status = loop {
        let o = run(cluster, &["status", &app, "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if s["state"] == "RUNNING" {
            break s;
        }
        assert!(Instant::now() < deadline, "never RUNNING: {s}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(status["application_id"], app.as_str(), "{status}");

    let o = run(cluster, &["ls", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let apps: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        apps.as_array()
            .unwrap()
            .iter()
            .any(|a| a["application_id"] == app.as_str()),
        "{apps}"
    );

    let o = run(cluster, &["kill", &app]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(cluster, &["status", &app, "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["state"], "KILLED", "{s}");
    // Every call found the active RM past the stopped one without waiting on it.
    assert!(started.elapsed() < JOB_BOUND, "{:?}", started.elapsed());
    // The pair again, for the other test.
    let answer = cluster.control("start-rm");
    assert!(answer.contains("started=rm1"), "{answer}");
}

#[test]
fn a_restarted_rm_recovers_the_job_and_its_master_registers_again() {
    let cluster = lone();
    let rows = upload(cluster, "/restart/in", 1500, 73);
    let dir = tempfile::tempdir().unwrap();
    let spec = write_job(
        cluster,
        dir.path(),
        "rm-restart",
        "/restart/in",
        "/restart/out",
    );
    let f = submit_with_fault(cluster, &spec, When::Working, "restart-rm");
    assert!(f.answer.contains("active=rm1"), "{}", f.answer);
    assert_rode_out(cluster, &f, &rows, "/restart/out");
    eprintln!(
        "RM restart during the job: {:.1} s\n{}",
        f.took.as_secs_f64(),
        f.stderr
    );
}
