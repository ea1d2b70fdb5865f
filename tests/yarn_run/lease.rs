//! The output lease on HDFS: its holder renews it by touching the file (one NameNode
//! call), not by rewriting it, so a kill cannot land inside a renewal's write.

use super::*;
use spindle_appmaster::commit::lease::{Lease, LeaseError, LeaseOwner};
use spindle_io::Location;
use std::time::{Duration, Instant};

fn owner(app: &str) -> LeaseOwner {
    LeaseOwner {
        attempt: format!("{app}-1"),
        host: "here".into(),
        pid: std::process::id(),
        app: Some(app.into()),
    }
}

fn modified(path: &str) -> u64 {
    runtime()
        .block_on(hdfs().get_file_info(path))
        .unwrap()
        .modification_time
}

#[test]
fn a_lease_on_hdfs_is_renewed_by_touches_and_released_without_a_trace() {
    let fs = cluster().configuration().get("fs.defaultFS").unwrap();
    let fs = fs.trim_end_matches('/');
    let dir = format!("/lease-{}", std::process::id());
    let path = format!("{dir}/.out.spindle-lease");
    let file = Location::parse(&format!("{fs}{path}")).unwrap();
    let output = Location::parse(&format!("{fs}{dir}/out")).unwrap();
    let ttl = Duration::from_millis(1500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let Ok(held) = rt.block_on(Lease::acquire(file.clone(), &output, owner("a"), ttl)) else {
        panic!("the first lease was refused");
    };
    let written = get(&path).unwrap();
    let first = modified(&path);
    std::thread::sleep(ttl * 3);
    assert!(modified(&path) > first, "never touched");
    assert_eq!(get(&path).unwrap(), written, "rewritten");
    match rt.block_on(Lease::acquire(file.clone(), &output, owner("b"), ttl)) {
        Err(LeaseError::Held(m)) => assert!(m.contains("application a"), "{m}"),
        _ => panic!("a lease renewed by touches was taken over"),
    }
    rt.block_on(held.release());
    assert_eq!(ls(&dir), Vec::<String>::new(), "left beside the output");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
