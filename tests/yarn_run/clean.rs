//! `spindle clean` on the minicluster, as a user of its own, so that its staging
//! directory is no other test's: what it removes, what it never touches, and the
//! handshake with submits that run while a clean does.

use super::*;

const USER: &str = "tidy";
const STAGING: &str = "/user/tidy/.spindle";
const DAY_MS: u64 = 86_400_000;

/// `spindle args` as the clean test's user.
fn tidy_command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("HADOOP_CONF_DIR", &cluster().conf_dir)
        .env("HADOOP_USER_NAME", USER)
        .env_remove("YARN_CONF_DIR");
    c
}

fn as_tidy(args: &[&str]) -> Output {
    tidy_command(args).output().expect("spawn spindle")
}

/// The same, not waited for.
fn spawn_as_tidy(args: &[&str]) -> std::process::Child {
    tidy_command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn spindle")
}

/// A one-service application running `script`, with `files` beside it, in `dir`.
fn services_spec(dir: &Path, name: &str, script: &str, files: &[(&str, &str)]) -> String {
    let mut spec = format!(
        "name: {name}\nservices:\n  only:\n    resources: {{ memory: 256, vcores: 1 }}\n    script: {script}\n"
    );
    if !files.is_empty() {
        spec.push_str("    files:\n");
        for (name, body) in files {
            std::fs::write(dir.join(name), body).unwrap();
            spec.push_str(&format!("      {name}: {}\n", dir.join(name).display()));
        }
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

fn submitted(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    app_id(o)
}

fn tidy_state(app: &str) -> String {
    let o = as_tidy(&["status", app, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    s["state"].as_str().unwrap_or_default().to_string()
}

fn until_state(app: &str, states: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !states.contains(&tidy_state(app).as_str()) {
        assert!(Instant::now() < deadline, "{app} never reached {states:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `clean` with `args`, its JSON document.
fn clean(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["clean", "--json"];
    all.extend_from_slice(args);
    let o = as_tidy(&all);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// The paths a clean's document lists under `key` (`removed` or `kept`).
fn paths(doc: &serde_json::Value, key: &str) -> Vec<String> {
    let mut p: Vec<String> = doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    p.sort();
    p
}

fn exists(path: &str) -> bool {
    runtime().block_on(async { hdfs().get_file_info(path).await.is_ok() })
}

/// A file (or, with `dir`, a directory holding one) made as the test's user, given to
/// `tidy`, aged `age_ms`.
fn plant(path: &str, dir: bool, age_ms: u64) {
    let file = if dir {
        format!("{path}/x")
    } else {
        path.to_string()
    };
    put(&file, b"not spindle's".to_vec());
    runtime().block_on(async {
        let c = hdfs();
        // The file and every directory it made below the staging directory are tidy's.
        let mut owned = Some(file.as_str());
        while let Some(p) = owned.filter(|p| p.len() > STAGING.len()) {
            c.set_owner(p, Some(USER), None).await.unwrap();
            owned = p.rsplit_once('/').map(|(parent, _)| parent);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        c.set_times(&file, now - age_ms, now - age_ms)
            .await
            .unwrap();
        if dir {
            c.set_owner(path, Some(USER), None).await.unwrap();
            c.set_times(path, now - age_ms, now - age_ms).await.unwrap();
        }
    });
}

fn shared_names(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = ls(&format!("{STAGING}/{dir}"))
        .into_iter()
        .filter(|n| !n.contains(".tmp-"))
        .filter(|n| n.starts_with("spindle-") || n.len() > 17 && n.as_bytes()[16] == b'-')
        .collect();
    names.sort();
    names
}

#[test]
fn clean_removes_only_what_ended_or_nothing_uses_and_never_a_submits_file() {
    // A home directory for tidy, as an administrator makes one (and `/user` open to
    // everyone, as on a real cluster: a test's submit may have made it private).
    runtime().block_on(async {
        let home = format!("/user/{USER}");
        hdfs().mkdirs(&home, 0o755, true).await.unwrap();
        hdfs().set_permission("/user", 0o755).await.unwrap();
        hdfs().set_owner(&home, Some(USER), None).await.unwrap();
    });
    let local = tempfile::tempdir().unwrap();
    let dir = local.path();
    // An application that ended, and one that runs.
    let done = submitted(&as_tidy(&[
        "submit",
        &services_spec(dir, "tidy-done", "'true'", &[]),
    ]));
    until_state(&done, &["FINISHED"]);
    let runs = submitted(&as_tidy(&[
        "submit",
        &services_spec(dir, "tidy-runs", "sleep 600", &[]),
    ]));
    until_state(&runs, &["RUNNING"]);
    let binaries = shared_names("bin");
    assert_eq!(binaries.len(), 1, "{binaries:?}");
    let binary = format!("{STAGING}/bin/{}", binaries[0]);
    // What spindle did not write, and spindle's own entries that must stay or go.
    let foreign = [
        format!("{STAGING}/notes.txt"),
        format!("{STAGING}/bin/README"),
        format!("{STAGING}/conf/mine.xml"),
        format!("{STAGING}/files/my-env.tar.gz"),
        format!("{STAGING}/data/x"),
        format!("{STAGING}/application_7_0001.bak/x"),
        format!("{STAGING}/.cleaning/notes"),
    ];
    for path in &foreign {
        plant(path, false, 30 * DAY_MS);
    }
    let unused_binary = format!("{STAGING}/bin/spindle-00000000000000aa");
    plant(&unused_binary, false, 30 * DAY_MS);
    let fresh_upload = format!("{STAGING}/bin/spindle-00000000000000bb.tmp-1");
    plant(&fresh_upload, false, 0);
    let forgotten = format!("{STAGING}/application_1000000000000_0001");
    plant(&forgotten, true, 2 * DAY_MS);
    let on_its_way = format!("{STAGING}/application_1000000000000_0002");
    plant(&on_its_way, true, 0);
    // A submit on its way records its files (none here) before it may submit.
    plant(&format!("{on_its_way}/shared-files/none.x"), false, 0);
    let done_dir = format!("{STAGING}/{done}");
    let runs_dir = format!("{STAGING}/{runs}");

    // A dry run says what would go, and removes nothing.
    let dry = clean(&["--older-than", "0s", "--dry-run"]);
    let would = [done_dir.clone(), forgotten.clone(), unused_binary.clone()];
    let mut would_sorted = would.to_vec();
    would_sorted.sort();
    assert_eq!(paths(&dry, "removed"), would_sorted, "{dry}");
    assert!(
        would.iter().all(|p| exists(p)),
        "a dry run removed something"
    );

    let started = Instant::now();
    let doc = clean(&["--older-than", "0s"]);
    assert_took_under(started, 30);
    assert_eq!(paths(&doc, "removed"), would_sorted, "{doc}");
    assert!(would.iter().all(|p| !exists(p)), "{doc}");
    let kept = paths(&doc, "kept");
    for path in [&runs_dir, &binary, &fresh_upload, &on_its_way] {
        assert!(kept.contains(path), "{path} not kept: {doc}");
        assert!(exists(path), "{path}");
    }
    let why = |path: &str| {
        doc["kept"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["path"] == path)
            .unwrap()["why"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(why(&runs_dir), "RUNNING");
    assert_eq!(why(&binary), format!("used by {runs}"));
    assert!(
        foreign.iter().all(|p| exists(p)),
        "a foreign file went: {doc}"
    );
    assert!(doc["bytes_removed"].as_u64().unwrap() > 0, "{doc}");

    // A clean's marker, as one left by a clean that died 40 s ago: another clean is
    // refused, and submits wait until it expires, then check their files.
    let marker = format!("{STAGING}/.cleaning/4242-1");
    plant(&marker, false, 40_000);
    let o = as_tidy(&["clean", "--older-than", "0s"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("another `spindle clean` is running"),
        "{}",
        text(&o)
    );
    let started = Instant::now();
    let waits = spawn_as_tidy(&[
        "submit",
        &services_spec(dir, "tidy-waits", "sleep 600", &[]),
    ]);
    let loses = spawn_as_tidy(&[
        "submit",
        &services_spec(dir, "tidy-loses", "sleep 600", &[("data.txt", "only mine")]),
    ]);
    // What a clean would do while `loses` waits: remove the file it uploaded, once its
    // record names it (it then waits on the marker).
    let deadline = Instant::now() + Duration::from_secs(30);
    let uploaded = loop {
        let named = ls(STAGING)
            .into_iter()
            .filter(|n| n.starts_with("application_"))
            .flat_map(|n| ls(&format!("{STAGING}/{n}/shared-files")))
            .find(|entry| entry.starts_with("files.") && entry.ends_with("-data.txt"))
            .map(|entry| format!("{STAGING}/files/{}", &entry["files.".len()..]));
        if let Some(path) = named {
            break path;
        }
        assert!(
            Instant::now() < deadline,
            "tidy-loses never recorded its file"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    runtime().block_on(async { hdfs().delete(&uploaded, false).await.unwrap() });
    let waits = waits.wait_with_output().unwrap();
    let loses = loses.wait_with_output().unwrap();
    assert_took_under(started, 60);
    let waited = submitted(&waits);
    assert!(
        text(&waits).contains("a `spindle clean` is running; waiting for it"),
        "{}",
        text(&waits)
    );
    assert!(!loses.status.success(), "{}", text(&loses));
    assert!(
        text(&loses).contains("was removed or replaced while this submit staged it"),
        "{}",
        text(&loses)
    );
    let o = as_tidy(&["ls", "--all", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !text(&o).contains("tidy-loses"),
        "it was submitted: {}",
        text(&o)
    );
    let left: Vec<String> = ls(STAGING)
        .into_iter()
        .filter(|n| n.starts_with("application_"))
        .filter(|n| {
            ls(&format!("{STAGING}/{n}/shared-files"))
                .iter()
                .any(|entry| entry.ends_with("-data.txt"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "the failed submit left its directory: {left:?}"
    );

    // Once nothing runs, the binary and site files go too; a later submit uploads them
    // again and runs.
    for app in [&runs, &waited] {
        assert!(as_tidy(&["kill", app]).status.success());
        until_state(app, &["KILLED"]);
    }
    let doc = clean(&["--older-than", "0s"]);
    let removed = paths(&doc, "removed");
    assert!(
        removed.contains(&runs_dir) && removed.contains(&binary),
        "{doc}"
    );
    assert_eq!(shared_names("bin"), Vec::<String>::new(), "{doc}");
    assert_eq!(shared_names("conf"), Vec::<String>::new(), "{doc}");
    assert!(exists(&fresh_upload) && exists(&on_its_way), "{doc}");
    assert!(
        foreign.iter().all(|p| exists(p)),
        "a foreign file went: {doc}"
    );
    assert!(!exists(&marker), "the expired marker stayed");
    let o = as_tidy(&[
        "submit",
        &services_spec(dir, "tidy-again", "'true'", &[]),
        "--wait",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("uploaded /user/tidy/.spindle/bin/"),
        "{}",
        text(&o)
    );
}
