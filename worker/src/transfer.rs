//! How one task result crosses the wire between workers: a header frame saying whether
//! the sender holds it and how long it is, then the bytes in frames of at most
//! [`CHUNK`]. A result of any size moves this way; no frame nears the frame limit, and a
//! reader never allocates more than the header announced and the bytes actually came.

use bytes::{Bytes, BytesMut};
use spindle_io::net::{read_frame_within, within, write_frame};
use spindle_io::IoError;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// Bytes per data frame.
pub const CHUNK: usize = 8 << 20;
/// Largest result a reader accepts (far beyond any one task's memory).
const MAX_RESULT: u64 = 1 << 40;
/// What a reader reserves before the bytes arrive.
const RESERVE: u64 = 64 << 20;

/// Sends `data`, or that this worker does not hold the result; each frame must be taken
/// by the peer within `idle`.
pub async fn send_result<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: Option<&[u8]>,
    idle: Duration,
) -> Result<(), IoError> {
    let mut header = [0u8; 9];
    if let Some(d) = data {
        header[0] = 1;
        header[1..].copy_from_slice(&(d.len() as u64).to_be_bytes());
    }
    within(idle, write_frame(w, &header)).await?;
    for chunk in data.unwrap_or_default().chunks(CHUNK) {
        within(idle, write_frame(w, chunk)).await?;
    }
    Ok(())
}

/// Receives one result: `None` if the sender does not hold it. Gives up when the peer is
/// silent for `idle`.
pub async fn recv_result<R: AsyncRead + Unpin>(
    r: &mut R,
    idle: Duration,
) -> Result<Option<Bytes>, IoError> {
    let header = read_frame_within(r, idle)
        .await?
        .ok_or_else(|| IoError::Protocol("closed before the result".into()))?;
    let (present, len) = match header.as_slice() {
        [p @ (0 | 1), len @ ..] if len.len() == 8 => (
            *p == 1,
            u64::from_be_bytes(len.try_into().expect("8 bytes")),
        ),
        _ => return Err(IoError::Protocol("malformed result header".into())),
    };
    if !present {
        return Ok(None);
    }
    if len > MAX_RESULT {
        return Err(IoError::Protocol(format!(
            "a result of {len} bytes is beyond any task's"
        )));
    }
    let mut buf = BytesMut::with_capacity(len.min(RESERVE) as usize);
    while (buf.len() as u64) < len {
        let mut prefix = [0u8; 4];
        within(idle, r.read_exact(&mut prefix)).await?;
        let n = u32::from_be_bytes(prefix) as usize;
        let left = len - buf.len() as u64;
        if n == 0 || n > CHUNK || n as u64 > left {
            return Err(IoError::Protocol(format!(
                "a data frame of {n} bytes where at most {} were due",
                left.min(CHUNK as u64)
            )));
        }
        let start = buf.len();
        buf.resize(start + n, 0);
        within(idle, r.read_exact(&mut buf[start..])).await?;
    }
    Ok(Some(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn results_round_trip_in_chunks_and_absence_is_told() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let data: Vec<u8> = (0..(CHUNK * 2 + 5)).map(|i| i as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            send_result(&mut a, Some(&sent), IDLE).await.unwrap();
            send_result(&mut a, None, IDLE).await.unwrap();
            send_result(&mut a, Some(&[]), IDLE).await.unwrap();
        });
        assert_eq!(recv_result(&mut b, IDLE).await.unwrap().unwrap(), data);
        assert_eq!(recv_result(&mut b, IDLE).await.unwrap(), None);
        assert_eq!(
            recv_result(&mut b, IDLE).await.unwrap().unwrap(),
            Bytes::new()
        );
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn lies_about_lengths_are_refused_without_allocating() {
        // a header announcing a petabyte
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let mut header = vec![1u8];
        header.extend((1u64 << 50).to_be_bytes());
        write_frame(&mut a, &header).await.unwrap();
        assert!(recv_result(&mut b, IDLE).await.is_err());
        // a data frame of 4 GiB - 1 after an honest small header
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let mut header = vec![1u8];
        header.extend(100u64.to_be_bytes());
        write_frame(&mut a, &header).await.unwrap();
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let err = recv_result(&mut b, IDLE).await.unwrap_err().to_string();
        assert!(err.contains("at most 100"), "{err}");
    }

    #[tokio::test]
    async fn a_sender_that_stops_mid_result_times_out() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let mut header = vec![1u8];
        header.extend(1000u64.to_be_bytes());
        write_frame(&mut a, &header).await.unwrap();
        write_frame(&mut a, &[7u8; 10]).await.unwrap();
        let started = std::time::Instant::now();
        let err = recv_result(&mut b, Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("silent"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(a);
    }
}
