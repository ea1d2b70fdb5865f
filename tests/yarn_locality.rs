//! Data locality on a 3-host minicluster (`scripts/minicluster.sh --hosts 3`): each host
//! has its own DataNode and NodeManager under its own name and address, blocks have one
//! replica, so a scan is data-local only when it runs where its block is. The same job
//! runs with locality and without (`locality_wait: 0`, asks at `*` only); both answers
//! must be exact, and the first must read at least 90% of its bytes locally.

mod common;
#[path = "../hadoop/tests/support/minicluster.rs"]
mod minicluster;

use common::*;
use minicluster::MiniCluster;
use spindle_hadoop::hdfs::NameNodeClient;
use spindle_hadoop::user::simple_user;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const HOSTS: u32 = 3;
/// Small blocks, so the input has many, spread over the hosts.
const BLOCK: u64 = 1 << 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn hdfs(cluster: &MiniCluster) -> hdfs_native::Client {
    let conf = cluster.configuration();
    hdfs_native::ClientBuilder::new()
        .with_url(conf.get("fs.defaultFS").expect("fs.defaultFS"))
        .with_config_dir(cluster.conf_dir.display().to_string())
        .build()
        .expect("HDFS client")
}

/// Writes `files` CSV files of clicks with 1 MiB blocks, one replica each.
fn upload(cluster: &MiniCluster, dir: &str, files: usize, rows_per_file: usize) -> Vec<Click> {
    let local = tempfile::tempdir().unwrap();
    let client = hdfs(cluster);
    let mut all = vec![];
    for i in 0..files {
        let rows = clicks(rows_per_file, 7 + i as u64);
        let path = local.path().join("x.csv");
        write_csv(&path, &rows, true);
        let data = std::fs::read(&path).unwrap();
        runtime().block_on(async {
            let opts = hdfs_native::WriteOptions::default()
                .block_size(BLOCK)
                .replication(1)
                .overwrite(true);
            let mut w = client
                .create(&format!("{dir}/part-{i}.csv"), opts)
                .await
                .unwrap();
            w.write(data.into()).await.unwrap();
            w.close().await.unwrap();
        });
        all.extend(rows);
    }
    all
}

/// Bytes of the files under `dir` per host holding them, as the NameNode reports.
fn bytes_by_host(cluster: &MiniCluster, dir: &str) -> BTreeMap<String, u64> {
    let conf = cluster.configuration();
    let nn = conf
        .get("fs.defaultFS")
        .unwrap()
        .trim_start_matches("hdfs://")
        .trim_end_matches('/')
        .to_string();
    runtime().block_on(async {
        let client = NameNodeClient::connect(&nn, &simple_user(None))
            .await
            .unwrap();
        let mut by_host = BTreeMap::new();
        for f in hdfs(cluster).list_status(dir, false).await.unwrap() {
            let blocks = client
                .get_block_locations(&f.path, 0, f.length as u64)
                .await
                .unwrap();
            for b in blocks {
                for h in b.hosts {
                    *by_host.entry(h).or_default() += b.length;
                }
            }
        }
        by_host
    })
}

fn spindle(cluster: &MiniCluster, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HADOOP_CONF_DIR", &cluster.conf_dir)
        .env_remove("YARN_CONF_DIR")
        .output()
        .expect("spawn spindle")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Rows of the jsonl part files below `dir` in HDFS.
fn output_rows(
    cluster: &MiniCluster,
    dir: &str,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    runtime().block_on(async {
        let client = hdfs(cluster);
        let mut rows = vec![];
        for f in client.list_status(dir, false).await.unwrap() {
            if !f.path.rsplit('/').next().unwrap().starts_with("part-") {
                continue;
            }
            let r = client.read(&f.path).await.unwrap();
            let data = r.read_range(0, r.file_length()).await.unwrap();
            for line in String::from_utf8(data.to_vec()).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                rows.push(v.as_object().unwrap().clone());
            }
        }
        rows
    })
}

/// Submits a group-by over `input` with 3 single-slot workers and waits; returns the
/// job's summary.
fn run_job(cluster: &MiniCluster, name: &str, locality_wait: &str, out: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"name: {name}
workers: {{ instances: 3, vcores: 1, memory: 256 MiB }}
locality_wait: {locality_wait}
input:
  path: "hdfs:///it/locality/in/*.csv"
  format: csv
  split_size: 1 MiB
stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: {{ by: [user], partitions: 3 }}
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
output:
  path: "hdfs://{out}"
  format: jsonl
"#
    );
    let path = dir.path().join("job.yaml");
    std::fs::write(&path, spec).unwrap();
    let path = path.display().to_string();
    let o = spindle(
        cluster,
        &["submit", &path, "--am-memory-mb", "256", "--wait", "--json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let result: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    result["summary"].clone()
}

/// "data-local 93% of 48.0 MB (45 scans), rack-local ..., off-switch ..." for the report.
fn describe(locality: &serde_json::Value) -> String {
    let total: u64 = ["data_local", "rack_local", "off_switch", "no_preference"]
        .iter()
        .map(|k| locality[format!("{k}_bytes")].as_u64().unwrap())
        .sum();
    ["data_local", "rack_local", "off_switch"]
        .iter()
        .map(|k| {
            let bytes = locality[format!("{k}_bytes")].as_u64().unwrap();
            format!(
                "{} {:.0}% ({} scans)",
                k.replace('_', "-"),
                100.0 * bytes as f64 / total.max(1) as f64,
                locality[*k]
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn scans_run_where_their_blocks_are() {
    let cluster = MiniCluster::start(HOSTS);
    // About 24 MB in 4 files: two dozen blocks, placed by the NameNode.
    let rows = upload(&cluster, "/it/locality/in", 4, 260_000);
    let spread = bytes_by_host(&cluster, "/it/locality/in");
    assert!(
        spread.len() as u32 == HOSTS,
        "the blocks should be on every host: {spread:?}"
    );
    assert!(
        spread.keys().all(|h| h.starts_with("spindle-host-")),
        "block locations name the hosts: {spread:?}"
    );
    let total: u64 = spread.values().sum();

    let started = Instant::now();
    let local = run_job(&cluster, "locality-on", "2s", "/it/locality/on");
    let local_took = started.elapsed();
    assert_eq!(
        by_user(&output_rows(&cluster, "/it/locality/on")),
        expected_by_user(&rows)
    );
    let started = Instant::now();
    let anywhere = run_job(&cluster, "locality-off", "0s", "/it/locality/off");
    let anywhere_took = started.elapsed();
    assert_eq!(
        by_user(&output_rows(&cluster, "/it/locality/off")),
        expected_by_user(&rows)
    );

    let report = format!(
        "locality on 3 hosts, {:.1} MB in {} blocks over {spread:?}:\n  \
         locality_wait 2s: {} in {:.1} s\n  locality_wait 0 (asks at *): {} in {:.1} s\n",
        total as f64 / 1e6,
        total.div_ceil(BLOCK),
        describe(&local["locality"]),
        local_took.as_secs_f64(),
        describe(&anywhere["locality"]),
        anywhere_took.as_secs_f64(),
    );
    println!("{report}");
    // scripts/test.sh prints this after the run, so the figures are seen.
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("locality-report.txt"),
        &report,
    );

    let scanned = local["locality"]["data_local_bytes"].as_u64().unwrap()
        + local["locality"]["rack_local_bytes"].as_u64().unwrap()
        + local["locality"]["off_switch_bytes"].as_u64().unwrap();
    assert_eq!(scanned, total, "every byte scanned once: {local}");
    let data_local = local["locality"]["data_local_bytes"].as_u64().unwrap();
    assert!(
        data_local * 10 >= total * 9,
        "at least 90% of scan bytes data-local: {report}"
    );
    // Both jobs end well inside the harness's patience.
    assert!(local_took < Duration::from_secs(180), "{report}");
    assert!(anywhere_took < Duration::from_secs(180), "{report}");
}
