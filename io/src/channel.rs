//! What an application's connection carries once the handshake in [`crate::net`] has
//! succeeded: the bytes as they are, or, when the application asks for privacy, records
//! sealed with AES-256-GCM (from `ring`).
//!
//! Each direction has its own key, derived with HKDF-SHA256 from the application secret
//! and both handshake nonces, so no two connections and no two directions share a key;
//! a record's nonce is its number in its direction, so a record replayed, reordered or
//! dropped fails to open. A record is a 4-byte big-endian length and the ciphertext with
//! its tag.

use crate::net::Role;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Plain bytes per record: large enough that the tag and the length cost nothing, small
/// enough that a reader holds little before it can check a record.
const RECORD: usize = 64 << 10;
const TAG: usize = 16;
const HEADER: usize = 4;
const KEY_CONTEXT: &[u8] = b"spindle-channel-v1";

/// Whether an endpoint encrypts its connections after the handshake. The serving side
/// chooses; its choice is inside both handshake proofs, so nobody in between can turn
/// encryption off without the handshake failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// Authenticated by the handshake, then in the clear.
    #[default]
    Authenticated,
    /// Authenticated, then every byte sealed.
    Encrypted,
}

impl Wire {
    pub(crate) fn byte(self) -> u8 {
        match self {
            Wire::Authenticated => 0,
            Wire::Encrypted => 1,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Wire> {
        match b {
            0 => Some(Wire::Authenticated),
            1 => Some(Wire::Encrypted),
            _ => None,
        }
    }
}

/// One direction's key and the number of the next record.
struct DirectionKey {
    key: LessSafeKey,
    next: u64,
}

impl DirectionKey {
    fn nonce(&mut self) -> io::Result<Nonce> {
        let n = self.next;
        self.next = n
            .checked_add(1)
            .ok_or_else(|| io::Error::other("record counter exhausted"))?;
        let mut bytes = [0u8; NONCE_LEN];
        bytes[NONCE_LEN - 8..].copy_from_slice(&n.to_be_bytes());
        Ok(Nonce::assume_unique_for_key(bytes))
    }
}

/// The outcome of a handshake: how the connection goes on, and with which keys.
pub struct Session {
    wire: Wire,
    keys: Option<(DirectionKey, DirectionKey)>,
}

impl std::fmt::Debug for Session {
    /// The wire only: keys are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("wire", &self.wire).finish()
    }
}

impl Session {
    /// Derives the keys of one connection; `we_serve` says which side this is.
    pub(crate) fn new(
        wire: Wire,
        secret: &str,
        role: Role,
        server_nonce: &[u8],
        client_nonce: &[u8],
        we_serve: bool,
    ) -> Session {
        if wire == Wire::Authenticated {
            return Session { wire, keys: None };
        }
        let salt = [server_nonce, client_nonce].concat();
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(secret.as_bytes());
        let key = |direction: &[u8]| {
            let info = [KEY_CONTEXT, role.tag(), direction];
            let okm = prk
                .expand(&info, &AES_256_GCM)
                .expect("32 bytes is within HKDF's limit");
            DirectionKey {
                key: LessSafeKey::new(UnboundKey::from(okm)),
                next: 0,
            }
        };
        let (to_server, to_client) = (key(b"to-server"), key(b"to-client"));
        let keys = if we_serve {
            (to_client, to_server)
        } else {
            (to_server, to_client)
        };
        Session {
            wire,
            keys: Some(keys),
        }
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// The two halves of a connection, sealed if the session says so.
    pub fn seal<R, W>(self, read: R, write: W) -> (SealedRead<R>, SealedWrite<W>) {
        let (send, recv) = match self.keys {
            Some((send, recv)) => (Some(send), Some(recv)),
            None => (None, None),
        };
        (SealedRead::new(read, recv), SealedWrite::new(write, send))
    }

    /// `stream` as the session says it goes on.
    pub fn channel(self, stream: TcpStream) -> Channel {
        let (read, write) = stream.into_split();
        let (read, write) = self.seal(read, write);
        Channel { read, write }
    }
}

/// The reading half of a connection: records opened and checked, or the bytes as they
/// come.
pub struct SealedRead<R> {
    inner: R,
    key: Option<DirectionKey>,
    /// The record being read, its header first.
    record: Vec<u8>,
    filled: usize,
    /// The opened bytes of `record` not yet handed out.
    plain: Range<usize>,
}

impl<R> SealedRead<R> {
    fn new(inner: R, key: Option<DirectionKey>) -> Self {
        SealedRead {
            inner,
            key,
            record: Vec::new(),
            filled: 0,
            plain: 0..0,
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl<R: AsyncRead + Unpin> SealedRead<R> {
    /// Reads until `record` holds `want` bytes; false on a clean end before any.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<bool>> {
        if self.record.len() < want {
            self.record.resize(want, 0);
        }
        while self.filled < want {
            let mut buf = ReadBuf::new(&mut self.record[self.filled..want]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            if n == 0 {
                if self.filled == 0 {
                    return Poll::Ready(Ok(false));
                }
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            self.filled += n;
        }
        Poll::Ready(Ok(true))
    }

    /// Reads and opens the next record; false on a clean end of stream.
    fn poll_record(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if !ready!(self.poll_fill(cx, HEADER))? {
            return Poll::Ready(Ok(false));
        }
        let len = u32::from_be_bytes(self.record[..HEADER].try_into().expect("4 bytes")) as usize;
        if !(TAG..=RECORD + TAG).contains(&len) {
            return Poll::Ready(Err(invalid("a sealed record of impossible length")));
        }
        ready!(self.poll_fill(cx, HEADER + len))?;
        self.filled = 0;
        let key = self.key.as_mut().expect("only sealed reads come here");
        let nonce = key.nonce()?;
        let opened = key
            .key
            .open_in_place(nonce, Aad::empty(), &mut self.record[HEADER..HEADER + len])
            .map_err(|_| invalid("a record failed authentication: tampered, or not ours"))?
            .len();
        self.plain = HEADER..HEADER + opened;
        Poll::Ready(Ok(true))
    }
}

/// Plain reads smaller than this go through a buffer of this size: a frame's header and
/// its body then cost one read from the socket, not two.
const READ_AHEAD: usize = 16 << 10;

impl<R: AsyncRead + Unpin> SealedRead<R> {
    /// A plain connection's bytes, read ahead into `record` for small reads; large reads
    /// go straight to the caller's buffer.
    fn poll_read_plain(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.plain.is_empty() {
            if buf.remaining() >= READ_AHEAD {
                return Pin::new(&mut self.inner).poll_read(cx, buf);
            }
            self.record.resize(READ_AHEAD, 0);
            let mut ahead = ReadBuf::new(&mut self.record);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut ahead))?;
            self.plain = 0..ahead.filled().len();
        }
        let n = buf.remaining().min(self.plain.len());
        buf.put_slice(&self.record[self.plain.start..self.plain.start + n]);
        self.plain.start += n;
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SealedRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.key.is_none() {
            return this.poll_read_plain(cx, buf);
        }
        while this.plain.is_empty() {
            if !ready!(this.poll_record(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
        let n = buf.remaining().min(this.plain.len());
        buf.put_slice(&this.record[this.plain.start..this.plain.start + n]);
        this.plain.start += n;
        Poll::Ready(Ok(()))
    }
}

/// The writing half of a connection: bytes gathered into records and sealed when a
/// record is full or on flush, or passed straight on. Whoever writes a message flushes
/// it (`net::write_frame` does).
pub struct SealedWrite<W> {
    inner: W,
    key: Option<DirectionKey>,
    /// Plain bytes gathered behind room for the header.
    gathered: Vec<u8>,
    /// A sealed record, sent up to `sent`.
    out: Vec<u8>,
    sent: usize,
}

impl<W> SealedWrite<W> {
    fn new(inner: W, key: Option<DirectionKey>) -> Self {
        let room = if key.is_some() {
            HEADER + RECORD + TAG
        } else {
            0
        };
        let mut gathered = Vec::with_capacity(room);
        gathered.resize(HEADER.min(room), 0);
        SealedWrite {
            inner,
            key,
            gathered,
            out: Vec::with_capacity(room),
            sent: 0,
        }
    }
}

impl<W: AsyncWrite + Unpin> SealedWrite<W> {
    /// Seals what is gathered into `out`.
    fn seal_gathered(&mut self) -> io::Result<()> {
        let key = self.key.as_mut().expect("only sealed writes come here");
        let nonce = key.nonce()?;
        let tag = key
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), &mut self.gathered[HEADER..])
            .map_err(|_| io::Error::other("sealing failed"))?;
        self.gathered.extend_from_slice(tag.as_ref());
        let len = (self.gathered.len() - HEADER) as u32;
        self.gathered[..HEADER].copy_from_slice(&len.to_be_bytes());
        std::mem::swap(&mut self.gathered, &mut self.out);
        self.sent = 0;
        self.gathered.clear();
        self.gathered.resize(HEADER, 0);
        Ok(())
    }

    /// Sends the sealed record, then seals and sends what is gathered.
    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.sent < self.out.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.sent += n;
            }
            if self.gathered.len() == HEADER {
                return Poll::Ready(Ok(()));
            }
            self.seal_gathered()?;
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for SealedWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.key.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if this.gathered.len() == HEADER + RECORD {
            ready!(this.poll_push(cx))?;
        }
        let take = buf.len().min(HEADER + RECORD - this.gathered.len());
        this.gathered.extend_from_slice(&buf[..take]);
        Poll::Ready(Ok(take))
    }

    /// Plain: a frame's header and body leave in one write. Sealed: gathered anyway.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.key.is_none() {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.key.is_none() && self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.key.is_some() {
            ready!(this.poll_push(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.key.is_some() {
            ready!(this.poll_push(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

pub type ChannelReader = SealedRead<OwnedReadHalf>;
pub type ChannelWriter = SealedWrite<OwnedWriteHalf>;

/// An authenticated TCP connection, encrypted if its session says so.
pub struct Channel {
    read: ChannelReader,
    write: ChannelWriter,
}

impl Channel {
    pub fn into_split(self) -> (ChannelReader, ChannelWriter) {
        (self.read, self.write)
    }

    pub fn split(&mut self) -> (&mut ChannelReader, &mut ChannelWriter) {
        (&mut self.read, &mut self.write)
    }

    pub fn is_encrypted(&self) -> bool {
        self.write.key.is_some()
    }
}

impl AsyncRead for Channel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Channel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
