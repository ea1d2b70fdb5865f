//! Hadoop wire protocols for spindle, with no JVM: Hadoop IPC (framing, call
//! multiplexing, SASL), DIGEST-MD5 token authentication, Hadoop XML configuration, the
//! Credentials (`HDTS`) file, and a typed YARN `ApplicationClientProtocol` client.
//!
//! Layers, bottom up: [`ipc`] moves opaque protobuf calls over one TCP connection;
//! [`sasl`] authenticates it; [`yarn`] gives typed methods and domain types so callers
//! never see generated protobuf structs (those live in [`proto`]).

pub mod config;
pub mod credentials;
mod error;
pub mod hdfs;
pub mod ipc;
pub mod logs;
pub mod proto;
pub mod retry;
pub mod sasl;
pub mod user;
pub mod yarn;

pub use error::{Error, RemoteException, Result};
