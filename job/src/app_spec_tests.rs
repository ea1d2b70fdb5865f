use super::*;

/// A spec as Skein's documentation writes one; line numbers below count from `name:`.
const FULL: &str = r#"name: hello-world
queue: analytics
max_attempts: 2
tags: [spindle, demo]
file_systems: []
acls:
  enable: false
  view_users: [alice]
  ui_users: ["*"]
master:
  resources:
    memory: 512
    vcores: 1
  env:
    LOG_LEVEL: info
  files:
    config.json: /home/alice/config.json
  script: |
    python driver.py
services:
  server:
    instances: 2
    max_restarts: -1
    resources:
      memory: 2 GiB
      vcores: 2
    files:
      env.tar.gz: hdfs:///envs/env.tar.gz
      lookup:
        source: hdfs:///data/lookup.csv
        type: ARCHIVE
        visibility: private
    env:
      PORT: 8080
      VERSION: 1.10
      DEBUG: true
    script: |
      source env/bin/activate
      python server.py
  client:
    depends: [server]
    commands:
      - echo starting
      - python client.py
"#;

fn app(text: &str) -> AppSpec {
    AppSpec::from_yaml(text, "app.yaml").unwrap()
}

fn err(text: &str) -> String {
    AppSpec::from_yaml(text, "app.yaml")
        .unwrap_err()
        .to_string()
}

/// `FULL` with `from` (which must be there) replaced by `to`.
fn full_with(from: &str, to: &str) -> String {
    assert!(FULL.contains(from), "{from}");
    FULL.replace(from, to)
}

fn file(source: &str, kind: FileKind, visibility: Visibility) -> FileSpec {
    FileSpec {
        source: source.into(),
        kind,
        visibility,
        size: None,
        timestamp: None,
    }
}

#[test]
fn parses_skeins_example() {
    let spec = app(FULL);
    assert_eq!(spec.name, "hello-world");
    assert_eq!(spec.queue, "analytics");
    assert_eq!(spec.max_attempts, 2);
    assert_eq!(spec.tags, ["spindle", "demo"]);
    assert!(spec.file_systems.is_empty());
    let acls = spec.acls.clone().unwrap();
    assert!(!acls.enable);
    assert_eq!(acls.view_users, ["alice"]);
    assert_eq!(acls.ui_users, ["*"]);
    assert!(acls.modify_groups.is_empty());

    let master = spec.master.clone().unwrap();
    assert_eq!(master.script.as_deref(), Some("python driver.py\n"));
    assert_eq!(master.resources.memory, ByteSize::mib(512));
    assert_eq!(master.resources.vcores, 1);
    assert_eq!(master.env["LOG_LEVEL"], "info");
    let config = file(
        "/home/alice/config.json",
        FileKind::File,
        Visibility::Application,
    );
    assert_eq!(master.files["config.json"], config);

    let server = &spec.services["server"];
    assert_eq!(server.instances, 2);
    assert_eq!(server.max_restarts, -1);
    let resources = Resources {
        memory: ByteSize(2 << 30),
        vcores: 2,
        gpus: 0,
    };
    assert_eq!(server.resources, resources);
    let env_tar = file(
        "hdfs:///envs/env.tar.gz",
        FileKind::Archive,
        Visibility::Application,
    );
    assert_eq!(server.files["env.tar.gz"], env_tar);
    let lookup = file(
        "hdfs:///data/lookup.csv",
        FileKind::Archive,
        Visibility::Private,
    );
    assert_eq!(server.files["lookup"], lookup);
    // Numbers and booleans as written, not as YAML reads them (`1.10` is not `1.1`).
    assert_eq!(server.env["PORT"], "8080");
    assert_eq!(server.env["VERSION"], "1.10");
    assert_eq!(server.env["DEBUG"], "true");
    assert_eq!(server.script, "source env/bin/activate\npython server.py\n");
    assert!(server.depends.is_empty());

    let client = &spec.services["client"];
    assert_eq!(client.depends, ["server"]);
    assert_eq!(client.script, "echo starting\npython client.py");
    assert_eq!(client.instances, 1);
    assert_eq!(client.resources, Resources::default());
    assert_eq!(spec.service_order(), ["server", "client"]);
}

#[test]
fn defaults_are_skeins() {
    let spec = app("services:\n  web:\n    script: ./serve\n");
    assert_eq!(spec.name, "spindle");
    assert_eq!(spec.queue, "default");
    assert_eq!(spec.max_attempts, 1);
    assert_eq!((spec.user, spec.acls, spec.master), (None, None, None));
    let web = &spec.services["web"];
    assert_eq!((web.instances, web.max_restarts), (1, 0));
    assert_eq!(web.resources.memory, ByteSize::mib(1024));
    assert_eq!((web.resources.vcores, web.resources.gpus), (1, 0));
    assert!(!web.allow_failures && !web.relax_locality);

    let spec = app("master:\n  script: ./drive\n  resources: {vcores: 2}\n");
    assert!(spec.services.is_empty());
    let master = spec.master.unwrap();
    assert_eq!(master.resources.memory, ByteSize::mib(512));
    assert_eq!(master.resources.vcores, 2);
    let spec = app("master: {script: ./drive}\n");
    assert_eq!(spec.master.unwrap().resources.memory, ByteSize::mib(512));
}

#[test]
fn a_spec_file_is_a_job_or_an_application() {
    let job = include_str!("../../conf/examples/clicks.yaml");
    let spec = Spec::from_yaml(job, "clicks.yaml").unwrap();
    assert!(matches!(spec, Spec::Job(j) if j.name == "clicks-by-user"));
    assert!(matches!(Spec::from_yaml(FULL, "a").unwrap(), Spec::App(_)));
    let services = include_str!("../../conf/examples/services.yaml");
    let spec = Spec::from_yaml(services, "services.yaml").unwrap();
    assert!(matches!(spec, Spec::App(a) if a.services["client"].depends == ["server"]));
    let master_only = Spec::from_yaml("master: {script: ./drive}\n", "a").unwrap();
    assert!(matches!(master_only, Spec::App(_)));
    // Errors come from the parser of the kind the file looks like.
    let e = Spec::from_yaml("name: x\noutput: {path: /y}\n", "j.yaml").unwrap_err();
    assert!(e.to_string().contains("missing field `input`"), "{e}");
    let e = Spec::from_yaml("services: {web: {scrip: x}}\n", "a.yaml").unwrap_err();
    assert!(e.to_string().contains("key `services.web.scrip`"), "{e}");
    let e = Spec::from_yaml("[1, 2]\n", "j.yaml").unwrap_err();
    assert!(e.to_string().starts_with("j.yaml: "), "{e}");
}

#[test]
fn a_query_takes_stages_after_it_but_never_an_input() {
    let both = "name: x\ninputs:\n  t: {path: /d, format: csv}\nquery: SELECT 1\n\
                stages:\n  - command: cat\noutput: {path: /y}\n";
    let Spec::Query(q) = Spec::from_yaml(both, "q.yaml").unwrap() else {
        panic!("a query job");
    };
    assert_eq!(q.stages.len(), 1);
    let both = "name: x\ninput: {path: /d, format: csv}\nquery: SELECT 1\noutput: {path: /y}\n";
    let e = Spec::from_yaml(both, "q.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("q.yaml: line 2, column 1: key `input`: "),
        "{e}"
    );
}

#[test]
fn files_infer_archives_and_take_any_case() {
    for (source, kind) in [
        ("hdfs:///a/env.tar.gz", FileKind::Archive),
        ("/a/b.ZIP", FileKind::Archive),
        ("s3://b/env.tgz?version=3", FileKind::Archive),
        ("x.tar", FileKind::Archive),
        ("x.tbz2", FileKind::Archive),
        ("x.tar.xz", FileKind::Archive),
        ("lib/app.jar", FileKind::File),
        ("notes.gz", FileKind::File),
    ] {
        assert_eq!(FileKind::infer(source), kind, "{source}");
    }
    let spec = app("services:\n  w:\n    script: x\n    files:\n      \
         a: {source: a.zip, type: file, visibility: Private, size: 10, timestamp: 20}\n");
    let mut want = file("a.zip", FileKind::File, Visibility::Private);
    (want.size, want.timestamp) = (Some(10), Some(20));
    assert_eq!(spec.services["w"].files["a"], want);
}

#[test]
fn service_order_puts_dependencies_first_then_names() {
    let spec = app("services:
  d: {script: x, depends: [a, b]}
  a: {script: x, depends: [c]}
  c: {script: x}
  b: {script: x}
  e: {script: x, depends: [a, a]}
");
    assert_eq!(spec.service_order(), ["b", "c", "a", "d", "e"]);
}

#[test]
fn serializes_to_a_spec_that_reads_back_the_same() {
    let spec = app(FULL);
    let text = serde_yaml::to_string(&spec).unwrap();
    assert_eq!(app(&text), spec, "{text}");
    let mut odd = app("services: {w: {script: x, resources: {memory: 1536 KiB}}}");
    odd.services.get_mut("w").unwrap().resources.memory = ByteSize(1_500_000);
    assert_eq!(app(&serde_yaml::to_string(&odd).unwrap()), odd);
}

#[test]
fn unknown_key_in_a_service_names_key_and_line() {
    let e = err(&full_with("    instances: 2", "    instanses: 2"));
    assert!(e.starts_with("app.yaml: line 22, column 5: "), "{e}");
    assert!(e.contains("key `services.server.instanses`"), "{e}");
    assert!(e.contains("unknown field `instanses`"), "{e}");
}

#[test]
fn memory_out_of_bounds_names_key_and_line() {
    let e = err(&full_with("memory: 2 GiB", "memory: 2 TiB"));
    assert!(e.contains("line 25, column 15"), "{e}");
    assert!(e.contains("key `services.server.resources.memory`"), "{e}");
    assert!(e.contains("must be 1.0 MiB to 1.0 TiB"), "{e}");
    let e = err(&full_with("memory: 512", "memory: 0"));
    assert!(
        e.contains("line 12") && e.contains("key `master.resources.memory`"),
        "{e}"
    );
    let e = err(&full_with("memory: 2 GiB", "memory: 2 parsecs"));
    assert!(e.contains("unknown size unit"), "{e}");
}

#[test]
fn other_bounds_name_key_and_line() {
    let cases = [
        (
            "max_restarts: -1",
            "max_restarts: -2",
            "must be -1 to 10000",
        ),
        ("instances: 2", "instances: 10001", "must be 0 to 10000"),
        ("vcores: 2", "vcores: 0", "must be 1 to 1024"),
        ("vcores: 2", "gpus: 65", "must be 0 to 64"),
        ("max_attempts: 2", "max_attempts: 0", "must be 1 to 100"),
    ];
    for (from, to, want) in cases {
        let e = err(&full_with(from, to));
        let key = to.split(':').next().unwrap();
        assert!(
            e.contains(want) && e.contains(key) && e.contains("line "),
            "{e}"
        );
    }
}

#[test]
fn depending_on_an_unknown_service_names_key_and_line() {
    let e = err(&full_with("depends: [server]", "depends: [sever]"));
    assert_eq!(
        e,
        "app.yaml: line 41, column 5: key `services.client.depends`: \
         service `client` depends on `sever`, which is not a service"
    );
    let e = err(&full_with("depends: [server]", "depends: [client]"));
    assert!(
        e.contains("line 41") && e.contains("depends on itself"),
        "{e}"
    );
}

#[test]
fn a_dependency_cycle_is_named() {
    let e = err(&full_with(
        "    instances: 2",
        "    instances: 2\n    depends: [client]",
    ));
    assert!(e.contains("line 42"), "{e}");
    assert!(e.contains("key `services.client.depends`"), "{e}");
    assert!(e.contains("a cycle: client -> server -> client"), "{e}");
    let e = err("services:
  c: {script: x, depends: [a]}
  b: {script: x, depends: [c]}
  a: {script: x, depends: [b]}
  z: {script: x, depends: [a]}
");
    assert!(
        e.contains("line 4") && e.contains("a -> b -> c -> a"),
        "{e}"
    );
}

#[test]
fn a_blank_or_missing_script_is_refused() {
    let commands = "    commands:\n      - echo starting\n      - python client.py\n";
    let e = err(&full_with(commands, "    script: '  '\n"));
    assert!(e.contains("line 42, column 13"), "{e}");
    assert!(e.contains("key `services.client.script`"), "{e}");
    assert!(e.contains("must not be blank"), "{e}");
    let e = err(&full_with(commands, "    commands: []\n"));
    assert!(
        e.contains("line 42") && e.contains("must not be blank"),
        "{e}"
    );
    let e = err(&full_with(
        "  script: |\n    python driver.py\n",
        "  script:\n",
    ));
    assert!(
        e.contains("line 18") && e.contains("key `master.script`"),
        "{e}"
    );
    let e = err(&full_with(commands, ""));
    assert!(
        e.contains("missing field `script`") && e.contains("line 41"),
        "{e}"
    );
}

#[test]
fn a_bad_or_repeated_service_name_is_refused_at_its_line() {
    let e = err(&full_with("  client:", "  my.client:"));
    assert!(e.contains("line 40, column 3"), "{e}");
    assert!(
        e.contains("service name `my.client` must be 1 to 64"),
        "{e}"
    );
    let long = "x".repeat(65);
    let e = err(&format!("services:\n  {long}: {{script: x}}\n"));
    assert!(e.contains("line 2") && e.contains("must be 1 to 64"), "{e}");
    let e = err("services:\n  a: {script: x}\n  a: {script: y}\n");
    assert!(
        e.contains("line 3") && e.contains("`a` is given twice"),
        "{e}"
    );
    assert!(AppSpec::from_yaml("services: {A_b-9: {script: x}}", "a").is_ok());
}

#[test]
fn file_names_stay_inside_the_working_directory() {
    let e = err(&full_with("      env.tar.gz:", "      ../env.tar.gz:"));
    assert!(e.contains("line 28, column 7"), "{e}");
    assert!(
        e.contains("key `services.server.files.../env.tar.gz`"),
        "{e}"
    );
    assert!(
        e.contains("file name `../env.tar.gz` must be a relative path"),
        "{e}"
    );
    for bad in ["/etc/passwd", "a/../../b", "''", ".", "./"] {
        let e = err(&full_with("config.json:", &format!("{bad}:")));
        assert!(
            e.contains("line 17") && e.contains("file name"),
            "{bad}: {e}"
        );
    }
    let ok = full_with("config.json:", "conf/./app..json:");
    assert!(app(&ok)
        .master
        .unwrap()
        .files
        .contains_key("conf/./app..json"));
    let e = err(&full_with("hdfs:///data/lookup.csv", "''"));
    assert!(
        e.contains("line 30") && e.contains("source must not be empty"),
        "{e}"
    );
    let e = err(&full_with("type: ARCHIVE", "type: folder"));
    assert!(
        e.contains("line 31") && e.contains("unknown variant `folder`"),
        "{e}"
    );
}

#[test]
fn env_names_must_be_shell_variables() {
    for bad in ["1PORT", "MY-VAR", "A B", "''"] {
        let e = err(&full_with("PORT: 8080", &format!("{bad}: 8080")));
        assert!(
            e.contains("line 34") && e.contains("environment variable"),
            "{e}"
        );
    }
    let e = err(&full_with("PORT: 8080", "PORT: [1]"));
    assert!(e.contains("key `services.server.env.PORT`"), "{e}");
    assert!(app(&full_with("PORT: 8080", "_p0rt: 8080")).services["server"].env["_p0rt"] == "8080");
}

#[test]
fn an_app_needs_services_or_a_master_script() {
    let want = "an application spec needs `services` or a `master.script`";
    let e = err("name: x\nservices: {}\n");
    assert_eq!(
        e,
        format!("app.yaml: line 2, column 1: key `services`: {want}")
    );
    let e = err("name: x\nmaster:\n  resources: {memory: 1 GiB}\n");
    assert_eq!(
        e,
        format!("app.yaml: line 2, column 1: key `master`: {want}")
    );
    let e = err("name: x\n");
    assert!(
        e.starts_with("app.yaml: line 1, column 1: an application"),
        "{e}"
    );
    let e = err("");
    assert!(e.contains(want), "{e}");
}

#[test]
fn other_filesystems_are_hdfs_namenodes_by_host_and_port() {
    use crate::app_spec::namenode_of;
    assert_eq!(namenode_of("hdfs://nn2:8020").as_deref(), Some("nn2:8020"));
    assert_eq!(namenode_of("hdfs://nn2:8020/").as_deref(), Some("nn2:8020"));
    assert_eq!(
        namenode_of("hdfs://10.0.0.2:9000/x/y").as_deref(),
        Some("10.0.0.2:9000")
    );
    for bad in [
        "hdfs://nn2",
        "hdfs:///x",
        "hdfs://:8020",
        "hdfs://nn:0",
        "s3a://b",
        "nn:8020",
    ] {
        assert_eq!(namenode_of(bad), None, "{bad}");
    }
    let spec = app(&full_with(
        "file_systems: []",
        "file_systems: [\"hdfs://nn2:8020\"]",
    ));
    assert_eq!(spec.file_systems, ["hdfs://nn2:8020"]);
}

#[test]
fn what_spindle_cannot_do_yet_is_refused_naming_key_and_line() {
    let cases = [
        // Delegation tokens come from HDFS NameNodes only, named by host and port.
        (
            "file_systems: []",
            "file_systems: [\"hdfs://backup:8020\", \"webhdfs://backup:9870\"]",
            "line 5, column 1: key `file_systems`: webhdfs://backup:9870",
        ),
        (
            "file_systems: []",
            "file_systems: [\"hdfs://nameservice1\"]",
            "key `file_systems`: hdfs://nameservice1",
        ),
        // Skein's web UI ACL: spindle serves no web UI.
        ("  enable: false", "  enable: true", "key `acls`"),
        (
            "    python driver.py",
            "    python driver.py\n  log_config: log4j.properties",
            "key `master.log_config`",
        ),
    ];
    for (from, to, want) in cases {
        assert!(FULL.contains(from), "{from}");
        let message = err(&FULL.replacen(from, to, 1));
        assert!(message.contains(want), "{to}: {message}");
        assert!(message.contains("line "), "{to}: {message}");
    }
}

#[test]
fn a_proxy_user_is_taken() {
    let spec = FULL.replacen("queue: analytics", "queue: analytics\nuser: bob", 1);
    let app = AppSpec::from_yaml(&spec, "app.yaml").unwrap();
    assert_eq!(app.user.as_deref(), Some("bob"));
}

#[test]
fn enabled_acls_without_a_web_ui_list_are_taken() {
    let spec = FULL.replacen("  enable: false", "  enable: true", 1);
    let spec = spec.replacen("  ui_users: [\"*\"]\n", "  modify_groups: [ops]\n", 1);
    let acls = AppSpec::from_yaml(&spec, "app.yaml").unwrap().acls.unwrap();
    assert!(acls.enable);
    assert_eq!(
        (acls.view_users, acls.modify_groups),
        (vec!["alice".to_string()], vec!["ops".to_string()])
    );
}

#[test]
fn a_services_spec_that_is_not_yaml_is_blamed_where_it_breaks() {
    // A plain scalar may not hold ": ": the YAML is broken on line 6, and the keys
    // before it (`user` is no job key) must not be blamed instead.
    let text = "name: x\nuser: dave\nservices:\n  s:\n    resources: { memory: 256, vcores: 1 }\n    script: echo \"$USER: hi\"\n";
    let message = Spec::from_yaml(text, "app.yaml").unwrap_err().to_string();
    assert!(message.contains("line 6"), "{message}");
    assert!(!message.contains("unknown field"), "{message}");
}
