//! Nothing lost on local files: the commit fault suite, outputs that overlap inputs or
//! protected places, symlinks, foreign entries, and signals. Every case checks the bytes
//! that must survive.

mod common;
use common::commit_suite::TestStore;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct LocalStore {
    base: tempfile::TempDir,
}

impl LocalStore {
    fn new() -> LocalStore {
        LocalStore {
            base: tempfile::tempdir().unwrap(),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for e in listing {
        let p = e.unwrap().path();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            out.insert(rel, std::fs::read(&p).unwrap_or_default());
        }
    }
}

impl TestStore for LocalStore {
    fn url(&self, rel: &str) -> String {
        self.base.path().join(rel).display().to_string()
    }
    fn put(&self, rel: &str, data: &[u8]) {
        let p = self.base.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    fn files(&self, rel: &str) -> BTreeMap<String, Vec<u8>> {
        let root = self.base.path().join(rel);
        let mut out = BTreeMap::new();
        walk(&root, &root, &mut out);
        out
    }
    fn top_names(&self) -> Vec<String> {
        std::fs::read_dir(self.base.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![]
    }
    fn has_move_old_step(&self) -> bool {
        false
    }
    fn cut_short_lease_write(&self) -> Option<&'static str> {
        Some(".out.spindle-lease#1")
    }
}

/// The commit fault suite (local files).
mod commit_suite {
    use super::*;
    common::commit_suite::commit_suite_tests!(|_: &str| LocalStore::new());
}

/// A job over `input` writing `out` in `mode`, run from `cwd`.
fn job(input: &Path, out: &str, mode: &str) -> String {
    format!(
        "name: guard\nworkers: {{ instances: 1, memory: 256 MiB }}\ninput:\n  path: \"{}\"\n  format: csv\noutput:\n  path: \"{out}\"\n  format: csv\n  mode: {mode}\n",
        input.display()
    )
}

fn run_in(cwd: &Path, spec: &str, env: &[(&str, &str)]) -> std::process::Output {
    let path = cwd.join("job.yaml");
    std::fs::write(&path, spec).unwrap();
    let mut c = Command::new(BIN);
    c.arg("run").arg(&path).arg("--quiet").current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Every file below `dir` with its bytes (symlinks as their target path).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.insert(
                    p.clone(),
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else if m.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn refused(o: &std::process::Output, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("output.path") && err.contains(want), "{err}");
}

#[test]
fn outputs_overlapping_inputs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let data = root.join("data");
    std::fs::create_dir_all(data.join("logs")).unwrap();
    write_csv(&data.join("logs/a.csv"), &clicks(50, 1), true);
    std::fs::write(data.join("sibling.txt"), "keep me").unwrap();
    std::os::unix::fs::symlink(&data, root.join("alias")).unwrap();
    let before = snapshot(&root);
    let input_dir = data.join("logs");
    let cases = [
        (input_dir.display().to_string(), "is the input directory"),
        (data.display().to_string(), "holds the input file"),
        (
            format!("{}/out", input_dir.display()),
            "lies inside the input directory",
        ),
        (
            format!("{}/alias/logs/out", root.display()),
            "lies inside the input directory",
        ),
        (
            format!("{}/logs/a.csv", data.display()),
            "lies inside the input directory",
        ),
    ];
    for (out, want) in cases {
        for mode in ["overwrite", "error_if_exists"] {
            let started = Instant::now();
            let o = run_in(&root, &job(&input_dir, &out, mode), &[]);
            refused(&o, want);
            assert!(started.elapsed() < Duration::from_secs(10));
        }
    }
    std::fs::remove_file(root.join("job.yaml")).unwrap();
    assert_eq!(snapshot(&root), before);
}

#[test]
fn roots_home_and_current_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let input = root.join("in.csv");
    write_csv(&input, &clicks(20, 2), true);
    let home = root.join("home");
    std::fs::create_dir_all(home.join("notes")).unwrap();
    std::fs::write(home.join("notes/todo"), "x").unwrap();
    let home_s = home.display().to_string();
    let env = [("HOME", home_s.as_str())];
    for (out, want) in [
        ("/".to_string(), "root of its filesystem"),
        ("file:///".to_string(), "root of its filesystem"),
        (".".to_string(), "current directory"),
        (root.display().to_string(), "current directory"),
        (home_s.clone(), "home directory"),
        ("~".to_string(), ""),
    ] {
        if out == "~" {
            continue; // not expanded by spindle: a directory named `~`
        }
        let o = run_in(&root, &job(&input, &out, "overwrite"), &env);
        refused(&o, want);
    }
    assert_eq!(
        std::fs::read_to_string(home.join("notes/todo")).unwrap(),
        "x"
    );
    assert!(input.exists());
}

#[test]
fn symlinks_and_subdirectories_in_an_output_are_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let input = root.join("in.csv");
    write_csv(&input, &clicks(40, 3), true);
    let out = root.join("out");
    let spec = job(&input, &out.display().to_string(), "overwrite");
    let o = run_in(&root, &spec, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("precious.csv"), "a,b\n1,2\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("link")).unwrap();
    let before = snapshot(&root);
    let o = run_in(&root, &spec, &[]);
    refused(&o, "link (symlink)");
    assert_eq!(snapshot(&root), before);
    std::fs::remove_file(out.join("link")).unwrap();
    std::fs::create_dir(out.join("sub")).unwrap();
    std::fs::write(out.join("sub/mine.txt"), "mine").unwrap();
    let before = snapshot(&root);
    let o = run_in(&root, &spec, &[]);
    refused(&o, "sub (directory)");
    assert_eq!(snapshot(&root), before);
    // An output that is itself a symlink is refused too, and its target kept.
    let link_out = root.join("link-out");
    std::os::unix::fs::symlink(&elsewhere, &link_out).unwrap();
    let o = run_in(
        &root,
        &job(&input, &link_out.display().to_string(), "overwrite"),
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("precious.csv")).unwrap(),
        "a,b\n1,2\n"
    );
}

/// Beside a stale lease, recovery removes the temporary file a killed renewal left and
/// nothing else: a link of that name goes, the file it points to stays, and so do
/// foreign files with nearly the same names and another output's temporary file.
#[test]
fn recovery_removes_only_the_lease_renewals_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let input = root.join("in.csv");
    write_csv(&input, &clicks(40, 3), true);
    let out = root.join("out");
    let stale = serde_json::json!({
        "attempt": "1-dead", "host": "elsewhere.example", "pid": 1,
        "output": out.display().to_string(), "expires_unix_ms": 1000,
    });
    std::fs::write(root.join(".out.spindle-lease"), stale.to_string()).unwrap();
    let precious = root.join("precious.txt");
    std::fs::write(&precious, "mine").unwrap();
    std::os::unix::fs::symlink(&precious, root.join(".out.spindle-lease#1")).unwrap();
    let foreign = [
        "out.spindle-lease#1",
        "..out2.spindle-lease.tmp.1",
        "..out.spindle-lease.tmp",
        ".out.spindle-lease.bak",
    ];
    for name in foreign {
        std::fs::write(root.join(name), name).unwrap();
    }
    let started = Instant::now();
    let o = run_in(
        &root,
        &job(&input, &out.display().to_string(), "overwrite"),
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(
        std::fs::symlink_metadata(root.join(".out.spindle-lease#1")).is_err(),
        "the renewal's temporary file is still there"
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "mine");
    for name in foreign {
        assert_eq!(std::fs::read_to_string(root.join(name)).unwrap(), name);
    }
}

/// A job whose single task sleeps in a command, so a signal finds it running.
fn slow_job(root: &Path) -> (String, PathBuf) {
    let input = root.join("in.csv");
    write_csv(&input, &clicks(5, 4), true);
    let out = root.join("out");
    let spec = format!(
        "name: slow\nworkers: {{ instances: 1, memory: 256 MiB }}\ninput:\n  path: \"{}\"\n  format: csv\nstages:\n  - command: \"sleep 30; cat\"\noutput:\n  path: \"{}\"\n  format: csv\n",
        input.display(),
        out.display()
    );
    (spec, out)
}

#[test]
fn sigint_and_sigterm_stop_cleanly_and_release_the_output() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (spec, out) = slow_job(&root);
        std::fs::write(root.join("job.yaml"), &spec).unwrap();
        let mut child = Command::new(BIN)
            .arg("run")
            .arg(root.join("job.yaml"))
            .arg("--quiet")
            .current_dir(&root)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the lease is held and the staging directory exists (bounded).
        let deadline = Instant::now() + Duration::from_secs(30);
        let staged = || {
            std::fs::read_dir(&root)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".out.spindle-"))
                .count()
        };
        while staged() < 1 {
            assert!(Instant::now() < deadline, "the job never took its lease");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        assert!(!out.exists(), "SIG{signal} left an output");
        assert_eq!(staged(), 0, "SIG{signal} left staging or its lease");
        // No worker or command survives the job.
        let orphans = Command::new("pgrep")
            .args(["-f", &format!("spindle-slow-{}", child.id())])
            .output()
            .unwrap();
        assert!(
            orphans.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&orphans.stdout)
        );
    }
}

#[test]
fn run_directory_is_private_and_removed_after_success() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let tmp = root.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let input = root.join("in.csv");
    write_csv(&input, &clicks(30, 5), true);
    let tmp_s = tmp.display().to_string();
    // A failing job keeps its run directory for its logs: private.
    let failing = format!(
        "name: private\nworkers: {{ instances: 1, memory: 256 MiB }}\ninput:\n  path: \"{}\"\n  format: csv\nstages:\n  - command: \"exit 3\"\noutput:\n  path: \"{}\"\n  format: csv\nmax_task_attempts: 1\n",
        input.display(),
        root.join("out").display()
    );
    let o = run_in(&root, &failing, &[("TMPDIR", &tmp_s)]);
    assert_eq!(o.status.code(), Some(1));
    let dirs: Vec<PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let mode = std::fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dirs[0].display());
    std::fs::remove_dir_all(&dirs[0]).unwrap();
    let ok = job(
        &input,
        &root.join("out").display().to_string(),
        "error_if_exists",
    );
    let o = run_in(&root, &ok, &[("TMPDIR", &tmp_s)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn a_job_longer_than_the_renewal_interval_keeps_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (spec, out) = slow_job(&root);
    // Past one renewal (every 10 s), well inside the lease's 30 s.
    let spec = spec.replace("sleep 30; cat", "sleep 12; cat");
    let started = Instant::now();
    let o = run_in(&root, &spec, &[]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    assert!(started.elapsed() > Duration::from_secs(12));
    assert!(!err.contains("lease"), "{err}");
    assert!(out.join("_SUCCESS").exists());
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".out.spindle-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
