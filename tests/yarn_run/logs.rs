//! `spindle logs` against the minicluster, which aggregates logs into HDFS as real
//! clusters do: a running application's logs come from its NodeManager, `--follow`
//! prints until the application ends, and a finished one's come from the aggregated
//! TFiles once the NodeManager has written them.

use super::*;
use std::process::Stdio;

fn logs(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let o = spindle(&all);
    (o, started.elapsed())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

const SPEC: &str = r#"
name: talkers
max_attempts: 1
services:
  talk:
    instances: 2
    resources: { memory: 128, vcores: 1 }
    script: |
      set -e
      echo "out of $SPINDLE_CONTAINER_ID"
      echo "err of $SPINDLE_CONTAINER_ID" >&2
      spindle kv put "ready/$SPINDLE_CONTAINER_ID" yes
      spindle kv wait stop --timeout 120s > /dev/null
      echo "bye from $SPINDLE_CONTAINER_ID"
"#;

#[test]
fn logs_of_a_running_then_finished_application() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("app.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let o = spindle(&[
        "submit",
        &spec.display().to_string(),
        "--am-memory-mb",
        "256",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let app = app_id(&o);
    for name in ["talk_0", "talk_1"] {
        let key = format!("ready/{name}");
        let o = spindle(&["kv", "wait", &key, "--timeout", "150s", "--app", &app]);
        assert!(o.status.success(), "{}", text(&o));
    }

    // Running: read from the NodeManager.
    let (o, took) = logs(&[&app, "--service", "talk", "--file", "talk.out"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    for name in ["talk_0", "talk_1"] {
        assert!(out.contains(&format!("out of {name}\n")), "{out}");
    }
    assert_eq!(out.matches("==> container_").count(), 2, "{out}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // One container's one file: its bytes alone, found by instance name.
    let (o, _) = logs(&[&app, "--container", "talk_1", "--file", "talk.log"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stdout(&o), "err of talk_1\n");
    // A file none of them has: an error listing what they have, not an empty success.
    let (o, _) = logs(&[&app, "--service", "talk", "--file", "stderr"]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no log file named stderr in these containers; they have: ")
            && err.contains("talk.log")
            && err.contains("talk.out")
            && err.lines().count() == 1,
        "{}",
        text(&o)
    );

    // Follow one container while the application ends.
    let mut follow = Command::new(BIN)
        .args([
            "logs",
            &app,
            "--container",
            "talk_0",
            "--file",
            "talk.out",
            "--follow",
        ])
        .env("HADOOP_CONF_DIR", &cluster().conf_dir)
        .env_remove("YARN_CONF_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spindle logs --follow");
    std::thread::sleep(Duration::from_secs(2));
    let o = spindle(&["kv", "put", "stop", "now", "--app", &app]);
    assert!(o.status.success(), "{}", text(&o));
    let stopped = Instant::now();
    let followed = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(90),
            "--follow did not end with the application"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let o = follow.wait_with_output().unwrap();
    assert!(followed.success(), "{}", text(&o));
    assert_eq!(
        stdout(&o),
        "out of talk_0\nbye from talk_0\n",
        "{}",
        text(&o)
    );

    // Finished: waits for aggregation, then reads the TFiles in HDFS.
    let (o, took) = logs(&[&app, "--file", "talk.out", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(took < Duration::from_secs(120), "took {took:?}");
    let files: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{}", text(&o));
    for f in &files {
        let content = f["content"].as_str().unwrap();
        assert!(content.starts_with("out of talk_"), "{f}");
        assert!(
            content.ends_with(&format!("bye from {}\n", &content[7..13])),
            "{f}"
        );
        assert!(f["node"].as_str().unwrap().contains(':'), "{f}");
        assert_eq!(f["truncated"], false);
    }
    // The same instance names work once the store is gone (from the master's summary).
    let (o, _) = logs(&[
        &app,
        "--container",
        "talk_1",
        "--file",
        "talk.out",
        "--tail",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stdout(&o), "bye from talk_1\n");
    // The master's own log is there too.
    let (o, _) = logs(&[&app, "--file", "appmaster.log"]);
    assert!(stdout(&o).contains("application ended"), "{}", text(&o));

    // A node that aggregated in the indexed format (IFile) puts its file under
    // bucket-logs-ifile: a file Hadoop's IFile writer made is read from there too.
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    let bucket = format!(
        "{:04}",
        app.rsplit('_').next().unwrap().parse::<u32>().unwrap() % 10_000
    );
    put(
        &format!("/tmp/logs/{user}/bucket-logs-ifile/{bucket}/{app}/host1_45454"),
        include_bytes!("../../hadoop/src/logs/testdata/ifile_gz").to_vec(),
    );
    let (o, _) = logs(&[&app, "--file", "stdout"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stdout(&o),
        "==> container_1700000000000_0001_01_000001 on host1:45454: stdout <==\nhello stdout\n",
        "{}",
        text(&o)
    );
}

#[test]
fn logs_refuses_what_it_cannot_show() {
    let (o, took) = logs(&["application_1_0001"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let (o, _) = logs(&["not-an-app"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not-an-app"),
        "{}",
        text(&o)
    );
}
