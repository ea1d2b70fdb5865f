//! Framed TCP with a per-application secret.
//!
//! Every connection to the master or a worker's data server starts with a challenge: the
//! server sends a random nonce, the client answers HMAC-SHA256(secret, nonce). Nothing is
//! served before that succeeds, so only holders of the application's secret can talk to
//! its endpoints. Frames are a 4-byte big-endian length and a body.

use crate::error::IoError;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest frame accepted; a bigger length means a confused or hostile peer.
pub const MAX_FRAME: usize = 1 << 30;
const NONCE: usize = 32;
const CONTEXT: &[u8] = b"spindle-auth-v1";
/// A client that has not proved itself by then is dropped, so silent connections cannot
/// pile up.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections forever. Each one that proves it holds `secret` within
/// [`AUTH_TIMEOUT`] is handed to `handle` on a task of its own; whatever fails is logged
/// with `what` and the peer's address. Every endpoint of an application serves this way.
pub async fn serve_authenticated<H, F>(
    listener: TcpListener,
    secret: Arc<str>,
    what: &'static str,
    handle: H,
) where
    H: Fn(TcpStream) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), IoError>> + Send + 'static,
{
    let handle = Arc::new(handle);
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            continue;
        };
        let secret = secret.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let served = async {
                stream.set_nodelay(true)?;
                tokio::time::timeout(AUTH_TIMEOUT, accept_auth(&mut stream, &secret))
                    .await
                    .map_err(|_| IoError::Auth("handshake timed out".into()))??;
                handle(stream).await
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

fn proof(secret: &str, nonce: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(CONTEXT);
    mac.update(nonce);
    mac.finalize().into_bytes().to_vec()
}

/// Server side of the handshake: succeeds only if the client proves it holds `secret`.
pub async fn accept_auth<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
) -> Result<(), IoError> {
    let mut nonce = [0u8; NONCE];
    rand::thread_rng().fill_bytes(&mut nonce);
    stream.write_all(&nonce).await?;
    let mut answer = [0u8; 32];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| IoError::Auth(format!("no answer to challenge: {e}")))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(CONTEXT);
    mac.update(&nonce);
    mac.verify_slice(&answer)
        .map_err(|_| IoError::Auth("peer does not hold the application secret".into()))?;
    stream.write_all(b"OK").await?;
    Ok(())
}

/// Client side of the handshake.
pub async fn connect_auth<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
) -> Result<(), IoError> {
    let mut nonce = [0u8; NONCE];
    stream.read_exact(&mut nonce).await?;
    stream.write_all(&proof(secret, &nonce)).await?;
    let mut ok = [0u8; 2];
    stream
        .read_exact(&mut ok)
        .await
        .map_err(|_| IoError::Auth("server rejected the application secret".into()))?;
    if &ok != b"OK" {
        return Err(IoError::Auth("unexpected handshake reply".into()));
    }
    Ok(())
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), IoError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| IoError::Protocol(format!("frame of {} bytes is too large", body.len())))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(body).await?;
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
    async fn right_secret_passes_wrong_secret_is_refused() {
        for (client_secret, ok) in [("s3cret", true), ("guess", false)] {
            let (mut a, mut b) = tokio::io::duplex(1024);
            let server = tokio::spawn(async move { accept_auth(&mut a, "s3cret").await });
            let client = connect_auth(&mut b, client_secret).await;
            let served = server.await.unwrap();
            assert_eq!(served.is_ok(), ok);
            assert_eq!(client.is_ok(), ok);
        }
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
