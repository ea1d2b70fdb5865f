//! Helpers for end-to-end tests: generated inputs with known contents, `spindle run` as a
//! real process, and readers for its output that do not share code with spindle.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod commit_suite;
pub mod tpch;

pub const BIN: &str = env!("CARGO_BIN_EXE_spindle");

/// Children of `pid` whose command line contains `role` (`worker`, `query-worker`).
pub fn child_pids(pid: u32, role: &str) -> Vec<i32> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmd = std::fs::read_to_string(format!("/proc/{child}/cmdline")).unwrap_or_default();
        if ppid == pid && cmd.contains(role) {
            found.push(child);
        }
    }
    found
}

/// Whether process `pid` has ended (gone, or a zombie nobody has reaped yet).
pub fn process_ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
            after.split_whitespace().next() == Some("Z")
        }
    }
}

/// Sends `sig` to process `pid`; true when it was delivered.
pub fn signal(pid: u32, sig: i32) -> bool {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { kill(pid as i32, sig) == 0 }
}

#[derive(Debug, Clone)]
pub struct Click {
    pub user: String,
    pub url: String,
    pub status: i64,
    pub bytes: Option<i64>,
}

/// Deterministic clicks with awkward content: UTF-8 users, commas inside quoted urls,
/// missing byte counts.
pub fn clicks(n: usize, seed: u64) -> Vec<Click> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let users = [
        "ana", "bo", "zoë", "李雷", "o'neil", "x y", "u7", "u8", "u9", "u10",
    ];
    (0..n)
        .map(|_| {
            let r = next();
            Click {
                user: format!("{}{}", users[(r % 10) as usize], (r >> 8) % 7),
                url: if r % 5 == 0 {
                    format!("/q?a={},b={}", r % 100, r % 3)
                } else {
                    format!("/p/{}", r % 1000)
                },
                status: [200, 200, 200, 404, 500][((r >> 16) % 5) as usize],
                bytes: if (r >> 20) % 13 == 0 {
                    None
                } else {
                    Some(((r >> 24) % 100_000) as i64)
                },
            }
        })
        .collect()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes clicks as CSV with a header; `trailing_newline: false` drops the last newline.
pub fn write_csv(path: &Path, rows: &[Click], trailing_newline: bool) {
    let mut text = String::from("user,url,status,bytes\n");
    for c in rows {
        text.push_str(&format!(
            "{},{},{},{}\n",
            csv_field(&c.user),
            csv_field(&c.url),
            c.status,
            c.bytes.map(|b| b.to_string()).unwrap_or_default()
        ));
    }
    if !trailing_newline {
        text.pop();
    }
    std::fs::write(path, text).unwrap();
}

pub fn write_jsonl(path: &Path, rows: &[Click]) {
    let mut text = String::new();
    for c in rows {
        let v =
            serde_json::json!({"user": c.user, "url": c.url, "status": c.status, "bytes": c.bytes});
        text.push_str(&v.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Per user, for status 200: (sum of bytes, or None if all missing; row count).
pub fn expected_by_user(rows: &[Click]) -> BTreeMap<String, (Option<i64>, i64)> {
    let mut m: BTreeMap<String, (Option<i64>, i64)> = BTreeMap::new();
    for c in rows.iter().filter(|c| c.status == 200) {
        let e = m.entry(c.user.clone()).or_insert((None, 0));
        if let Some(b) = c.bytes {
            e.0 = Some(e.0.unwrap_or(0) + b);
        }
        e.1 += 1;
    }
    m
}

/// A finished process's status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub struct Run {
    pub output: Output,
    pub summary: serde_json::Value,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).to_string()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).to_string()
    }
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }
    pub fn assert_ok(&self) {
        assert!(
            self.ok(),
            "spindle run failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }
}

/// Writes `spec` into `dir` and runs it with `args`.
pub fn run_spec(dir: &Path, spec: &str, args: &[&str]) -> Run {
    let spec_path = dir.join("job.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let summary_path = dir.join("summary.json");
    let _ = std::fs::remove_file(&summary_path);
    let output = Command::new(BIN)
        .arg("run")
        .arg(&spec_path)
        .arg("--summary-json")
        .arg(&summary_path)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("spawn spindle");
    let summary = std::fs::read_to_string(&summary_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    Run { output, summary }
}

/// Output part files, in name order.
pub fn part_files(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
        })
        .collect();
    v.sort();
    v
}

/// All rows of jsonl part files as JSON objects.
pub fn read_jsonl_rows(out: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut rows = vec![];
    for f in part_files(out) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            rows.push(v.as_object().unwrap().clone());
        }
    }
    rows
}

/// Reads `{user, bytes, hits}` rows into the shape of [`expected_by_user`].
pub fn by_user(
    rows: &[serde_json::Map<String, serde_json::Value>],
) -> BTreeMap<String, (Option<i64>, i64)> {
    let mut m = BTreeMap::new();
    for r in rows {
        let user = r["user"].as_str().unwrap().to_string();
        let bytes = r.get("bytes").and_then(|v| v.as_i64());
        let hits = r["hits"].as_i64().unwrap();
        assert!(
            m.insert(user.clone(), (bytes, hits)).is_none(),
            "user {user} appears twice"
        );
    }
    m
}

pub fn no_visible_output(out: &Path) -> bool {
    !out.exists() || std::fs::read_dir(out).unwrap().next().is_none()
}

/// What lies in `dir` that a job on output `dir/out` writes: `out` itself, and any
/// staging directory, lease or old output beside it (`.out.spindle-*`), sorted.
pub fn beside_output(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".spindle-") || n == "out")
        .collect();
    names.sort();
    names
}

/// `spindle ARGS...` against the cluster whose client configuration is in `conf_dir`.
pub fn spindle_on(conf_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HADOOP_CONF_DIR", conf_dir)
        .env_remove("YARN_CONF_DIR")
        .output()
        .expect("spawn spindle")
}

/// `spindle explain SPEC ARGS...`.
pub fn explain(spec: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("explain")
        .arg(spec)
        .args(args)
        .output()
        .unwrap()
}

/// Fails unless `started` was less than `secs` ago: every fault a test provokes ends.
pub fn assert_took_under(started: std::time::Instant, secs: u64) {
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(secs), "took {took:?}");
}

/// An HDFS client of a test cluster: its `fs.defaultFS` with the site files of
/// `conf_dir`, as the test's own user (the minicluster's HDFS superuser).
pub fn hdfs_client(default_fs: &str, conf_dir: &Path) -> hdfs_native::Client {
    hdfs_native::ClientBuilder::new()
        .with_url(default_fs)
        .with_config_dir(conf_dir.display().to_string())
        .build()
        .expect("HDFS client")
}

/// Runs `f` to completion on a runtime of its own.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
