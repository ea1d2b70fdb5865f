//! Services applications (Skein's spec format) on the minicluster: dependency order, the
//! key-value store from inside containers, files and archives, `container ls|kill`,
//! `scale`, `shutdown`, restarts, `allow_failures` and the master script.

use super::*;

/// Writes `files` (name, content) and the spec `app.yaml` into a new directory.
fn app_dir(spec: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.yaml"), spec).unwrap();
    for (name, data) in files {
        std::fs::write(dir.path().join(name), data).unwrap();
    }
    dir
}

fn submit_app(dir: &tempfile::TempDir, extra: &[&str]) -> Output {
    let spec = dir.path().join("app.yaml").display().to_string();
    let mut args = vec!["submit", spec.as_str()];
    args.extend_from_slice(extra);
    spindle(&args)
}

/// A tar.gz holding `greeting.py`, made with the system's tar.
fn greeting_archive(dir: &Path) -> Vec<u8> {
    let src = dir.join("pkg");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("greeting.py"), "WORDS = 'hello from'\n").unwrap();
    let out = dir.join("pkg.tar.gz");
    let tar = Command::new("tar")
        .args([
            "czf",
            &out.display().to_string(),
            "-C",
            &src.display().to_string(),
            ".",
        ])
        .status()
        .expect("tar");
    assert!(tar.success());
    std::fs::read(out).unwrap()
}

const SERVER_PY: &str = r#"
import os, socket, subprocess, sys
sys.path.insert(0, "pkg")
from greeting import WORDS
s = socket.socket()
s.bind((os.environ["NM_HOST"], 0))
s.listen(8)
addr = "%s:%d" % s.getsockname()
me = os.environ["SPINDLE_CONTAINER_ID"]
subprocess.run(["spindle", "kv", "put", "server/" + me, addr, "--owner", os.environ["CONTAINER_ID"]], check=True)
while True:
    c, _ = s.accept()
    c.sendall(("%s %s" % (WORDS, os.environ["SPINDLE_CONTAINER_ID"])).encode())
    c.close()
"#;

const CLIENT_PY: &str = r#"
import socket, subprocess
addr = subprocess.run(["spindle", "kv", "wait", "server/server_0", "--timeout", "60s"], check=True, capture_output=True, text=True).stdout
host, port = addr.rsplit(":", 1)
c = socket.create_connection((host, int(port)), timeout=10)
reply = c.recv(100).decode()
subprocess.run(["spindle", "kv", "put", "client/reply", reply], check=True)
"#;

fn containers(app: &str) -> Vec<serde_json::Value> {
    let o = spindle(&["container", "ls", app, "--all", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn state_of(app: &str, name: &str) -> Option<String> {
    containers(app)
        .into_iter()
        .find(|c| c["name"] == name)
        .map(|c| c["state"].as_str().unwrap().to_string())
}

fn wait_state(app: &str, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while state_of(app, name).as_deref() != Some(want) {
        assert!(
            Instant::now() < deadline,
            "{name} never became {want}: {:?}",
            containers(app)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_services_find_each_other_through_the_store_and_obey_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = greeting_archive(tmp.path());
    let spec = r#"# Skein's format, as a Skein user writes it
name: two-services
queue: default
max_attempts: 1
tags: [it]
services:
  server:
    instances: 2
    resources: { memory: 256, vcores: 1 }
    files:
      server.py: server.py
      pkg: { source: pkg.tar.gz, type: archive }
    script: python3 server.py
  client:
    resources: { memory: 256 MiB, vcores: 1 }
    depends: [server]
    files: { client.py: client.py }
    env: { GREETING_TIMEOUT: 60 }
    script: |
      set -e
      test "$GREETING_TIMEOUT" = 60
      python3 client.py
"#;
    let dir = app_dir(
        spec,
        &[
            ("server.py", SERVER_PY.as_bytes()),
            ("client.py", CLIENT_PY.as_bytes()),
            ("pkg.tar.gz", &archive),
        ],
    );
    let submitted = Instant::now();
    let o = submit_app(&dir, &["--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    // Local files are stored once per content hash, beside the binary, for reuse.
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let stored = ls(&format!("/user/{user}/.spindle/files"));
    for name in ["-server.py", "-client.py", "-pkg.tar.gz"] {
        assert_eq!(
            stored.iter().filter(|f| f.ends_with(name)).count(),
            1,
            "{stored:?}"
        );
    }
    let o = spindle(&[
        "kv",
        "wait",
        "client/reply",
        "--timeout",
        "150s",
        "--app",
        &app,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello from server_0");
    eprintln!(
        "submit to the client's answer: {:.1} s",
        submitted.elapsed().as_secs_f64()
    );
    wait_state(&app, "client_0", "SUCCEEDED");
    wait_state(&app, "server_1", "RUNNING");
    // The owned address goes with its container: kill it, and it is not replaced.
    let o = spindle(&["container", "kill", &app, "server_0"]);
    assert!(o.status.success(), "{}", text(&o));
    wait_state(&app, "server_0", "KILLED");
    let gone = Instant::now();
    while spindle(&["kv", "get", "server/server_0", "--app", &app])
        .status
        .success()
    {
        assert!(
            gone.elapsed() < Duration::from_secs(60),
            "the owned key outlived its container"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Scale up: a new instance, numbered on.
    let o = spindle(&["scale", &app, "server", "+1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("server scaled to 2"),
        "{}",
        text(&o)
    );
    wait_state(&app, "server_2", "RUNNING");
    let o = spindle(&["scale", &app, "nope", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no service nope"),
        "{}",
        text(&o)
    );
    let o = spindle(&["container", "ls", &app]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        listing.contains("server_1") && listing.contains("server_2"),
        "{listing}"
    );
    assert!(
        !listing.contains("client_0"),
        "ended containers need --all: {listing}"
    );
    // Nobody without the application's secret gets in: not another application's
    // (any other secret), not an empty one.
    let s = status(&app);
    let address = format!("{}:{}", s["am_host"].as_str().unwrap(), s["am_rpc_port"]);
    for secret in [spindle_io::net::new_secret(), String::new()] {
        let tried = Instant::now();
        let connected = runtime().block_on(async {
            let mut c = spindle_appmaster::kv::client::KvClient::connect(&address, &secret).await?;
            c.list(spindle_appmaster::kv::store::KeyRange::Prefix(String::new()))
                .await
        });
        assert!(
            connected.is_err(),
            "{address} let a stranger in: {connected:?}"
        );
        assert!(tried.elapsed() < Duration::from_secs(10));
    }
    // Shut down: the application ends as told, promptly, and `--wait` returns once
    // YARN has recorded it.
    let asked = Instant::now();
    let o = spindle(&[
        "shutdown",
        &app,
        "--status",
        "SUCCEEDED",
        "--diagnostics",
        "done testing",
        "--wait",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("{app}: FINISHED (SUCCEEDED)")),
        "{}",
        text(&o)
    );
    let s = status(&app);
    assert_eq!(s["state"], "FINISHED", "{s}");
    assert_eq!(s["final_status"], "SUCCEEDED", "{s}");
    assert!(
        s["diagnostics"].as_str().unwrap().contains("done testing"),
        "{s}"
    );
    assert!(asked.elapsed() < Duration::from_secs(60));
}

#[test]
fn restarts_allow_failures_and_the_master_script_end_the_application_as_specified() {
    // A service that always fails uses its restarts, then fails the application.
    let failing = app_dir(
        "name: failing\nservices:\n  flaky:\n    resources: { memory: 256, vcores: 1 }\n    max_restarts: 2\n    script: echo giving up >&2; exit 3\n",
        &[],
    );
    let started = Instant::now();
    let o = submit_app(&failing, &["--wait", "--am-memory-mb", "256"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("service flaky failed: flaky_2"),
        "{}",
        text(&o)
    );
    assert!(err.contains("after 2 restarts"), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(180));

    // The master script decides; an allowed failure does not end anything.
    let mastered = app_dir(
        r#"name: mastered
master:
  resources: { memory: 256, vcores: 1 }
  env: { WANT: "yes" }
  script: |
    got=$(spindle kv wait ok/done --timeout 90s)
    test "$got" = "$WANT"
services:
  ok:
    resources: { memory: 256, vcores: 1 }
    script: spindle kv put ok/done yes
  bad:
    resources: { memory: 256, vcores: 1 }
    allow_failures: true
    script: exit 1
"#,
        &[],
    );
    let started = Instant::now();
    let o = submit_app(&mastered, &["--wait", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["final_status"], "SUCCEEDED", "{report}");
    assert_eq!(report["summary"]["outcome"], "SUCCEEDED", "{report}");
    assert!(
        report["diagnostics"]
            .as_str()
            .unwrap()
            .contains("master script exited 0"),
        "{report}"
    );
    assert!(started.elapsed() < Duration::from_secs(180));
}

#[test]
fn a_new_master_attempt_starts_the_services_again_with_the_store_intact() {
    let dir = app_dir(
        "name: restartable\nmax_attempts: 2\nmaster: { resources: { memory: 256 } }\nservices:\n  s:\n    resources: { memory: 256 }\n    script: spindle kv put \"s/$SPINDLE_CONTAINER_ID/$CONTAINER_ID\" up && sleep 600\n",
        &[],
    );
    let o = submit_app(&dir, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let kv = |args: &[&str]| {
        let mut all = vec!["kv"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--app", &app]);
        spindle(&all)
    };
    wait_for(&app, "the AM to register", |s| {
        s["am_rpc_port"].as_i64().unwrap_or(-1) > 0
    });
    wait_state(&app, "s_0", "RUNNING");
    let ran = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let o = kv(&["ls", "s/s_0/"]);
            let keys: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect();
            if keys.len() == n {
                return keys;
            }
            assert!(
                Instant::now() < deadline,
                "s_0 did not run {n} times: {keys:?}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    ran(1);
    assert!(kv(&["put", "kept", "yes"]).status.success());
    let first = status(&app);
    let masters = spindle_processes(&app, "appmaster");
    assert_eq!(masters.len(), 1, "one application master");
    let killed_at = Instant::now();
    assert!(signal(masters[0].1 as u32, 9));
    wait_for(&app, "a second attempt to register", |s| {
        s["state"] == "RUNNING"
            && s["am_rpc_port"].as_i64().unwrap_or(-1) > 0
            && s["am_rpc_port"] != first["am_rpc_port"]
    });
    // The new attempt runs the service in a new container; the old one's record is gone.
    let started_again = ran(2);
    assert!(
        started_again.iter().any(|k| k.contains("_02_")),
        "{started_again:?}"
    );
    let listed = containers(&app);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "RUNNING");
    assert!(
        listed[0]["container"].as_str().unwrap().contains("_02_"),
        "{listed:?}"
    );
    assert_eq!(kv(&["get", "kept"]).stdout, b"yes");
    assert!(killed_at.elapsed() < Duration::from_secs(180));
    assert!(spindle(&["shutdown", &app]).status.success());
}

/// `venv-pack`, which scripts/test.sh installs (a missing one fails the test).
fn venv_pack() -> String {
    let tool = std::env::var("SPINDLE_TEST_VENV_PACK").unwrap_or_default();
    assert!(
        Path::new(&tool).is_file(),
        "SPINDLE_TEST_VENV_PACK={tool:?} is not venv-pack: run the tests through scripts/test.sh"
    );
    tool
}

fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn a_packed_python_environment_runs_a_service_script() {
    let tool = venv_pack();
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env");
    run_ok(
        Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&env),
    );
    let site = run_ok(Command::new(env.join("bin/python")).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]));
    std::fs::write(
        Path::new(&site).join("greeting_pkg.py"),
        "WORDS = 'hello from a packed environment'\n",
    )
    .unwrap();
    let packed = tmp.path().join("env.tar.gz");
    run_ok(
        Command::new(&tool)
            .arg("-p")
            .arg(&env)
            .arg("-o")
            .arg(&packed),
    );
    let spec = r#"name: packed-python
services:
  py:
    resources: { memory: 256, vcores: 1 }
    files:
      environment: { source: env.tar.gz, type: archive }
    script: |
      set -e
      source environment/bin/activate
      python -c 'import greeting_pkg, sys; print(greeting_pkg.WORDS); print(sys.prefix)'
"#;
    let dir = app_dir(spec, &[("env.tar.gz", &std::fs::read(&packed).unwrap())]);
    let started = Instant::now();
    let o = submit_app(&dir, &["--wait", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    let o = spindle(&["logs", &app, "--service", "py", "--file", "py.out"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let mut lines = out.lines().filter(|l| !l.starts_with("==> "));
    assert_eq!(
        lines.next(),
        Some("hello from a packed environment"),
        "{out}"
    );
    // The interpreter's prefix is the unpacked archive in the container, not the
    // environment it was packed from.
    let prefix = lines.next().unwrap_or_default();
    assert!(prefix.ends_with("/environment"), "{out}");
    assert!(!prefix.starts_with(&env.display().to_string()), "{out}");
    assert!(started.elapsed() < Duration::from_secs(240));
}

/// `visibility: public` (Skein's): a file everyone may read on HDFS is localized into
/// the node's public cache and read by the service; a file only its owner may read, a
/// directory above it that others may not enter, and a local file are each refused by
/// `submit`, naming the file, before any application starts.
#[test]
fn public_files_are_checked_readable_by_everyone_before_submitting() {
    let base = "/public-files";
    put(&format!("{base}/open/data.txt"), b"hello public\n".to_vec());
    put(&format!("{base}/closed/data.txt"), b"secret\n".to_vec());
    put(
        &format!("{base}/shut/data.txt"),
        b"behind a door\n".to_vec(),
    );
    runtime().block_on(async {
        let fs = hdfs();
        for (path, mode) in [
            (base.to_string(), 0o755),
            (format!("{base}/open"), 0o755),
            (format!("{base}/open/data.txt"), 0o644),
            (format!("{base}/closed"), 0o755),
            (format!("{base}/closed/data.txt"), 0o600),
            (format!("{base}/shut"), 0o750),
            (format!("{base}/shut/data.txt"), 0o644),
        ] {
            fs.set_permission(&path, mode).await.unwrap();
        }
    });
    let spec = |source: &str| {
        format!(
            "name: public-file\nservices:\n  reader:\n    resources: {{ memory: 256, vcores: 1 }}\n    files:\n      data.txt: {{ source: \"{source}\", visibility: public }}\n    script: test \"$(cat data.txt)\" = \"hello public\"\n"
        )
    };
    let started = Instant::now();
    let ok = app_dir(&spec(&format!("hdfs://{base}/open/data.txt")), &[]);
    let o = submit_app(&ok, &["--wait", "--am-memory-mb", "256"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(180));
    // In the NodeManager's public cache (`<local dir>/filecache`), not a user's
    // (`<local dir>/usercache/<user>/filecache`).
    let base_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("yarn-minicluster");
    let cached = files_named(&base_dir, "data.txt");
    let public = cached.iter().filter(|p| {
        let s = p.display().to_string();
        s.contains("/filecache/") && !s.contains("/usercache/")
    });
    assert!(
        public
            .into_iter()
            .any(|p| std::fs::read(p).unwrap() == b"hello public\n"),
        "{cached:?}"
    );

    for (source, want) in [
        (
            format!("hdfs://{base}/closed/data.txt"),
            "not readable by everyone",
        ),
        (
            format!("hdfs://{base}/shut/data.txt"),
            "may not enter /public-files/shut",
        ),
        ("local.txt".to_string(), "is a local file"),
    ] {
        let dir = app_dir(&spec(&source), &[("local.txt", b"hello public\n")]);
        let started = Instant::now();
        let o = submit_app(&dir, &["--wait"]);
        assert!(!o.status.success(), "{source}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(want) && err.contains("data.txt"),
            "{source}: {}",
            text(&o)
        );
        assert!(!err.contains("submitted application_"), "{}", text(&o));
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

/// Every file called `name` below `dir`.
fn files_named(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(files_named(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
    found
}
