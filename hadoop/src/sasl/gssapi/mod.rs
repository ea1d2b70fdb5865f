//! SASL GSSAPI (Kerberos 5, RFC 4752) as Hadoop's `SaslRpcClient` runs it, on MIT
//! Kerberos's GSS-API library: the client's login ([`KerberosLogin`]), the security
//! context with a server, and the security-layer negotiation that follows it.

mod ffi;

use std::ffi::CString;
use std::path::Path;
use std::sync::Arc;

use rand::RngCore;

use super::layer::{Protection, Qop, SecurityLayer};
use super::{SaslMechanism, ServerAuth};
use ffi::{Buffer, OmUint32};

/// What a client says when it has no Kerberos credentials at all.
pub const NO_CREDENTIALS: &str =
    "no Kerberos credentials: run kinit, or pass --principal and --keytab";

/// The largest message we accept from a server after the handshake (told to the server
/// in the security-layer reply).
const OUR_MAX_BUFFER: u32 = 16 * 1024 * 1024 - 1;

/// Words for a GSS-API failure: the library's major and mechanism (Kerberos) messages,
/// e.g. "Unspecified GSS failure. ... Server not found in Kerberos database".
fn status_words(gss: &ffi::Gss, major: OmUint32, minor: OmUint32) -> String {
    let mut words = Vec::new();
    for (code, kind) in [(major, ffi::C_GSS_CODE), (minor, ffi::C_MECH_CODE)] {
        if code == 0 {
            continue;
        }
        let mut more: OmUint32 = 0;
        loop {
            let mut ignored = 0;
            let mut text = Buffer::EMPTY;
            let mut mech = ffi::oid(ffi::KRB5_MECH);
            // SAFETY: out-parameters are valid; `text` is released below.
            let st = unsafe {
                (gss.display_status)(&mut ignored, code, kind, &mut mech, &mut more, &mut text)
            };
            if ffi::is_error(st) {
                break;
            }
            let line = take_buffer(gss, &mut text);
            let line = String::from_utf8_lossy(&line).trim().to_string();
            if !line.is_empty() && !words.contains(&line) {
                words.push(line);
            }
            if more == 0 {
                break;
            }
        }
    }
    if words.is_empty() {
        format!("GSS-API error {major:#x}/{minor}")
    } else {
        words.join(": ")
    }
}

/// Copies a library-owned buffer out and releases it.
fn take_buffer(gss: &ffi::Gss, buf: &mut Buffer) -> Vec<u8> {
    let out = if buf.value.is_null() || buf.length == 0 {
        Vec::new()
    } else {
        // SAFETY: the library filled `buf` with `length` readable bytes.
        unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length) }.to_vec()
    };
    let mut minor = 0;
    // SAFETY: `buf` was allocated by the library (or is empty).
    unsafe { (gss.release_buffer)(&mut minor, buf) };
    out
}

/// A GSS-API name, released on drop.
struct GssName(ffi::Name);

impl GssName {
    /// Imports `principal` in Kerberos syntax (`primary/instance@REALM`).
    fn principal(gss: &ffi::Gss, principal: &str) -> Result<GssName, String> {
        let mut minor = 0;
        let mut name: ffi::Name = std::ptr::null_mut();
        let mut input = Buffer::view(principal.as_bytes());
        let mut kind = ffi::oid(ffi::KRB5_PRINCIPAL_NAME);
        // SAFETY: `input` outlives the call; `name` receives a new name.
        let major = unsafe { (gss.import_name)(&mut minor, &mut input, &mut kind, &mut name) };
        if ffi::is_error(major) {
            return Err(format!(
                "bad Kerberos principal {principal:?}: {}",
                status_words(gss, major, minor)
            ));
        }
        Ok(GssName(name))
    }

    fn display(&self, gss: &ffi::Gss) -> Result<String, String> {
        let mut minor = 0;
        let mut text = Buffer::EMPTY;
        // SAFETY: `self.0` is a valid name; `text` is released by take_buffer.
        let major =
            unsafe { (gss.display_name)(&mut minor, self.0, &mut text, std::ptr::null_mut()) };
        if ffi::is_error(major) {
            return Err(status_words(gss, major, minor));
        }
        Ok(String::from_utf8_lossy(&take_buffer(gss, &mut text)).into_owned())
    }
}

impl Drop for GssName {
    fn drop(&mut self) {
        if let Ok(gss) = ffi::gss() {
            let mut minor = 0;
            // SAFETY: the name was created by import_name or inquire_cred.
            unsafe { (gss.release_name)(&mut minor, &mut self.0) };
        }
    }
}

/// A credential handle, released when the last user drops it.
struct Credential(ffi::Cred);

// SAFETY: MIT's credential handles may be used from any thread; we never mutate one.
unsafe impl Send for Credential {}
unsafe impl Sync for Credential {}

impl Drop for Credential {
    fn drop(&mut self) {
        if let Ok(gss) = ffi::gss() {
            let mut minor = 0;
            // SAFETY: the handle came from acquire_cred_from.
            unsafe { (gss.release_cred)(&mut minor, &mut self.0) };
        }
    }
}

/// The client's Kerberos identity: a ticket cache (after `kinit`), or a keytab whose
/// tickets live only in this process's memory.
#[derive(Clone)]
pub struct KerberosLogin {
    cred: Arc<Credential>,
    principal: String,
}

impl std::fmt::Debug for KerberosLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KerberosLogin({})", self.principal)
    }
}

impl KerberosLogin {
    /// The default ticket cache's credentials (`KRB5CCNAME`, else the system default).
    /// Fails with [`NO_CREDENTIALS`] when there is none, and says so when the ticket
    /// has expired.
    pub fn from_ticket_cache() -> Result<KerberosLogin, String> {
        let gss = ffi::gss()?;
        let login = Self::acquire(gss, None, &[]).map_err(|e| format!("{NO_CREDENTIALS} ({e})"))?;
        Ok(login)
    }

    /// Logs `principal` in from `keytab`. Tickets go to a private in-memory cache, so
    /// the user's own ticket cache is neither read nor overwritten.
    pub fn from_keytab(principal: &str, keytab: &Path) -> Result<KerberosLogin, String> {
        let gss = ffi::gss()?;
        std::fs::metadata(keytab)
            .map_err(|e| format!("cannot read keytab {}: {e}", keytab.display()))?;
        let mut tag = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut tag);
        let ccache = format!("MEMORY:spindle-{}", hex(&tag));
        let keytab = keytab.to_string_lossy().into_owned();
        let store = [
            ("client_keytab", keytab.as_str()),
            ("ccache", ccache.as_str()),
        ];
        let name = GssName::principal(gss, principal)?;
        Self::acquire(gss, Some(&name), &store)
            .map_err(|e| format!("cannot log in as {principal} from {keytab}: {e}"))
    }

    fn acquire(
        gss: &ffi::Gss,
        name: Option<&GssName>,
        store: &[(&str, &str)],
    ) -> Result<KerberosLogin, String> {
        let owned: Vec<(CString, CString)> = store
            .iter()
            .map(|(k, v)| {
                (
                    CString::new(*k).unwrap_or_default(),
                    CString::new(*v).unwrap_or_default(),
                )
            })
            .collect();
        let elements: Vec<ffi::KeyValue> = owned
            .iter()
            .map(|(k, v)| ffi::KeyValue {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let set = ffi::KeyValueSet {
            count: elements.len() as OmUint32,
            elements: elements.as_ptr(),
        };
        let mut mech = ffi::oid(ffi::KRB5_MECH);
        let mut mechs = ffi::OidSet {
            count: 1,
            elements: &mut mech,
        };
        let mut minor = 0;
        let mut cred: ffi::Cred = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `cred` receives a new handle.
        let major = unsafe {
            (gss.acquire_cred_from)(
                &mut minor,
                name.map_or(std::ptr::null_mut(), |n| n.0),
                ffi::C_INDEFINITE,
                &mut mechs,
                ffi::C_INITIATE,
                if store.is_empty() {
                    std::ptr::null()
                } else {
                    &set
                },
                &mut cred,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if ffi::is_error(major) {
            return Err(status_words(gss, major, minor));
        }
        let cred = Arc::new(Credential(cred));
        let mut owner: ffi::Name = std::ptr::null_mut();
        let mut lifetime: OmUint32 = 0;
        // SAFETY: `cred` is valid; `owner` receives a new name released by GssName.
        let major = unsafe {
            (gss.inquire_cred)(
                &mut minor,
                cred.0,
                &mut owner,
                &mut lifetime,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if ffi::is_error(major) {
            return Err(status_words(gss, major, minor));
        }
        let principal = GssName(owner).display(gss)?;
        // A keytab login has no ticket yet (lifetime unknown until first use).
        if lifetime == 0 && store.is_empty() {
            return Err(format!(
                "the Kerberos ticket of {principal} has expired: run kinit again"
            ));
        }
        Ok(KerberosLogin { cred, principal })
    }

    /// The full principal, e.g. `alice@EXAMPLE.COM`.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The user name Hadoop derives by its default rule: the principal's first
    /// component (`alice` for `alice@EXAMPLE.COM` and `alice/host@EXAMPLE.COM`).
    pub fn short_name(&self) -> &str {
        short_name(&self.principal)
    }
}

/// The first component of a principal.
pub fn short_name(principal: &str) -> &str {
    principal.split(['/', '@']).next().unwrap_or(principal)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server principal a client expects, from the cluster's configuration
/// (`yarn.resourcemanager.principal`, `dfs.namenode.kerberos.principal`), checked
/// against the principal the server names in its offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPrincipal {
    primary: String,
    /// `None` for `_HOST`: any host name of this service is accepted (Kerberos then
    /// proves the server holds that principal's key).
    instance: Option<String>,
    realm: String,
}

impl ServerPrincipal {
    /// Parses `primary/instance@REALM` (instance may be `_HOST`).
    pub fn parse(configured: &str) -> Result<ServerPrincipal, String> {
        let bad =
            || format!("server principal {configured:?} is not of the form service/host@REALM");
        let (name, realm) = configured.split_once('@').ok_or_else(bad)?;
        let (primary, instance) = name.split_once('/').ok_or_else(bad)?;
        if primary.is_empty() || instance.is_empty() || realm.is_empty() {
            return Err(bad());
        }
        Ok(ServerPrincipal {
            primary: primary.to_string(),
            instance: (instance != "_HOST").then(|| instance.to_ascii_lowercase()),
            realm: realm.to_string(),
        })
    }

    /// The full principal to ask a ticket for, given what the server offered.
    fn target(&self, protocol: &str, server_id: &str) -> Result<String, String> {
        let host_ok = match &self.instance {
            Some(h) => h.eq_ignore_ascii_case(server_id),
            None => !server_id.is_empty(),
        };
        if protocol != self.primary || !host_ok {
            return Err(format!(
                "server names itself {protocol}/{server_id}, but the configuration expects {}/{}",
                self.primary,
                self.instance.as_deref().unwrap_or("_HOST")
            ));
        }
        Ok(format!("{protocol}/{server_id}@{}", self.realm))
    }
}

/// An initiator's security context with one server.
struct Context {
    handle: ffi::Ctx,
    target: GssName,
    login: KerberosLogin,
    established: bool,
}

// SAFETY: a context is used by one task at a time (behind `&mut` or a mutex).
unsafe impl Send for Context {}

impl Context {
    /// One `gss_init_sec_context` step; returns the token to send (maybe empty).
    fn step(&mut self, input: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let gss = ffi::gss()?;
        let mut minor = 0;
        let mut mech = ffi::oid(ffi::KRB5_MECH);
        let mut input_buf = input.map(Buffer::view);
        let input_ptr = input_buf
            .as_mut()
            .map_or(std::ptr::null_mut(), |b| b as *mut Buffer);
        let mut output = Buffer::EMPTY;
        let flags = ffi::C_MUTUAL_FLAG
            | ffi::C_SEQUENCE_FLAG
            | ffi::C_REPLAY_FLAG
            | ffi::C_CONF_FLAG
            | ffi::C_INTEG_FLAG;
        // SAFETY: handles are valid; `output` is released by take_buffer.
        let major = unsafe {
            (gss.init_sec_context)(
                &mut minor,
                self.login.cred.0,
                &mut self.handle,
                self.target.0,
                &mut mech,
                flags,
                0,
                std::ptr::null_mut(),
                input_ptr,
                std::ptr::null_mut(),
                &mut output,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let token = take_buffer(gss, &mut output);
        if ffi::is_error(major) {
            return Err(status_words(gss, major, minor));
        }
        self.established = major & 0xffff == ffi::S_COMPLETE;
        if !self.established && major & 0xffff != ffi::S_CONTINUE_NEEDED {
            return Err(format!("unexpected GSS-API status {major:#x}"));
        }
        Ok(token)
    }

    fn wrap(&mut self, plain: &[u8], encrypt: bool) -> Result<Vec<u8>, String> {
        let gss = ffi::gss()?;
        let mut minor = 0;
        let mut input = Buffer::view(plain);
        let mut output = Buffer::EMPTY;
        let mut conf_state = 0;
        // SAFETY: the context is established; `output` is released by take_buffer.
        let major = unsafe {
            (gss.wrap)(
                &mut minor,
                self.handle,
                encrypt as i32,
                0,
                &mut input,
                &mut conf_state,
                &mut output,
            )
        };
        let token = take_buffer(gss, &mut output);
        if ffi::is_error(major) {
            return Err(status_words(gss, major, minor));
        }
        if encrypt && conf_state == 0 {
            return Err("GSS-API could not encrypt a message".into());
        }
        Ok(token)
    }

    fn unwrap(&mut self, wrapped: &[u8]) -> Result<Vec<u8>, String> {
        let gss = ffi::gss()?;
        let mut minor = 0;
        let mut input = Buffer::view(wrapped);
        let mut output = Buffer::EMPTY;
        let mut conf_state = 0;
        let mut qop = 0;
        // SAFETY: as in wrap.
        let major = unsafe {
            (gss.unwrap)(
                &mut minor,
                self.handle,
                &mut input,
                &mut output,
                &mut conf_state,
                &mut qop,
            )
        };
        let plain = take_buffer(gss, &mut output);
        if ffi::is_error(major) {
            return Err(status_words(gss, major, minor));
        }
        Ok(plain)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.handle.is_null() {
            return;
        }
        if let Ok(gss) = ffi::gss() {
            let mut minor = 0;
            // SAFETY: the handle came from init_sec_context.
            unsafe { (gss.delete_sec_context)(&mut minor, &mut self.handle, std::ptr::null_mut()) };
        }
    }
}

/// Where the exchange stands.
enum Stage {
    /// Before the server's offer names the principal.
    Start,
    /// Exchanging context tokens.
    Context(Context),
    /// Context up; the server's wrapped security-layer offer comes next.
    Layer(Context),
    /// The layer is chosen; SUCCESS comes next.
    Done(Context, Qop, usize),
    /// Handed over (or failed).
    Finished,
}

/// SASL GSSAPI for the `KERBEROS` method.
pub struct Gssapi {
    login: KerberosLogin,
    expected: ServerPrincipal,
    protection: Protection,
    stage: Stage,
    layer: Option<Box<dyn SecurityLayer>>,
}

impl Gssapi {
    pub fn new(login: KerberosLogin, expected: ServerPrincipal, protection: Protection) -> Gssapi {
        Gssapi {
            login,
            expected,
            protection,
            stage: Stage::Start,
            layer: None,
        }
    }

    /// RFC 4752 3.1: unwrap the server's 4 bytes (offered layers, its max buffer), pick
    /// a layer, answer with ours (no authorization id: Hadoop takes the principal).
    fn choose_layer(
        &mut self,
        ctx: &mut Context,
        challenge: &[u8],
    ) -> Result<(Vec<u8>, Qop, usize), String> {
        let offer = ctx.unwrap(challenge)?;
        if offer.len() != 4 {
            return Err(format!(
                "security-layer offer of {} bytes, not 4",
                offer.len()
            ));
        }
        let server_max = u32::from_be_bytes([0, offer[1], offer[2], offer[3]]) as usize;
        let qop = self
            .protection
            .choose(|q| offer[0] & q.gssapi_bit() != 0)
            .ok_or_else(|| no_common_qop(&self.protection, offer[0]))?;
        let our_max = if qop == Qop::Authentication {
            0
        } else {
            OUR_MAX_BUFFER
        };
        let mut reply = our_max.to_be_bytes();
        reply[0] = qop.gssapi_bit();
        Ok((ctx.wrap(&reply, false)?, qop, server_max))
    }
}

fn no_common_qop(protection: &Protection, offered_bits: u8) -> String {
    let offered: Vec<&str> = [
        (Qop::Authentication, "authentication"),
        (Qop::Integrity, "integrity"),
        (Qop::Privacy, "privacy"),
    ]
    .iter()
    .filter(|(q, _)| offered_bits & q.gssapi_bit() != 0)
    .map(|(_, n)| *n)
    .collect();
    format!(
        "the server offers protection [{}] and hadoop.rpc.protection allows only [{}]",
        offered.join(","),
        protection.names()
    )
}

impl SaslMechanism for Gssapi {
    fn method(&self) -> &str {
        "KERBEROS"
    }

    fn mechanism(&self) -> &str {
        "GSSAPI"
    }

    fn start(&mut self, auth: &ServerAuth) -> Result<(), String> {
        let protocol = auth.protocol.as_deref().unwrap_or("");
        let server_id = auth.server_id.as_deref().unwrap_or("");
        let target = self.expected.target(protocol, server_id)?;
        self.stage = Stage::Context(Context {
            handle: std::ptr::null_mut(),
            target: GssName::principal(ffi::gss()?, &target)?,
            login: self.login.clone(),
            established: false,
        });
        Ok(())
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Context(mut ctx) => {
                let first = ctx.handle.is_null();
                let token = ctx
                    .step((!first).then_some(challenge))
                    .map_err(|e| format!("Kerberos as {}: {e}", self.login.principal))?;
                self.stage = if ctx.established {
                    Stage::Layer(ctx)
                } else {
                    Stage::Context(ctx)
                };
                Ok(token)
            }
            Stage::Layer(mut ctx) => {
                let (reply, qop, server_max) = self.choose_layer(&mut ctx, challenge)?;
                self.stage = Stage::Done(ctx, qop, server_max);
                Ok(reply)
            }
            Stage::Start => Err("server challenge before its offer".into()),
            Stage::Done(..) | Stage::Finished => {
                Err("unexpected challenge after the security layer was chosen".into())
            }
        }
    }

    fn finish(&mut self, _token: Option<&[u8]>) -> Result<(), String> {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Done(ctx, qop, server_max) => {
                if qop != Qop::Authentication {
                    self.layer = Some(Box::new(GssLayer {
                        ctx,
                        encrypt: qop == Qop::Privacy,
                        max_plain: server_max.saturating_sub(256).max(1024),
                    }));
                }
                Ok(())
            }
            _ => Err("server reported success before the security layer was agreed".into()),
        }
    }

    fn take_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        self.layer.take()
    }
}

/// Integrity or privacy through `gss_wrap` / `gss_unwrap`.
struct GssLayer {
    ctx: Context,
    encrypt: bool,
    max_plain: usize,
}

impl SecurityLayer for GssLayer {
    fn max_plain(&self) -> usize {
        self.max_plain
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, String> {
        self.ctx.wrap(plain, self.encrypt)
    }

    fn unwrap(&mut self, wrapped: &[u8]) -> Result<Vec<u8>, String> {
        self.ctx.unwrap(wrapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_principal_patterns() {
        let p = ServerPrincipal::parse("yarn/_HOST@EXAMPLE.COM").unwrap();
        assert_eq!(p.target("yarn", "rm1").unwrap(), "yarn/rm1@EXAMPLE.COM");
        assert!(p
            .target("hdfs", "rm1")
            .unwrap_err()
            .contains("expects yarn/_HOST"));
        let fixed = ServerPrincipal::parse("nn/Host1@R").unwrap();
        assert_eq!(fixed.target("nn", "host1").unwrap(), "nn/host1@R");
        assert!(fixed.target("nn", "host2").is_err());
        assert!(ServerPrincipal::parse("yarn@R").is_err());
        assert!(ServerPrincipal::parse("yarn/h").is_err());
    }

    #[test]
    fn short_names_follow_hadoops_default_rule() {
        assert_eq!(short_name("alice@EXAMPLE.COM"), "alice");
        assert_eq!(short_name("alice/admin@EXAMPLE.COM"), "alice");
        assert_eq!(short_name("bob"), "bob");
    }

    #[test]
    fn no_common_protection_names_both_sides() {
        let e = no_common_qop(&Protection::only(Qop::Authentication), 4);
        assert!(
            e.contains("[privacy]") && e.contains("[authentication]"),
            "{e}"
        );
    }
}
