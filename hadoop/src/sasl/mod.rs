//! SASL client mechanisms, independent of the socket: the IPC layer drives the exchange
//! and hands each server challenge to a [`SaslMechanism`].
//!
//! Two mechanisms: DIGEST-MD5 with a Hadoop token ([`DigestMd5`]) and GSSAPI with a
//! Kerberos login ([`gssapi::Gssapi`]). Each negotiates the quality of protection the
//! client's `hadoop.rpc.protection` allows ([`Protection`]); integrity and privacy then
//! wrap every later message through the mechanism's [`SecurityLayer`].

mod digest;
pub mod gssapi;
mod layer;

pub use digest::{DigestMd5, DigestParams};
pub use layer::{Protection, Qop, SecurityLayer};

/// What the server offered for one authentication method (`RpcSaslProto.SaslAuth`
/// minus the challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAuth {
    /// Hadoop's method name: `TOKEN`, `KERBEROS`, `SIMPLE`.
    pub method: String,
    /// SASL mechanism: `DIGEST-MD5`, `GSSAPI`.
    pub mechanism: String,
    /// Service protocol name (empty for token servers).
    pub protocol: Option<String>,
    /// Server id (`default` for token servers).
    pub server_id: Option<String>,
}

/// One side of a SASL conversation, as Hadoop's `SaslRpcClient` runs it.
pub trait SaslMechanism: Send {
    /// Hadoop method this mechanism answers (`TOKEN`).
    fn method(&self) -> &str;
    /// SASL mechanism name (`DIGEST-MD5`).
    fn mechanism(&self) -> &str;
    /// Called once with the server's chosen auth entry before the first challenge; an
    /// error (the server names an unexpected principal) ends the exchange.
    fn start(&mut self, auth: &ServerAuth) -> Result<(), String>;
    /// Answers a server challenge (the first one arrives inside the NEGOTIATE message).
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String>;
    /// Checks the server's final token (DIGEST-MD5: `rspauth`); an error means the
    /// server did not prove it knows the secret.
    fn finish(&mut self, token: Option<&[u8]>) -> Result<(), String>;
    /// After [`finish`](Self::finish): the layer that must wrap every later message,
    /// when the exchange chose integrity or privacy.
    fn take_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        None
    }
}
