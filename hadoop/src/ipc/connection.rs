//! One Hadoop IPC connection: a writer task fed by a channel, a reader task completing
//! waiting calls by call id, and a call table shared by the two.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use rand::RngCore;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::frame::{
    decode_body, encode_packet, preamble, request_header, response_call_id, split_response,
    AUTH_NONE, AUTH_SASL,
};
use super::handshake;
use super::wrapped::{PacketReader, SharedLayer};
use crate::credentials::Token;
use crate::proto::common::{
    rpc_response_header_proto::RpcStatusProto, RequestHeaderProto, RpcResponseHeaderProto,
};
use crate::sasl::gssapi::{Gssapi, KerberosLogin, ServerPrincipal};
use crate::sasl::{DigestMd5, Protection, SaslMechanism};
use crate::{Error, RemoteException, Result};

/// Packets queued for the writer before `call` waits; backpressure, not a limit on calls.
const WRITE_QUEUE: usize = 64;

/// How the connection authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No SASL: the server trusts the user named in the connection context. With
    /// `real_user`, that user acts as `user` (Hadoop's proxy user), which the server
    /// allows only as its `hadoop.proxyuser.<real_user>.*` settings say.
    Simple {
        user: String,
        real_user: Option<String>,
    },
    /// SASL DIGEST-MD5 with a token. `fallback_user` is claimed only if the server
    /// answers that it wants SIMPLE after all.
    Token { token: Token, fallback_user: String },
    /// SASL GSSAPI as `login`, with a server that must be `server`; with `act_as`, the
    /// login acts as that user (a proxy user, checked by the server as for SIMPLE).
    Kerberos {
        login: KerberosLogin,
        server: ServerPrincipal,
        act_as: Option<String>,
    },
}

/// Everything needed to open a connection besides the address.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Protocol named in the connection context (e.g.
    /// `org.apache.hadoop.yarn.api.ApplicationClientProtocolPB`).
    pub protocol: String,
    pub auth: Auth,
    /// The qualities of protection accepted (`hadoop.rpc.protection`).
    pub protection: Protection,
    /// Limit for TCP connect plus authentication.
    pub connect_timeout: Duration,
    /// Limit for each call's answer: a server that stops answering (paused, partitioned
    /// without a reset) fails the call instead of hanging it.
    pub call_timeout: Duration,
}

/// The call limit used unless a client says otherwise: Hadoop's own clients ping every
/// minute and give up after a few missed pings.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

struct Waiting {
    method: String,
    reply: oneshot::Sender<Result<Bytes>>,
}

/// Calls in flight, and why the connection closed once it has.
#[derive(Default)]
struct CallTable {
    waiting: HashMap<i32, Waiting>,
    closed: Option<String>,
}

struct Shared {
    addr: String,
    table: Mutex<CallTable>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, CallTable> {
        // A panic while holding this lock cannot leave the table inconsistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed_error(&self, reason: &str) -> Error {
        Error::ConnectionClosed {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }

    /// Marks the connection closed and fails every waiting call with `make_err`.
    fn close(&self, reason: String, make_err: impl Fn() -> Error) {
        let waiting = {
            let mut t = self.lock();
            if t.closed.is_none() {
                t.closed = Some(reason.clone());
            }
            std::mem::take(&mut t.waiting)
        };
        if !waiting.is_empty() {
            debug!(addr = %self.addr, calls = waiting.len(), %reason, "failing calls in flight");
        }
        for (_, w) in waiting {
            let _ = w.reply.send(Err(make_err()));
        }
    }
}

/// An authenticated connection to one Hadoop server. Calls may be issued concurrently;
/// dropping the connection closes the socket.
pub struct Connection {
    shared: Arc<Shared>,
    client_id: [u8; 16],
    next_call_id: AtomicI32,
    call_timeout: Duration,
    outgoing: mpsc::Sender<Bytes>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Connection {
    /// Connects, authenticates and sends the connection context.
    pub async fn connect(addr: &str, opts: ConnectionOptions) -> Result<Self> {
        let setup = Self::setup(addr, &opts);
        let stream = tokio::time::timeout(opts.connect_timeout, setup)
            .await
            .map_err(|_| Error::Io {
                addr: addr.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connection setup took longer than {:?}",
                        opts.connect_timeout
                    ),
                ),
            })??;
        let (client_id, stream, layer) = stream;
        let (rd, wr) = stream.into_split();
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            table: Mutex::new(CallTable::default()),
        });
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(
            PacketReader::new(rd, layer.clone()),
            shared.clone(),
        ));
        let writer = tokio::spawn(write_loop(wr, rx, layer, shared.clone()));
        debug!(addr, protocol = %opts.protocol, "connected");
        Ok(Self {
            shared,
            client_id,
            next_call_id: AtomicI32::new(0),
            call_timeout: opts.call_timeout,
            outgoing: tx,
            reader,
            writer,
        })
    }

    async fn setup(
        addr: &str,
        opts: &ConnectionOptions,
    ) -> Result<([u8; 16], TcpStream, Option<SharedLayer>)> {
        let io_err = |source| Error::Io {
            addr: addr.to_string(),
            source,
        };
        let mut stream = TcpStream::connect(addr).await.map_err(io_err)?;
        stream.set_nodelay(true).map_err(io_err)?;
        let mut client_id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut client_id);
        let (mut mech, fallback_user, act_as): (Box<dyn SaslMechanism>, Option<&str>, _) =
            match &opts.auth {
                Auth::Simple { user, real_user } => {
                    stream
                        .write_all(&preamble(AUTH_NONE))
                        .await
                        .map_err(io_err)?;
                    handshake::connection_context(
                        &mut stream,
                        addr,
                        &client_id,
                        &opts.protocol,
                        Some(handshake::ContextUser {
                            effective: user,
                            real: real_user.as_deref(),
                        }),
                        None,
                    )
                    .await?;
                    return Ok((client_id, stream, None));
                }
                Auth::Token {
                    token,
                    fallback_user,
                } => (
                    Box::new(DigestMd5::new(token, opts.protection.clone())),
                    Some(fallback_user.as_str()),
                    None,
                ),
                Auth::Kerberos {
                    login,
                    server,
                    act_as,
                } => (
                    Box::new(Gssapi::new(
                        login.clone(),
                        server.clone(),
                        opts.protection.clone(),
                    )),
                    Some(login.short_name()),
                    act_as.as_deref(),
                ),
            };
        stream
            .write_all(&preamble(AUTH_SASL))
            .await
            .map_err(io_err)?;
        let used_sasl = handshake::sasl(&mut stream, addr, mech.as_mut()).await?;
        let layer = mech
            .take_layer()
            .map(|l| Arc::new(Mutex::new(l)) as SharedLayer);
        // After SASL the server takes the user from the token or ticket, and a name that
        // differs from it asks to act as that user: only a proxy names one. A server that
        // skipped SASL (security off) is told who we are.
        let context_user = if used_sasl {
            act_as.map(|user| handshake::ContextUser {
                effective: user,
                real: None,
            })
        } else {
            fallback_user.map(|user| handshake::ContextUser {
                effective: act_as.unwrap_or(user),
                real: act_as.map(|_| user),
            })
        };
        handshake::connection_context(
            &mut stream,
            addr,
            &client_id,
            &opts.protocol,
            context_user,
            layer.as_ref(),
        )
        .await?;
        Ok((client_id, stream, layer))
    }

    /// The server address this connection talks to.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// True once the connection can take no more calls; open a new one.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Calls `method` of `protocol` with `req` and decodes the response as `Res`.
    /// A server-side exception comes back as [`Error::Remote`].
    pub async fn call<Req, Res>(&self, protocol: &str, method: &str, req: &Req) -> Result<Res>
    where
        Req: Message,
        Res: Message + Default,
    {
        let id = self.next_call_id.fetch_add(1, Ordering::Relaxed);
        let header = request_header(id, &self.client_id, 0);
        let request_header = RequestHeaderProto {
            method_name: method.to_string(),
            declaring_class_protocol_name: protocol.to_string(),
            client_protocol_version: 1,
        };
        let packet = encode_packet(&[&header, &request_header, req]);
        let (reply, wait) = oneshot::channel();
        {
            let mut t = self.shared.lock();
            if let Some(reason) = &t.closed {
                return Err(self.shared.closed_error(reason));
            }
            t.waiting.insert(
                id,
                Waiting {
                    method: method.to_string(),
                    reply,
                },
            );
        }
        // The send waits while the writer is stuck on a server that stopped reading: it
        // counts against the call's time too.
        let deadline = tokio::time::Instant::now() + self.call_timeout;
        let answered = match tokio::time::timeout_at(deadline, self.outgoing.send(packet)).await {
            Ok(Ok(())) => tokio::time::timeout_at(deadline, wait).await.ok(),
            Ok(Err(_)) => {
                self.shared.lock().waiting.remove(&id);
                return Err(self.shared.closed_error("writer stopped"));
            }
            Err(_) => None,
        };
        let Some(answer) = answered else {
            self.shared.lock().waiting.remove(&id);
            return Err(Error::Timeout {
                addr: self.shared.addr.clone(),
                method: method.to_string(),
                after: self.call_timeout,
            });
        };
        let body = answer.map_err(|_| self.shared.closed_error("reader stopped"))??;
        decode_body::<Res>(body).map_err(|source| Error::Decode {
            what: "response message",
            source,
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        self.shared.close("connection dropped".into(), || {
            self.shared.closed_error("connection dropped")
        });
    }
}

fn remote_exception(header: &RpcResponseHeaderProto) -> RemoteException {
    RemoteException {
        class: header.exception_class_name.clone().unwrap_or_default(),
        message: header.error_msg.clone().unwrap_or_default(),
        error_code: header.error_detail,
    }
}

/// How long a failed write leaves the reader to find the server's own reason.
const WRITE_FAILURE_GRACE: Duration = Duration::from_millis(500);

/// Writes queued packets, flushing whenever the queue runs dry; with a security layer,
/// each batch goes out wrapped.
async fn write_loop(
    wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Bytes>,
    layer: Option<SharedLayer>,
    shared: Arc<Shared>,
) {
    let mut wr = BufWriter::new(wr);
    while let Some(packet) = rx.recv().await {
        let result = match &layer {
            None => write_batch(&mut wr, packet, &mut rx).await,
            Some(layer) => write_wrapped_batch(&mut wr, packet, &mut rx, layer).await,
        };
        if let Err(e) = result.and(wr.flush().await) {
            // A server that refuses a connection (SIMPLE where TOKEN is required, say)
            // sends its fatal error and closes; a write racing that close fails with a
            // broken pipe. The reader delivers the server's reason if it has it; calls
            // left waiting after a moment fail with the write's.
            tokio::time::sleep(WRITE_FAILURE_GRACE).await;
            let reason = format!("write failed: {e}");
            shared.close(reason.clone(), || shared.closed_error(&reason));
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// Writes `first` and whatever else is queued, as they are.
async fn write_batch(
    wr: &mut BufWriter<OwnedWriteHalf>,
    first: Bytes,
    rx: &mut mpsc::Receiver<Bytes>,
) -> std::io::Result<()> {
    wr.write_all(&first).await?;
    while let Ok(more) = rx.try_recv() {
        wr.write_all(&more).await?;
    }
    Ok(())
}

/// Writes `first` and whatever else is queued through the security layer.
async fn write_wrapped_batch(
    wr: &mut BufWriter<OwnedWriteHalf>,
    first: Bytes,
    rx: &mut mpsc::Receiver<Bytes>,
    layer: &SharedLayer,
) -> std::io::Result<()> {
    let mut batch = first.to_vec();
    while let Ok(more) = rx.try_recv() {
        batch.extend_from_slice(&more);
    }
    let wrapped = super::wrapped::wrap(layer, &batch)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    wr.write_all(&wrapped).await
}

/// Reads responses and hands each to its waiting call until the connection ends.
async fn read_loop(mut rd: PacketReader<OwnedReadHalf>, shared: Arc<Shared>) {
    let reason = loop {
        let packet = match rd.next().await {
            Ok(Some(p)) => p,
            Ok(None) => break "server closed the connection".to_string(),
            Err(e) => break format!("read failed: {e}"),
        };
        let (header, rest) = match split_response(packet) {
            Ok(parts) => parts,
            Err(e) => break format!("undecodable response header: {e}"),
        };
        let id = response_call_id(&header);
        if header.status == RpcStatusProto::Fatal as i32 {
            let exception = remote_exception(&header);
            warn!(addr = %shared.addr, call = id, %exception, "fatal error from server");
            let reason = format!("fatal: {exception}");
            shared.close(reason, || Error::Fatal {
                addr: shared.addr.clone(),
                exception: exception.clone(),
            });
            return;
        }
        let Some(waiting) = shared.lock().waiting.remove(&id) else {
            warn!(addr = %shared.addr, call = id, "response for no waiting call");
            continue;
        };
        let result = if header.status == RpcStatusProto::Success as i32 {
            Ok(rest)
        } else {
            Err(Error::Remote {
                addr: shared.addr.clone(),
                method: waiting.method,
                exception: remote_exception(&header),
            })
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = waiting.reply.send(result);
    };
    debug!(addr = %shared.addr, %reason, "connection closed");
    shared.close(reason.clone(), || shared.closed_error(&reason));
}
