//! Fetching a task's inputs straight from the workers that produced them.

use crate::error::TaskError;
use crate::store::ResultStore;
use crate::transfer::recv_result;
use bytes::Bytes;
use spindle_io::net::{connect_auth, encode_msg, write_frame, Role};
use spindle_job::wire::{FetchSource, WorkerId};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;

/// Encoded results for `sources`, in order. Local ones come from `store`; remote ones
/// with one request per producing worker, all workers in parallel. A peer silent for
/// `idle` (connecting, proving the secret, or mid-transfer) is reported as lost.
pub async fn fetch_all(
    sources: &[FetchSource],
    me: WorkerId,
    store: &ResultStore,
    secret: &str,
    idle: Duration,
) -> Result<Vec<Bytes>, TaskError> {
    let mut by_worker: BTreeMap<WorkerId, Vec<usize>> = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        by_worker.entry(s.worker).or_default().push(i);
    }
    let mut out: Vec<Option<Bytes>> = vec![None; sources.len()];
    let mut remote = vec![];
    for (worker, idxs) in by_worker {
        if worker == me {
            for i in idxs {
                let s = &sources[i];
                let got = store
                    .get(s.task, s.bucket)
                    .map_err(|e| TaskError::retryable(format!("reading spilled result: {e}")))?;
                out[i] = Some(got.ok_or_else(|| {
                    TaskError::input_lost(me, format!("result of task {} is not here", s.task))
                })?);
            }
        } else {
            remote.push(fetch_from(worker, idxs, sources, secret, idle));
        }
    }
    for (idxs, data) in futures::future::try_join_all(remote).await? {
        for (i, d) in idxs.into_iter().zip(data) {
            out[i] = Some(d);
        }
    }
    Ok(out.into_iter().map(|b| b.unwrap_or_default()).collect())
}

async fn fetch_from(
    worker: WorkerId,
    idxs: Vec<usize>,
    sources: &[FetchSource],
    secret: &str,
    idle: Duration,
) -> Result<(Vec<usize>, Vec<Bytes>), TaskError> {
    let addr = &sources[idxs[0]].addr;
    let lost =
        |what: String| TaskError::input_lost(worker, format!("worker {worker} at {addr}: {what}"));
    let connect = tokio::time::timeout(idle, TcpStream::connect(addr));
    let mut stream = connect
        .await
        .map_err(|_| lost("connect timed out".into()))?
        .map_err(|e| lost(e.to_string()))?;
    stream.set_nodelay(true).ok();
    let mut stream = connect_auth(&mut stream, secret, Role::Data)
        .await
        .map_err(|e| lost(e.to_string()))?
        .channel(stream);
    let request: Vec<(u32, u32)> = idxs
        .iter()
        .map(|&i| (sources[i].task, sources[i].bucket))
        .collect();
    let body = encode_msg(&request).map_err(|e| lost(e.to_string()))?;
    write_frame(&mut stream, &body)
        .await
        .map_err(|e| lost(e.to_string()))?;
    let mut data = Vec::with_capacity(idxs.len());
    for &i in &idxs {
        let got = recv_result(&mut stream, idle)
            .await
            .map_err(|e| lost(e.to_string()))?
            .ok_or_else(|| lost(format!("does not hold task {}'s result", sources[i].task)))?;
        data.push(got);
    }
    Ok((idxs, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_server;
    use spindle_io::channel::Wire;
    use spindle_io::net::accept_auth;
    use std::sync::Arc;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const SECRET: &str = "the-application-secret";

    fn source(addr: &str) -> Vec<FetchSource> {
        vec![FetchSource {
            task: 7,
            bucket: 0,
            worker: 2,
            addr: addr.to_string(),
        }]
    }

    async fn fetch(addr: &str, idle: Duration) -> (Result<Vec<Bytes>, TaskError>, Duration) {
        let dir = tempfile::tempdir().unwrap();
        let mine = ResultStore::new(1 << 20, dir.path().to_path_buf());
        let started = Instant::now();
        let got = fetch_all(&source(addr), 1, &mine, SECRET, idle).await;
        (got, started.elapsed())
    }

    fn lost_from_2(got: &Result<Vec<Bytes>, TaskError>) -> String {
        let e = got.as_ref().expect_err("the fetch must fail");
        assert_eq!(
            e.kind,
            spindle_job::wire::FailureKind::InputLost { worker: 2 }
        );
        e.message.clone()
    }

    #[tokio::test]
    async fn a_result_larger_than_a_gibibyte_moves_between_workers_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ResultStore::new(4 << 30, dir.path().to_path_buf()));
        let big: Vec<u8> = (0..(1usize << 30) + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        store.put(7, 0, Bytes::from(big.clone())).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(data_server::serve(
            listener,
            Arc::from(SECRET),
            Wire::Encrypted,
            store,
            Duration::from_secs(30),
        ));
        let (got, took) = fetch(&addr, Duration::from_secs(30)).await;
        let got = got.unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(got.len(), 1);
        assert!(got[0] == big, "the bytes arrive intact");
        assert!(took < Duration::from_secs(60), "took {took:?}");
        server.abort();
    }

    #[tokio::test]
    async fn a_port_that_accepts_and_never_answers_is_reported_lost_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hold = tokio::spawn(async move {
            let mut held = vec![];
            while let Ok((s, _)) = listener.accept().await {
                held.push(s); // never a byte back
            }
        });
        let (got, took) = fetch(&addr, Duration::from_secs(2)).await;
        let message = lost_from_2(&got);
        assert!(message.contains("timed out"), "{message}");
        // the handshake's own deadline is ten seconds
        assert!(took < Duration::from_secs(15), "took {took:?}");
        hold.abort();
    }

    #[tokio::test]
    async fn a_data_server_without_the_secret_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // it answers the handshake with another secret, then offers forged data
        let forger = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = accept_auth(&mut s, "a-guess", Role::Data, Wire::Authenticated).await;
                let _ = s.write_all(&[0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 3]).await;
                let _ = s.write_all(&[0, 0, 0, 3, b'b', b'a', b'd']).await;
            }
        });
        let (got, took) = fetch(&addr, Duration::from_secs(5)).await;
        let message = lost_from_2(&got);
        assert!(message.contains("secret"), "{message}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
        forger.abort();
    }

    #[tokio::test]
    async fn a_producer_that_freezes_after_the_handshake_is_reported_lost_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let frozen = tokio::spawn(async move {
            let mut held = vec![];
            while let Ok((mut s, _)) = listener.accept().await {
                if accept_auth(&mut s, SECRET, Role::Data, Wire::Encrypted)
                    .await
                    .is_ok()
                {
                    let mut request = [0u8; 64];
                    let _ = s.read(&mut request).await;
                    held.push(s); // then silence, the connection open
                }
            }
        });
        let (got, took) = fetch(&addr, Duration::from_millis(500)).await;
        let message = lost_from_2(&got);
        assert!(message.contains("silent"), "{message}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        frozen.abort();
    }
}
