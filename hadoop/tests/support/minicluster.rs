//! RAII guard around `scripts/minicluster.sh`: a real MiniDFSCluster + MiniYARNCluster
//! for integration tests. Start-up failures panic with the launcher's stderr: these
//! tests never skip.

use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use spindle_hadoop::config::Configuration;

/// Long enough for a first run that downloads Hadoop from Maven Central and builds the
/// launcher; override with `SPINDLE_MINICLUSTER_TIMEOUT_SECS`.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(900);

/// A running minicluster; dropping it stops every daemon.
pub struct MiniCluster {
    child: Child,
    /// Held open: the launcher also stops when its stdin closes, so even a test process
    /// killed without running `Drop` takes the cluster down. Control lines go here.
    stdin: Mutex<ChildStdin>,
    /// The launcher's stdout after READY: its answers to control lines.
    answers: Mutex<mpsc::Receiver<String>>,
    pub conf_dir: PathBuf,
    stderr_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl MiniCluster {
    /// Starts a cluster with `hosts` NodeManagers and DataNodes and waits for READY.
    #[allow(dead_code)] // the workspace root's tests use start_shared only
    pub fn start(hosts: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spindle-mini-")
            .tempdir()
            .expect("create a temp dir for the minicluster");
        let path = dir.path().to_path_buf();
        Self::start_in(&["--hosts".into(), hosts.to_string()], &path, Some(dir))
    }

    /// Starts a cluster whose state lives in `base` (emptied first), for a cluster that
    /// lives as long as the test process and so is never dropped.
    #[allow(dead_code)] // the hadoop crate's tests use start only
    pub fn start_shared(hosts: u32, base: &Path) -> Self {
        empty_dir(base);
        Self::start_in(&["--hosts".into(), hosts.to_string()], base, None)
    }

    /// Starts a cluster with launcher `options` (e.g. `--rms 2`) whose state lives in
    /// `base` (emptied first).
    #[allow(dead_code)] // only the ResourceManager fault tests start one
    pub fn start_shared_with(base: &Path, options: &[&str]) -> Self {
        empty_dir(base);
        let args: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        Self::start_in(&args, base, None)
    }

    /// Sends one control line (`failover`, `restart-rm`, `stop-rm`, `start-rm`: a cluster started
    /// with `--rms`) and returns the launcher's `DONE ...` answer once the change is
    /// made; panics on `FAILED ...` or after two minutes without an answer.
    #[allow(dead_code)] // only the ResourceManager fault tests send any
    pub fn control(&self, line: &str) -> String {
        {
            let mut stdin = self.stdin.lock().unwrap();
            writeln!(stdin, "{line}").expect("write a control line to the launcher");
            stdin.flush().expect("flush the launcher's stdin");
        }
        let answers = self.answers.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match answers.recv_timeout(left) {
                Ok(answer) if answer.starts_with(&format!("DONE {line}")) => return answer,
                Ok(answer) if answer.starts_with("FAILED") => panic!(
                    "control line {line:?}: {answer}\n--- launcher stderr (tail) ---\n{}",
                    self.stderr_tail()
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "no answer to control line {line:?} ({e})\n--- launcher stderr (tail) ---\n{}",
                    self.stderr_tail()
                ),
            }
        }
    }

    /// Starts a Kerberized cluster (`--secure` plus `options`, e.g. `--rpc-protection
    /// integrity`) whose state lives in `base` (emptied first). Its conf dir holds
    /// `krb5.conf`, `user.keytab` and `user.principal`.
    #[allow(dead_code)] // only the secure tests start one
    pub fn start_secure(base: &Path, options: &[&str]) -> Self {
        empty_dir(base);
        let mut args = vec!["--secure".to_string()];
        args.extend(options.iter().map(|o| o.to_string()));
        Self::start_in(&args, base, None)
    }

    fn start_in(args: &[String], base: &Path, dir: Option<tempfile::TempDir>) -> Self {
        // This file serves the workspace root's tests and the hadoop crate's.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = ["scripts/minicluster.sh", "../scripts/minicluster.sh"]
            .iter()
            .map(|p| manifest.join(p))
            .find(|p| p.is_file())
            .expect("scripts/minicluster.sh in the workspace");
        let conf_dir = base.join("conf");
        let stderr_path = base.join("launcher.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("create launcher stderr file");
        let timeout = std::env::var("SPINDLE_MINICLUSTER_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_START_TIMEOUT);

        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .arg("--conf-dir")
            .arg(&conf_dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // Own process group, so Drop can signal the script, Maven and the JVM at once.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let mut guard = Self {
            child,
            stdin: Mutex::new(stdin),
            answers: Mutex::new(rx),
            conf_dir,
            stderr_path,
            _dir: dir,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = guard.child.try_wait() {
                guard.fail(&format!("launcher exited with {status} before READY"));
            }
            if Instant::now() > deadline {
                guard.fail(&format!("no READY line within {timeout:?}"));
            }
            let line = guard
                .answers
                .get_mut()
                .unwrap()
                .recv_timeout(Duration::from_millis(200));
            match line {
                Ok(line) if line.starts_with("READY ") => {
                    let reported = PathBuf::from(line["READY ".len()..].trim());
                    assert_eq!(
                        reported, guard.conf_dir,
                        "launcher reported another conf dir"
                    );
                    return guard;
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// The cluster's client configuration.
    #[allow(dead_code)] // the secure tests reach HDFS through spindle only
    pub fn configuration(&self) -> Configuration {
        Configuration::load(std::slice::from_ref(&self.conf_dir))
            .expect("load the minicluster conf dir")
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        panic!(
            "minicluster did not start: {why}\n--- launcher stderr (tail) ---\n{}",
            self.stderr_tail()
        );
    }

    /// Freezes every daemon (NameNode, DataNodes, ResourceManager, NodeManagers: they
    /// share one JVM) until [`MiniCluster::resume`], as a stalled host would.
    #[allow(dead_code)] // used by the workspace root's fault tests only
    pub fn pause(&self) {
        self.signal_group("STOP");
    }

    #[allow(dead_code)]
    pub fn resume(&self) {
        self.signal_group("CONT");
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
    }

    /// SIGTERM to the group (the JVM's shutdown hooks stop the daemons), then SIGKILL
    /// after a grace period.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal_group("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal_group("KILL");
        let _ = self.child.wait();
    }
}

impl Drop for MiniCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Empties `base`, a directory under the test's own target dir that holds only an
/// earlier run's cluster state, and creates it again.
#[allow(dead_code)] // the hadoop crate's tests use start only
fn empty_dir(base: &Path) {
    let _ = std::fs::remove_dir_all(base);
    std::fs::create_dir_all(base).expect("create the minicluster dir");
}
