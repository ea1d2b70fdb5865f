//! Faults of the cluster itself, on a real MiniDFSCluster + MiniYARNCluster of this file's
//! own (its tests freeze it, so it is not shared with other files): the NameNode paused
//! mid-scan, and the ResourceManager unreachable while `submit --wait` follows a job.
//! The tests take turns: each freezes or cuts what the other would use.

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::*;
use minicluster::MiniCluster;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

fn cluster() -> &'static MiniCluster {
    static CLUSTER: OnceLock<MiniCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-minicluster");
        MiniCluster::start_shared(1, &base)
    })
}

/// One test at a time on this cluster.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn default_fs() -> String {
    cluster()
        .configuration()
        .get("fs.defaultFS")
        .expect("fs.defaultFS")
}

fn spindle(conf_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("HADOOP_CONF_DIR", conf_dir)
        .env_remove("YARN_CONF_DIR");
    c
}

/// Copies local clicks into HDFS `dir` with a `spindle run` (no stages, csv out), and
/// returns them.
fn upload(dir: &str, n: usize, seed: u64) -> Vec<Click> {
    let local = tempfile::tempdir().unwrap();
    let rows = clicks(n, seed);
    write_csv(&local.path().join("in.csv"), &rows, true);
    let spec = format!(
        "name: upload\ninput: {{ path: \"{}/in.csv\", format: csv, split_size: 8 KiB }}\noutput: {{ path: \"{}{dir}\", format: csv }}\n",
        local.path().display(),
        default_fs()
    );
    let path = local.path().join("upload.yaml");
    std::fs::write(&path, spec).unwrap();
    let o = spindle(&cluster().conf_dir)
        .args(["run", path.to_str().unwrap(), "--quiet", "--workers", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    rows
}

#[test]
fn a_namenode_paused_for_twenty_seconds_mid_scan_delays_the_job_but_it_finishes_exact() {
    let _turn = turn();
    let rows = upload("/faults/pause/in", 4000, 31);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let scanning = dir.path().join("scanning");
    // many 2 KiB splits, each a little slow (about 9 s in all); the first to run says the
    // scan is under way
    let spec = format!(
        r#"name: paused
workers: {{ instances: 2, memory: 256 MiB }}
input: {{ path: "{fs}/faults/pause/in/*.csv", format: csv, split_size: 2 KiB }}
stages:
  - command: {{ run: "touch {scanning}; sleep 0.3; cat", format: csv }}
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: {{ by: [user], partitions: 3 }}
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
output: {{ path: "{out}", format: jsonl }}
"#,
        fs = default_fs(),
        out = out.display(),
        scanning = scanning.display()
    );
    let spec_path = dir.path().join("job.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let summary = dir.path().join("summary.json");
    let started = Instant::now();
    let mut job = spindle(&cluster().conf_dir)
        .args([
            "run",
            spec_path.to_str().unwrap(),
            "--quiet",
            "--summary-json",
        ])
        .arg(&summary)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !scanning.exists() {
        assert!(Instant::now() < deadline, "the scan never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    cluster().pause();
    std::thread::sleep(Duration::from_secs(20));
    cluster().resume();
    let mut err = String::new();
    job.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = job.wait().unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert!(
        summary["wall_time_s"].as_f64().unwrap() >= 20.0,
        "the job was still scanning when the NameNode froze: {summary}"
    );
    assert_eq!(by_user(&read_jsonl_rows(&out)), expected_by_user(&rows));
    assert!(took < Duration::from_secs(20 + 90), "took {took:?}");
}

/// A TCP relay to the ResourceManager that can be cut: while cut, connections are closed
/// as they come and those open are reset, as when the RM restarts.
struct Relay {
    addr: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut list = open2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay { addr, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// A copy of the cluster's client configuration with `yarn.resourcemanager.address`
/// pointing at `rm`.
fn conf_with_rm(rm: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&cluster().conf_dir).unwrap().flatten() {
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        if entry.file_name() == "yarn-site.xml" {
            let key = "<name>yarn.resourcemanager.address</name>";
            let at = text.find(key).expect("the RM address is configured");
            let from = at + text[at..].find("<value>").unwrap() + "<value>".len();
            let to = from + text[from..].find("</value>").unwrap();
            text.replace_range(from..to, rm);
        }
        std::fs::write(dir.path().join(entry.file_name()), text).unwrap();
    }
    dir
}

#[test]
fn submit_wait_rides_out_a_resource_manager_outage() {
    let _turn = turn();
    let rm = cluster()
        .configuration()
        .get("yarn.resourcemanager.address")
        .expect("the RM address");
    let relay = Relay::start(rm);
    let conf = conf_with_rm(&relay.addr);
    let rows = upload("/faults/rm/in", 300, 41);
    let dir = tempfile::tempdir().unwrap();
    // one slow task keeps the job running while the RM is out of reach
    let spec = format!(
        r#"name: rm-outage
workers: {{ instances: 1, memory: 256 MiB }}
input: {{ path: "{fs}/faults/rm/in/*.csv", format: csv }}
stages:
  - command: {{ run: "sleep 12; cat", format: csv }}
output: {{ path: "{fs}/faults/rm/out", format: jsonl }}
"#,
        fs = default_fs()
    );
    let spec_path = dir.path().join("job.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let started = Instant::now();
    let mut submit = spindle(conf.path())
        .args([
            "submit",
            spec_path.to_str().unwrap(),
            "--wait",
            "--am-memory-mb",
            "256",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(submit.stderr.take().unwrap());
    let seen = Arc::new(Mutex::new(String::new()));
    let (running_tx, running_rx) = std::sync::mpsc::channel();
    let seen2 = seen.clone();
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("RUNNING") {
                let _ = running_tx.send(());
            }
            let mut s = seen2.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    running_rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("never RUNNING: {}", seen.lock().unwrap()));
    // the RM goes away for eight seconds while the job runs
    relay.cut();
    std::thread::sleep(Duration::from_secs(8));
    relay.restore();
    let mut stdout = String::new();
    submit
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = submit.wait().unwrap();
    reader.join().unwrap();
    let err = seen.lock().unwrap().clone();
    assert!(status.success(), "stdout: {stdout}\nstderr: {err}");
    assert!(err.contains("retrying"), "the outage was noticed: {err}");
    assert!(
        stdout.trim_end().ends_with(|c: char| c.is_ascii_digit()),
        "{stdout}"
    );
    assert!(started.elapsed() < Duration::from_secs(240));
    // every row made it: copy the output back and count
    let back = dir.path().join("back");
    let copy = format!(
        "name: back\ninput: {{ path: \"{}/faults/rm/out/*.jsonl\", format: jsonl }}\noutput: {{ path: \"{}\", format: jsonl }}\n",
        default_fs(),
        back.display()
    );
    let copy_path = dir.path().join("back.yaml");
    std::fs::write(&copy_path, copy).unwrap();
    let o = spindle(&cluster().conf_dir)
        .args(["run", copy_path.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_jsonl_rows(&back).len(), rows.len());
}
