//! Framed TCP with a per-application secret.
//!
//! Every connection to the master or a worker's data server starts with a mutual
//! challenge: the server sends a nonce, the client answers with its own nonce and
//! HMAC-SHA256(secret, "client", role, both nonces), and the server proves itself back
//! with HMAC-SHA256(secret, "server", role, both nonces). The role (master or data server)
//! and both nonces are in every proof, so neither side's answer can be replayed on another
//! connection or relayed to an endpoint of another role. Nothing is served before both
//! sides succeed. The server's first message also says whether the connection goes on
//! encrypted ([`Wire`]), and both proofs cover that, so it cannot be altered on the way.
//! What follows is a [`Channel`]. Frames are a 4-byte big-endian length and a body.

use crate::channel::{Channel, Session, Wire};
use crate::error::IoError;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest frame accepted; a bigger length means a confused or hostile peer. Task results
/// of any size travel as many frames (the worker's transfer module), never one.
pub const MAX_FRAME: usize = 256 << 20;
const NONCE: usize = 32;
const CONTEXT: &[u8] = b"spindle-auth-v3";
/// A client that has not proved itself by then is dropped, so silent connections cannot
/// pile up; a client waits as long for the server's proof.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections still in their handshake, in all and from one address; more are closed at
/// once, so a flood cannot starve the application's own peers.
const MAX_UNAUTHENTICATED: usize = 256;
const MAX_UNAUTHENTICATED_PER_PEER: usize = 32;

/// Which endpoint a handshake is for; part of every proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The application master's endpoint for workers.
    Master,
    /// A worker's data server, for its peers.
    Data,
    /// The application master's key-value store, for containers and the edge node.
    Kv,
    /// A query worker (its stages' tasks and their results), for the query's
    /// coordinator and the other workers.
    Query,
}

impl Role {
    pub(crate) fn tag(self) -> &'static [u8] {
        match self {
            Role::Master => b"master",
            Role::Data => b"data",
            Role::Kv => b"kv",
            Role::Query => b"query",
        }
    }
}

/// Handshakes under way, per peer address, to cap them.
#[derive(Default)]
struct Pending {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

/// A slot in [`Pending`], given back when dropped.
struct PendingSlot {
    pending: Arc<Mutex<Pending>>,
    peer: IpAddr,
}

impl PendingSlot {
    fn take(pending: &Arc<Mutex<Pending>>, peer: IpAddr) -> Option<PendingSlot> {
        let mut p = pending.lock().expect("pending poisoned");
        let mine = p.by_peer.get(&peer).copied().unwrap_or(0);
        if p.total >= MAX_UNAUTHENTICATED || mine >= MAX_UNAUTHENTICATED_PER_PEER {
            return None;
        }
        p.total += 1;
        *p.by_peer.entry(peer).or_default() += 1;
        Some(PendingSlot {
            pending: pending.clone(),
            peer,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut p = self.pending.lock().expect("pending poisoned");
        p.total -= 1;
        if let Some(n) = p.by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                p.by_peer.remove(&self.peer);
            }
        }
    }
}

/// Accepts connections forever. Each one that completes the handshake for `role` within
/// [`AUTH_TIMEOUT`] is handed to `handle` on a task of its own, as `wire` says; whatever
/// fails is logged with `what` and the peer's address. Every endpoint of an application
/// serves this way.
pub async fn serve_authenticated<H, F>(
    listener: TcpListener,
    secret: Arc<str>,
    role: Role,
    wire: Wire,
    what: &'static str,
    handle: H,
) where
    H: Fn(Channel) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), IoError>> + Send + 'static,
{
    let handle = Arc::new(handle);
    let pending = Arc::new(Mutex::new(Pending::default()));
    let mut accept_failures = 0u32;
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(a) => {
                accept_failures = 0;
                a
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning, and say
                // so once per run of failures.
                if accept_failures == 0 {
                    tracing::warn!(error = %e, "{what}: accept failed; backing off");
                }
                accept_failures = accept_failures.saturating_add(1);
                let wait = 10u64 << accept_failures.min(7);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                continue;
            }
        };
        let Some(slot) = PendingSlot::take(&pending, peer.ip()) else {
            tracing::debug!(%peer, "{what}: too many unauthenticated connections; closed");
            continue;
        };
        let secret = secret.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let served = async {
                stream.set_nodelay(true)?;
                let handshake = accept_auth(&mut stream, &secret, role, wire);
                let session = tokio::time::timeout(AUTH_TIMEOUT, handshake)
                    .await
                    .map_err(|_| IoError::Auth("handshake timed out".into()))??;
                drop(slot);
                handle(session.channel(stream)).await
            };
            if let Err(e) = served.await {
                tracing::warn!(%peer, error = %e, "{what}");
            }
        });
    }
}

/// A fresh application secret (hex, 256 bits).
pub fn new_secret() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The proof of one side; `server` is the server's first message (nonce and wire).
fn mac(secret: &str, side: &[u8], role: Role, server: &[u8], client: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for part in [CONTEXT, side, role.tag(), server, client] {
        mac.update(&(part.len() as u32).to_be_bytes());
        mac.update(part);
    }
    mac
}

fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// Server side of the handshake: succeeds only if the client proves it holds `secret`
/// and came for this `role`; then proves the same back. The connection goes on as `wire`
/// says.
pub async fn accept_auth<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
    role: Role,
    wire: Wire,
) -> Result<Session, IoError> {
    let mut hello = [0u8; NONCE + 1];
    hello[..NONCE].copy_from_slice(&nonce());
    hello[NONCE] = wire.byte();
    stream.write_all(&hello).await?;
    let mut answer = [0u8; NONCE + 32];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| IoError::Auth(format!("no answer to challenge: {e}")))?;
    let (client, proof) = answer.split_at(NONCE);
    mac(secret, b"client", role, &hello, client)
        .verify_slice(proof)
        .map_err(|_| IoError::Auth("peer does not hold the application secret".into()))?;
    let mine = mac(secret, b"server", role, &hello, client)
        .finalize()
        .into_bytes();
    stream.write_all(&mine).await?;
    Ok(Session::new(
        wire,
        secret,
        role,
        &hello[..NONCE],
        client,
        true,
    ))
}

/// Client side of the handshake with an endpoint of `role`: proves the secret, then
/// checks that the server holds it too, all within [`AUTH_TIMEOUT`]. The connection goes
/// on as the server chose.
pub async fn connect_auth<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
    role: Role,
) -> Result<Session, IoError> {
    tokio::time::timeout(AUTH_TIMEOUT, async {
        let mut hello = [0u8; NONCE + 1];
        stream.read_exact(&mut hello).await?;
        let wire = Wire::from_byte(hello[NONCE])
            .ok_or_else(|| IoError::Protocol("not a spindle endpoint".into()))?;
        let client = nonce();
        let proof = mac(secret, b"client", role, &hello, &client)
            .finalize()
            .into_bytes();
        stream
            .write_all(&[&client[..], &proof[..]].concat())
            .await?;
        let mut theirs = [0u8; 32];
        stream
            .read_exact(&mut theirs)
            .await
            .map_err(|_| IoError::Auth("server rejected the application secret".into()))?;
        mac(secret, b"server", role, &hello, &client)
            .verify_slice(&theirs)
            .map_err(|_| IoError::Auth("server does not hold the application secret".into()))?;
        Ok(Session::new(
            wire,
            secret,
            role,
            &hello[..NONCE],
            &client,
            false,
        ))
    })
    .await
    .map_err(|_| IoError::Auth("handshake timed out".into()))?
}

/// Connects to `addr` and completes the handshake for `role`, each within `deadline`.
pub async fn connect_channel(
    addr: &str,
    secret: &str,
    role: Role,
    deadline: Duration,
) -> Result<Channel, IoError> {
    let mut stream = tokio::time::timeout(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            IoError::Protocol(format!("connect timed out after {}", seconds(deadline)))
        })??;
    stream.set_nodelay(true)?;
    let session = connect_auth(&mut stream, secret, role).await?;
    Ok(session.channel(stream))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), IoError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| IoError::Protocol(format!("frame of {} bytes is too large", body.len())))?;
    // One write for both where the connection takes vectored writes (a plain one).
    let header = len.to_be_bytes();
    let mut frame = bytes::Buf::chain(&header[..], body);
    w.write_all_buf(&mut frame).await?;
    // A no-op on a plain connection; an encrypted one seals and sends the last record.
    w.flush().await?;
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, IoError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(IoError::Protocol(format!(
            "frame of {len} bytes is too large"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Reads one frame, giving up after `idle` without one: a peer that stopped (a frozen
/// process, a vanished host) must not hold the reader forever.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    r: &mut R,
    idle: Duration,
) -> Result<Option<Vec<u8>>, IoError> {
    within(idle, read_frame(r)).await
}

/// `io`, or a protocol error saying the peer was silent if it takes longer than `idle`.
pub async fn within<T, E: Into<IoError>>(
    idle: Duration,
    io: impl Future<Output = Result<T, E>>,
) -> Result<T, IoError> {
    match tokio::time::timeout(idle, io).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(IoError::Protocol(format!(
            "peer silent for {}",
            seconds(idle)
        ))),
    }
}

/// `1.5s`, for messages about deadlines.
pub fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Serializes a message with bincode.
pub fn encode_msg<T: serde::Serialize>(msg: &T) -> Result<Vec<u8>, IoError> {
    bincode::serialize(msg).map_err(|e| IoError::Protocol(e.to_string()))
}

pub fn decode_msg<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, IoError> {
    bincode::deserialize(body).map_err(|e| IoError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn right_secret_passes_wrong_secret_is_refused_both_ways() {
        for (client_secret, server_secret, ok) in [
            ("s3cret", "s3cret", true),
            ("guess", "s3cret", false),
            ("s3cret", "guess", false),
        ] {
            let (mut a, mut b) = tokio::io::duplex(1024);
            let server = tokio::spawn(async move {
                accept_auth(&mut a, server_secret, Role::Data, Wire::Authenticated).await
            });
            let client = connect_auth(&mut b, client_secret, Role::Data).await;
            let served = server.await.unwrap();
            assert_eq!(
                client.is_ok(),
                ok,
                "{client_secret}/{server_secret}: {client:?}"
            );
            assert_eq!(
                served.is_ok(),
                ok,
                "{client_secret}/{server_secret}: {served:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_answer_for_one_role_is_refused_by_another() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let server =
            tokio::spawn(
                async move { accept_auth(&mut a, "k", Role::Master, Wire::Encrypted).await },
            );
        let client = connect_auth(&mut b, "k", Role::Data).await;
        assert!(server.await.unwrap().is_err());
        assert!(client.is_err());
    }

    #[tokio::test]
    async fn a_relay_cannot_reuse_a_workers_answer_for_the_master() {
        // An impostor data server relays the master's challenge to a worker that came to
        // fetch data, and the worker's answer back to the master.
        let (mut master_end, mut relay_to_master) = tokio::io::duplex(1024);
        let (mut relay_to_worker, mut worker_end) = tokio::io::duplex(1024);
        let master = tokio::spawn(async move {
            accept_auth(&mut master_end, "k", Role::Master, Wire::Authenticated).await
        });
        let worker =
            tokio::spawn(async move { connect_auth(&mut worker_end, "k", Role::Data).await });
        let mut challenge = [0u8; NONCE + 1];
        relay_to_master.read_exact(&mut challenge).await.unwrap();
        relay_to_worker.write_all(&challenge).await.unwrap();
        let mut answer = [0u8; NONCE + 32];
        relay_to_worker.read_exact(&mut answer).await.unwrap();
        relay_to_master.write_all(&answer).await.unwrap();
        let e = master.await.unwrap().unwrap_err().to_string();
        assert!(e.contains("does not hold"), "{e}");
        drop(relay_to_worker);
        assert!(worker.await.unwrap().is_err());
    }

    #[test]
    fn unauthenticated_connections_are_capped_per_peer_and_in_total() {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let one: IpAddr = "127.0.0.2".parse().unwrap();
        let mut held: Vec<PendingSlot> = (0..MAX_UNAUTHENTICATED_PER_PEER)
            .map(|_| PendingSlot::take(&pending, one).unwrap())
            .collect();
        assert!(PendingSlot::take(&pending, one).is_none());
        held.pop();
        assert!(PendingSlot::take(&pending, one).is_some());
        let mut others = vec![];
        for i in 0..MAX_UNAUTHENTICATED {
            let ip: IpAddr = format!("10.0.{}.{}", i / 250, i % 250 + 1).parse().unwrap();
            if let Some(s) = PendingSlot::take(&pending, ip) {
                others.push(s);
            }
        }
        assert_eq!(pending.lock().unwrap().total, MAX_UNAUTHENTICATED);
        drop(others);
        drop(held);
        assert_eq!(pending.lock().unwrap().total, 0);
        assert!(pending.lock().unwrap().by_peer.is_empty());
    }

    #[tokio::test]
    async fn frames_round_trip_and_reject_oversize() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, b"hello").await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap().unwrap(), b"hello");
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(read_frame(&mut b).await.is_err());
        drop(a);
        assert!(read_frame(&mut b).await.unwrap().is_none());
    }
}
