//! Hadoop IPC client: one TCP connection multiplexing protobuf calls.
//!
//! Layers: [`frame`] encodes packets; [`handshake`] runs the preamble, SASL and the
//! connection context on the fresh socket; [`wrapped`] carries the stream through a
//! SASL security layer when one was chosen; [`Connection`] then owns a writer task fed by
//! a channel and a reader task that completes waiting calls by call id and fails them
//! all when the connection ends. Typed protocols sit on top and call
//! [`Connection::call`] with their protocol name.

mod connection;
pub(crate) mod frame;
mod handshake;
#[cfg(test)]
mod tests;
mod wrapped;

pub use connection::{Auth, Connection, ConnectionOptions, CALL_TIMEOUT};
