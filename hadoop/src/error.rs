//! The crate's one error type.

use std::fmt;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An exception thrown by the Java server, kept as data so callers can match on the
/// class (`org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteException {
    /// Fully qualified Java class name of the exception.
    pub class: String,
    /// The exception's message (often with a server-side stack trace).
    pub message: String,
    /// `RpcErrorCodeProto` number, when the server sent one.
    pub error_code: Option<i32>,
}

impl RemoteException {
    /// The class name without its package, for matching and short messages.
    pub fn simple_class(&self) -> &str {
        self.class.rsplit('.').next().unwrap_or(&self.class)
    }
}

impl fmt::Display for RemoteException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first line of the message is the useful part; the rest is a Java trace.
        let first = self.message.lines().next().unwrap_or("");
        write!(f, "{}: {}", self.class, first)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting to or talking with a server failed at the socket level.
    #[error(
        "i/o error with {addr}: {source}; check that the server runs and the address is right"
    )]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The connection is gone (server closed it, fatal error, or the client was dropped);
    /// calls in flight fail with this. A new connection may succeed.
    #[error("connection to {addr} closed: {reason}")]
    ConnectionClosed { addr: String, reason: String },
    /// The call reached the server and the server threw.
    #[error("remote call {method} on {addr} failed: {exception}")]
    Remote {
        addr: String,
        method: String,
        exception: RemoteException,
    },
    /// The server took the call but did not answer within the call timeout.
    #[error("call {method} on {addr} got no answer within {} s; the server may be paused or unreachable", after.as_secs())]
    Timeout {
        addr: String,
        method: String,
        after: std::time::Duration,
    },
    /// The server refused the connection as a whole (bad header, auth failure, ...).
    #[error("server {addr} closed the connection with a fatal error: {exception}")]
    Fatal {
        addr: String,
        exception: RemoteException,
    },
    /// A message could not be decoded.
    #[error("cannot decode {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    /// The peer broke the protocol (unexpected call id, oversized frame, ...).
    #[error("protocol violation with {addr}: {detail}")]
    Protocol { addr: String, detail: String },
    /// SASL negotiation failed on our side (no usable mechanism, bad rspauth, ...).
    #[error("SASL authentication with {addr} failed: {detail}")]
    Sasl { addr: String, detail: String },
    /// A configuration file or value is unusable.
    #[error("configuration error: {0}")]
    Config(String),
    /// A Credentials file is malformed.
    #[error("credentials file: {0}")]
    Credentials(String),
    /// A response lacked a field the protocol promises.
    #[error("response to {method} lacks {field}")]
    MissingField {
        method: &'static str,
        field: &'static str,
    },
}

impl Error {
    /// The remote exception, when the server threw one (per call or fatal).
    pub fn remote(&self) -> Option<&RemoteException> {
        match self {
            Error::Remote { exception, .. } | Error::Fatal { exception, .. } => Some(exception),
            _ => None,
        }
    }
}
