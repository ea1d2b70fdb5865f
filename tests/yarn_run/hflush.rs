//! spindle's own HDFS pipeline writer (`spindle_hadoop::hdfs::write`), which the
//! key-value journal flushes with, against the minicluster's real NameNode and DataNode:
//! what it flushed is there after its writer dies, byte for byte, across packets, chunks
//! and blocks.

use super::*;
use spindle_hadoop::hdfs::write::{CreateOptions, HflushWriter, KEEPALIVE};
use spindle_hadoop::hdfs::NameNodeClient;

async fn namenode() -> NameNodeClient {
    let fs = cluster().configuration().get("fs.defaultFS").unwrap();
    let addr = fs.trim_start_matches("hdfs://").trim_end_matches('/');
    let user = spindle_hadoop::user::simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    NameNodeClient::connect(addr, &user)
        .await
        .expect("connect to the NameNode")
}

/// Writes of every awkward size: single bytes, partial chunks, exact chunks, more than a
/// packet (63 KiB), and more than a block (1 MiB here), each flushed on its own.
fn batches() -> Vec<Vec<u8>> {
    let sizes = [
        1, 100, 411, 512, 513, 1, 70_000, 1_500_000, 37, 64_512, 600_000, 5,
    ];
    let mut n = 0u32;
    let mut out: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&len| {
            (0..len)
                .map(|_| {
                    n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (n >> 16) as u8
                })
                .collect()
        })
        .collect();
    out.extend((0..300).map(|i| vec![i as u8; 37]));
    out
}

fn options(keepalive: Duration) -> CreateOptions {
    CreateOptions {
        overwrite: true,
        permission: 0o600,
        replication: 1,
        block_size: 1 << 20,
        keepalive,
    }
}

#[test]
fn what_the_pipeline_writer_flushed_is_there_after_it_dies() {
    let path = "/it/hflush/died.bin";
    let batches = batches();
    let expected: Vec<u8> = batches.concat();
    assert!(expected.len() > 2 << 20, "three blocks of 1 MiB");
    let started = Instant::now();
    runtime().block_on(async {
        let w = HflushWriter::create(
            namenode().await,
            "spindle_it_died",
            path,
            options(Duration::from_secs(1)),
        )
        .await
        .expect("create");
        for (i, b) in batches.iter().enumerate() {
            w.write_flushed(b)
                .await
                .unwrap_or_else(|e| panic!("batch {i} of {} bytes: {e}", b.len()));
            if i == 3 {
                // Idle long enough for heartbeats; the next write must still be acked
                // in order.
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }
        assert!(w.heartbeats() >= 1, "an idle pipeline got no heartbeat");
        // The writer dies without closing: no last packet, no `complete`.
        drop(w);
    });
    let conf_dir = &cluster().conf_dir;
    let default_fs = cluster().configuration().get("fs.defaultFS").unwrap();
    runtime()
        .block_on(spindle_appmaster::yarn::kv_journal::recover_journal(
            &default_fs,
            conf_dir,
            path,
        ))
        .expect("recover the dead writer's lease");
    let read = get(path).expect("the file exists");
    assert_eq!(read.len(), expected.len());
    assert!(
        read == expected,
        "the bytes read back differ from those flushed"
    );
    // Recovery waits for a DataNode heartbeat (seconds); the whole is bounded.
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_closed_pipeline_file_has_every_byte_and_its_length() {
    let path = "/it/hflush/closed.bin";
    let batches = batches();
    let expected: Vec<u8> = batches.concat();
    let started = Instant::now();
    runtime().block_on(async {
        let w = HflushWriter::create(
            namenode().await,
            "spindle_it_closed",
            path,
            options(KEEPALIVE),
        )
        .await
        .expect("create");
        for b in &batches {
            w.write_flushed(b).await.expect("write");
        }
        w.close().await.expect("close");
        let info = namenode()
            .await
            .get_file_info(path)
            .await
            .unwrap()
            .expect("the file exists");
        assert_eq!(info.length, expected.len() as u64);
        assert_eq!(info.block_size, 1 << 20);
        // An empty file closes too (no block at all).
        let empty = HflushWriter::create(
            namenode().await,
            "spindle_it_empty",
            "/it/hflush/empty.bin",
            options(KEEPALIVE),
        )
        .await
        .expect("create");
        empty.close().await.expect("close an empty file");
    });
    assert!(get(path).expect("the file exists") == expected);
    assert_eq!(get("/it/hflush/empty.bin"), Some(vec![]));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_block_size_off_the_checksum_chunks_is_refused() {
    runtime().block_on(async {
        let mut o = options(KEEPALIVE);
        o.block_size = 1000;
        let e = HflushWriter::create(namenode().await, "spindle_it_bad", "/it/hflush/bad.bin", o)
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("multiple of 512"), "{e}");
    });
}
