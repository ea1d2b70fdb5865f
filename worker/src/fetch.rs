//! Fetching a task's inputs straight from the workers that produced them.

use crate::error::TaskError;
use crate::store::ResultStore;
use bytes::Bytes;
use spindle_io::net::{connect_auth, encode_msg, read_frame, write_frame, Role};
use spindle_job::wire::{FetchSource, WorkerId};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;

/// Encoded results for `sources`, in order. Local ones come from `store`; remote ones
/// with one request per producing worker, all workers in parallel.
pub async fn fetch_all(
    sources: &[FetchSource],
    me: WorkerId,
    store: &ResultStore,
    secret: &str,
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
            remote.push(fetch_from(worker, idxs, sources, secret));
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
) -> Result<(Vec<usize>, Vec<Bytes>), TaskError> {
    let addr = &sources[idxs[0]].addr;
    let lost =
        |what: String| TaskError::input_lost(worker, format!("worker {worker} at {addr}: {what}"));
    let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr));
    let mut stream = connect
        .await
        .map_err(|_| lost("connect timed out".into()))?
        .map_err(|e| lost(e.to_string()))?;
    stream.set_nodelay(true).ok();
    connect_auth(&mut stream, secret, Role::Data)
        .await
        .map_err(|e| lost(e.to_string()))?;
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
        let frame = read_frame(&mut stream)
            .await
            .map_err(|e| lost(e.to_string()))?
            .ok_or_else(|| lost("closed mid-transfer".into()))?;
        if frame.is_empty() {
            return Err(lost(format!(
                "does not hold task {}'s result",
                sources[i].task
            )));
        }
        data.push(Bytes::from(frame));
    }
    Ok((idxs, data))
}
