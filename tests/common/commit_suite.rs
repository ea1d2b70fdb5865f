//! The output-commit fault suite, run against every store (local files, S3, HDFS): each
//! case asserts the exact output, or that the old output is byte-for-byte intact, and how
//! long the fault took to end.

use super::BIN;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A place the suite writes outputs to and inspects them in, with spindle's own code kept
/// out of the inspection where the store allows.
pub trait TestStore {
    /// The URL of `rel` below this test's base.
    fn url(&self, rel: &str) -> String;
    fn put(&self, rel: &str, data: &[u8]);
    /// Every file below `rel`, by path relative to it, with its bytes.
    fn files(&self, rel: &str) -> BTreeMap<String, Vec<u8>>;
    /// Names directly below the base.
    fn top_names(&self) -> Vec<String>;
    /// Environment for the spindle process (HADOOP_CONF_DIR for HDFS).
    fn env(&self) -> Vec<(String, String)>;
    /// Whether directories rename in one step (then `after-move-old` exists on HDFS).
    fn has_move_old_step(&self) -> bool;
    /// The temporary file the store's put leaves beside a lease whose writer was killed
    /// inside a renewal (`None` where a put is atomic, as on S3).
    fn cut_short_lease_write(&self) -> Option<&'static str>;
}

/// The commit steps a pause or failure can be injected at, for this store.
fn steps(store: &dyn TestStore) -> Vec<&'static str> {
    let mut s = vec!["before-publish"];
    if store.has_move_old_step() {
        s.push("after-move-old");
    }
    s.extend(["after-publish", "done"]);
    s
}

/// Rows `version-i` for i in 0..n, one column, so outputs of different runs differ.
fn input_csv(version: u32, n: usize) -> String {
    let mut s = String::from("v,i\n");
    for i in 0..n {
        s.push_str(&format!("{version},{i}\n"));
    }
    s
}

fn spec(store: &dyn TestStore, work: &Path, version: u32, mode: &str) -> String {
    let input = work.join(format!("in-{version}.csv"));
    std::fs::write(&input, input_csv(version, 300)).unwrap();
    format!(
        "name: commit-v{version}\nworkers: {{ instances: 1, memory: 256 MiB }}\ninput:\n  path: \"{}\"\n  format: csv\n  split_size: 1 KiB\noutput:\n  path: \"{}\"\n  format: csv\n  mode: {mode}\n",
        input.display(),
        store.url("out")
    )
}

fn command(store: &dyn TestStore, work: &Path, spec: &str, hook: Option<&str>) -> Command {
    let path = work.join(format!("job-{}.yaml", rand_suffix()));
    std::fs::write(&path, spec).unwrap();
    let mut c = Command::new(BIN);
    c.arg("run").arg(&path).arg("--quiet").current_dir(work);
    for (k, v) in store.env() {
        c.env(k, v);
    }
    c.env_remove("SPINDLE_TEST_COMMIT_HOOK");
    if let Some(h) = hook {
        c.env("SPINDLE_TEST_COMMIT_HOOK", h);
    }
    c
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn run(store: &dyn TestStore, work: &Path, spec: &str, hook: Option<&str>) -> Output {
    command(store, work, spec, hook).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The data rows of an output's part files, sorted, or `None` unless it is one complete
/// commit: a spindle manifest whose files are all there.
fn complete_rows(files: &BTreeMap<String, Vec<u8>>) -> Option<Vec<String>> {
    let manifest: serde_json::Value = serde_json::from_slice(files.get("_SUCCESS")?).ok()?;
    let mut rows = vec![];
    for f in manifest["files"].as_array()? {
        let data = files.get(f.as_str()?)?;
        let text = String::from_utf8(data.clone()).ok()?;
        rows.extend(text.lines().skip(1).map(str::to_string));
    }
    rows.sort();
    Some(rows)
}

fn expected_rows(version: u32) -> Vec<String> {
    let mut rows: Vec<String> = input_csv(version, 300)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// Nothing of spindle's is left beside the output (staging, old outputs, leases and
/// their temporary files).
fn assert_no_leftovers(store: &dyn TestStore) {
    let left: Vec<String> = store
        .top_names()
        .into_iter()
        .filter(|n| n.starts_with(".out.spindle-") || n.starts_with("..out.spindle-"))
        .collect();
    assert!(left.is_empty(), "left beside the output: {left:?}");
}

/// The first committed output, version 1, checked.
fn first_commit(store: &dyn TestStore, work: &Path) -> BTreeMap<String, Vec<u8>> {
    let o = run(store, work, &spec(store, work, 1, "error_if_exists"), None);
    assert!(o.status.success(), "{}", text(&o));
    let files = store.files("out");
    assert_eq!(complete_rows(&files), Some(expected_rows(1)), "{files:?}");
    assert_no_leftovers(store);
    files
}

pub fn overwrite_replaces_exactly_the_previous_commit(store: &dyn TestStore) {
    let work = tempfile::tempdir().unwrap();
    let old = first_commit(store, work.path());
    let o = run(
        store,
        work.path(),
        &spec(store, work.path(), 2, "overwrite"),
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let new = store.files("out");
    assert_eq!(complete_rows(&new), Some(expected_rows(2)));
    let manifest: serde_json::Value = serde_json::from_slice(&new["_SUCCESS"]).unwrap();
    let mut listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .chain(["_SUCCESS"])
        .collect();
    listed.sort();
    let present: Vec<&str> = new.keys().map(String::as_str).collect();
    assert_eq!(present, listed, "old files left: {:?}", old.keys());
    assert_no_leftovers(store);
    // error_if_exists now refuses, before any work, and changes nothing.
    let o = run(
        store,
        work.path(),
        &spec(store, work.path(), 3, "error_if_exists"),
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    assert_eq!(store.files("out"), new);
}

pub fn overwrite_refuses_foreign_files(store: &dyn TestStore) {
    let work = tempfile::tempdir().unwrap();
    first_commit(store, work.path());
    store.put("out/notes.txt", b"precious");
    let before = store.files("out");
    let started = Instant::now();
    let o = run(
        store,
        work.path(),
        &spec(store, work.path(), 2, "overwrite"),
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("output.path"),
        "{err}"
    );
    assert_eq!(store.files("out"), before);
    assert_no_leftovers(store);
    assert!(started.elapsed() < Duration::from_secs(20));
}

pub fn failed_commit_leaves_the_old_output(store: &dyn TestStore) {
    let work = tempfile::tempdir().unwrap();
    let old = first_commit(store, work.path());
    for step in ["before-publish", "after-move-old"] {
        if step == "after-move-old" && !store.has_move_old_step() {
            continue;
        }
        let hook = format!("fail:{step}");
        let o = run(
            store,
            work.path(),
            &spec(store, work.path(), 2, "overwrite"),
            Some(&hook),
        );
        assert_eq!(o.status.code(), Some(1), "{step}: {}", text(&o));
        assert!(text(&o).contains("injected failure"), "{}", text(&o));
        assert_eq!(store.files("out"), old, "after a failure at {step}");
        assert_no_leftovers(store);
    }
}

/// Starts a job that pauses at `step`, waits for the pause (bounded), and returns it.
fn paused_at(store: &dyn TestStore, work: &Path, version: u32, step: &str) -> Child {
    let mut child = command(
        store,
        work,
        &spec(store, work, version, "overwrite"),
        Some(&format!("pause:{step}")),
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = vec![];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(&format!("paused at commit step {step}")) => return child,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no pause at {step} within 60 s; stderr: {seen:?}");
            }
        }
    }
}

pub fn kill_at_each_commit_step_then_recover(store: &dyn TestStore) {
    let work = tempfile::tempdir().unwrap();
    first_commit(store, work.path());
    let mut version = 1;
    for step in steps(store) {
        let mut job = paused_at(store, work.path(), version + 1, step);
        // Readers see one complete output at every pause: the old one or the new one.
        let rows = complete_rows(&store.files("out"));
        let want = if matches!(step, "before-publish" | "after-move-old") {
            version
        } else {
            version + 1
        };
        if step == "after-move-old" {
            // HDFS has no atomic exchange: between its two renames the output is absent
            // (never partial).
            assert_eq!(store.files("out"), BTreeMap::new(), "at {step}");
        } else {
            assert_eq!(rows, Some(expected_rows(want)), "at {step}");
        }
        job.kill().unwrap();
        job.wait().unwrap();
        // The next job on the output recovers first: the old output back before the
        // commit point, the new one kept after it.
        let next = want + 1;
        let started = Instant::now();
        let o = run(
            store,
            work.path(),
            &spec(store, work.path(), next, "overwrite"),
            None,
        );
        assert!(o.status.success(), "after a kill at {step}: {}", text(&o));
        assert!(started.elapsed() < Duration::from_secs(60));
        let files = store.files("out");
        assert_eq!(
            complete_rows(&files),
            Some(expected_rows(next)),
            "after {step}"
        );
        let manifest: serde_json::Value = serde_json::from_slice(&files["_SUCCESS"]).unwrap();
        assert_eq!(files.len(), manifest["files"].as_array().unwrap().len() + 1);
        assert_no_leftovers(store);
        version = next;
    }
}

pub fn one_writer_per_output(store: &dyn TestStore) {
    let work = tempfile::tempdir().unwrap();
    first_commit(store, work.path());
    let mut holder = paused_at(store, work.path(), 2, "before-publish");
    let started = Instant::now();
    let o = run(
        store,
        work.path(),
        &spec(store, work.path(), 3, "overwrite"),
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is being written by") && err.contains(&holder.id().to_string()),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(complete_rows(&store.files("out")), Some(expected_rows(1)));
    // The holder dies without releasing: its lease is taken over, with a warning.
    holder.kill().unwrap();
    holder.wait().unwrap();
    overwrite_taking_over_a_stale_lease(store, work.path(), 4);
}

pub fn expired_lease_of_another_host_is_taken_over(store: &dyn TestStore) {
    let work = tempfile::tempdir().unwrap();
    first_commit(store, work.path());
    let lease = serde_json::json!({
        "attempt": "1-dead", "host": "elsewhere.example", "pid": 1,
        "output": store.url("out"), "expires_unix_ms": 1000,
    });
    store.put(".out.spindle-lease", lease.to_string().as_bytes());
    if let Some(temp) = store.cut_short_lease_write() {
        store.put(temp, b"{\"attempt\":");
    }
    overwrite_taking_over_a_stale_lease(store, work.path(), 2);
}

/// Overwrites with `version`, which must take over a stale lease (with a warning) and
/// commit exactly its rows, leaving nothing behind.
fn overwrite_taking_over_a_stale_lease(store: &dyn TestStore, work: &Path, version: u32) {
    let o = run(store, work, &spec(store, work, version, "overwrite"), None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("took over a stale output lease"),
        "{}",
        text(&o)
    );
    assert_eq!(
        complete_rows(&store.files("out")),
        Some(expected_rows(version))
    );
    assert_no_leftovers(store);
}

/// The suite's tests for one store, each on a store of its own made by `$store(name)`:
/// `commit_suite_tests!(|name| S3Store::new(name));` inside a module of the test file.
#[allow(unused_macros)] // test files without a store of their own
macro_rules! commit_suite_tests {
    ($store:expr) => {
        use $crate::common::commit_suite as suite;

        #[test]
        fn overwrite_replaces_exactly_the_previous_commit() {
            suite::overwrite_replaces_exactly_the_previous_commit(&($store)("overwrite"));
        }

        #[test]
        fn overwrite_refuses_foreign_files() {
            suite::overwrite_refuses_foreign_files(&($store)("foreign"));
        }

        #[test]
        fn failed_commit_leaves_the_old_output() {
            suite::failed_commit_leaves_the_old_output(&($store)("failed-commit"));
        }

        #[test]
        fn kill_at_each_commit_step_then_recover() {
            suite::kill_at_each_commit_step_then_recover(&($store)("kill"));
        }

        #[test]
        fn one_writer_per_output() {
            suite::one_writer_per_output(&($store)("writers"));
        }

        #[test]
        fn expired_lease_of_another_host_is_taken_over() {
            suite::expired_lease_of_another_host_is_taken_over(&($store)("stale-lease"));
        }
    };
}
#[allow(unused_imports)]
pub(crate) use commit_suite_tests;
