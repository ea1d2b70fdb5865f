//! DIGEST-MD5 (RFC 2831) as Hadoop uses it for token authentication: username and
//! password are the base64 of the token's identifier and password, digest-uri is
//! `protocol/serverId`. After the exchange, `auth-int` and `auth-conf` (with the `rc4`
//! cipher) wrap every message as RFC 2831 section 2.3-2.4 and Java's implementation do.

use std::collections::HashMap;

use base64::Engine;
use md5::{Digest, Md5};
use rand::RngCore;

use super::layer::{Protection, Qop, SecurityLayer};
use super::{SaslMechanism, ServerAuth};
use crate::credentials::Token;

/// Inputs of one response computation, separate so the RFC example can be checked.
#[derive(Debug, Clone)]
pub struct DigestParams<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub nonce: &'a str,
    pub cnonce: &'a str,
    pub nc: &'a str,
    pub qop: &'a str,
    pub digest_uri: &'a str,
}

impl DigestParams<'_> {
    /// H(A1) raw bytes; A1 = H(user:realm:password) ":" nonce ":" cnonce (no authzid).
    pub(crate) fn ha1(&self) -> [u8; 16] {
        let inner = md5(format!("{}:{}:{}", self.username, self.realm, self.password).as_bytes());
        let mut a1 = inner.to_vec();
        a1.extend_from_slice(format!(":{}:{}", self.nonce, self.cnonce).as_bytes());
        md5(&a1)
    }

    fn kd(&self, a2: &str) -> String {
        let s = format!(
            "{}:{}:{}:{}:{}:{}",
            hex(&self.ha1()),
            self.nonce,
            self.nc,
            self.cnonce,
            self.qop,
            hex(&md5(a2.as_bytes()))
        );
        hex(&md5(s.as_bytes()))
    }

    fn a2_suffix(&self) -> &'static str {
        if self.qop == "auth" {
            ""
        } else {
            ":00000000000000000000000000000000"
        }
    }

    /// The `response` value the client sends.
    pub fn response(&self) -> String {
        self.kd(&format!(
            "AUTHENTICATE:{}{}",
            self.digest_uri,
            self.a2_suffix()
        ))
    }

    /// The `rspauth` value a server that knows the password sends back.
    pub fn rspauth(&self) -> String {
        self.kd(&format!(":{}{}", self.digest_uri, self.a2_suffix()))
    }
}

fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a challenge: comma-separated `key=value` with optionally quoted values
/// (backslash escapes inside quotes). Repeated keys keep the first value.
pub(crate) fn parse_directives(input: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("directive {key:?} has no value"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quote in directive {key:?}")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.entry(key.trim().to_ascii_lowercase())
            .or_insert_with(|| value.trim().to_string());
    }
}

/// DIGEST-MD5 client for a Hadoop token (AMRMToken, NMToken, delegation tokens).
pub struct DigestMd5 {
    username: String,
    password: String,
    digest_uri: String,
    cnonce: String,
    protection: Protection,
    expected_rspauth: Option<String>,
    /// Chosen qop, H(A1) and the server's maxbuf, kept for the security layer.
    session: Option<(Qop, [u8; 16], usize)>,
    layer: Option<Box<dyn SecurityLayer>>,
}

impl DigestMd5 {
    /// A client authenticating with `token`, accepting the qops of `protection`.
    pub fn new(token: &Token, protection: Protection) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        Self {
            username: b64.encode(&token.identifier),
            password: b64.encode(&token.password),
            digest_uri: "/default".to_string(),
            cnonce: b64.encode(nonce),
            protection,
            expected_rspauth: None,
            session: None,
            layer: None,
        }
    }
}

impl SaslMechanism for DigestMd5 {
    fn method(&self) -> &str {
        "TOKEN"
    }

    fn mechanism(&self) -> &str {
        "DIGEST-MD5"
    }

    fn start(&mut self, auth: &ServerAuth) -> Result<(), String> {
        self.digest_uri = format!(
            "{}/{}",
            auth.protocol.as_deref().unwrap_or(""),
            auth.server_id.as_deref().unwrap_or("")
        );
        Ok(())
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(challenge).map_err(|_| "challenge is not UTF-8")?;
        let d = parse_directives(text)?;
        let nonce = d.get("nonce").ok_or("challenge has no nonce")?;
        let realm = d.get("realm").map(String::as_str).unwrap_or("");
        let offered = d.get("qop").map(String::as_str).unwrap_or("auth");
        let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
        let qop = self
            .protection
            .choose(|q| offered.contains(&q.sasl_name()))
            .ok_or_else(|| {
                format!(
                    "the server offers qop {:?} and hadoop.rpc.protection allows only [{}]",
                    offered.join(","),
                    self.protection.names()
                )
            })?;
        let cipher = if qop == Qop::Privacy {
            let ciphers = d.get("cipher").map(String::as_str).unwrap_or("");
            if !ciphers.split(',').any(|c| c.trim() == "rc4") {
                return Err(format!(
                    "the server offers ciphers {ciphers:?} for privacy; spindle speaks rc4"
                ));
            }
            ",cipher=rc4"
        } else {
            ""
        };
        let server_max = match d.get("maxbuf") {
            Some(v) => v.parse().map_err(|_| format!("bad maxbuf {v:?}"))?,
            None => 65536,
        };
        let params = DigestParams {
            username: &self.username,
            realm,
            password: &self.password,
            nonce,
            cnonce: &self.cnonce,
            nc: "00000001",
            qop: qop.sasl_name(),
            digest_uri: &self.digest_uri,
        };
        self.session = Some((qop, params.ha1(), server_max));
        self.expected_rspauth = Some(params.rspauth());
        let mut out = String::new();
        if d.contains_key("charset") {
            out.push_str("charset=utf-8,");
        }
        out.push_str(&format!(
            "username=\"{}\",realm=\"{}\",nonce=\"{}\",nc=00000001,cnonce=\"{}\",\
             digest-uri=\"{}\",maxbuf=65536,response={},qop={}{cipher}",
            self.username,
            realm,
            nonce,
            self.cnonce,
            self.digest_uri,
            params.response(),
            qop.sasl_name(),
        ));
        Ok(out.into_bytes())
    }

    fn finish(&mut self, token: Option<&[u8]>) -> Result<(), String> {
        let expected = self
            .expected_rspauth
            .as_deref()
            .ok_or("server reported success before any challenge")?;
        let token = token.ok_or("server sent no rspauth")?;
        let text = std::str::from_utf8(token).map_err(|_| "rspauth is not UTF-8")?;
        let d = parse_directives(text)?;
        match d.get("rspauth") {
            Some(got) if got == expected => {
                if let Some((qop, ha1, server_max)) = self.session {
                    if qop != Qop::Authentication {
                        self.layer = Some(Box::new(DigestLayer::new(qop, &ha1, server_max)));
                    }
                }
                Ok(())
            }
            Some(_) => Err(
                "server rspauth does not match: the server does not know the token password".into(),
            ),
            None => Err("server success token has no rspauth".into()),
        }
    }

    fn take_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        self.layer.take()
    }
}

type HmacMd5 = hmac::Hmac<Md5>;

/// DIGEST-MD5's integrity (`auth-int`) or privacy (`auth-conf` with rc4) layer. A
/// message is `[cipher](data + mac10) + 00 01 + seq`, each direction with its own keys
/// and sequence numbers counted from 0.
struct DigestLayer {
    /// Kic and Kis: the HMAC keys client-to-server and server-to-client.
    sign: [u8; 16],
    verify: [u8; 16],
    /// rc4 keyed with Kcc and Kcs; the key streams run on across messages.
    seal: Option<(rc4::Rc4, rc4::Rc4)>,
    send_seq: u32,
    recv_seq: u32,
    max_plain: usize,
}

impl DigestLayer {
    fn new(qop: Qop, ha1: &[u8; 16], server_max: usize) -> DigestLayer {
        Self::keyed(qop, ha1, server_max, true)
    }

    /// The layer of the client (`client`), or of the server, which uses the same keys
    /// the other way round.
    fn keyed(qop: Qop, ha1: &[u8; 16], server_max: usize, client: bool) -> DigestLayer {
        let derive = |key: &[u8], magic: &str| -> [u8; 16] {
            let mut input = key.to_vec();
            input.extend_from_slice(magic.as_bytes());
            md5(&input)
        };
        let seal = (qop == Qop::Privacy).then(|| {
            use rc4::KeyInit;
            let kcc = derive(
                ha1,
                "Digest H(A1) to client-to-server sealing key magic constant",
            );
            let kcs = derive(
                ha1,
                "Digest H(A1) to server-to-client sealing key magic constant",
            );
            let cipher =
                |k: &[u8; 16]| rc4::Rc4::new_from_slice(k).expect("rc4 takes 16-byte keys");
            if client {
                (cipher(&kcc), cipher(&kcs))
            } else {
                (cipher(&kcs), cipher(&kcc))
            }
        });
        let kic = derive(
            ha1,
            "Digest session key to client-to-server signing key magic constant",
        );
        let kis = derive(
            ha1,
            "Digest session key to server-to-client signing key magic constant",
        );
        let (sign, verify) = if client { (kic, kis) } else { (kis, kic) };
        DigestLayer {
            sign,
            verify,
            seal,
            send_seq: 0,
            recv_seq: 0,
            // Room for the 16 bytes of MAC, type and sequence number.
            max_plain: server_max.saturating_sub(16).max(1024),
        }
    }
}

/// The first 10 bytes of HMAC-MD5(key, seq + data).
fn mac10(key: &[u8; 16], seq: u32, data: &[u8]) -> [u8; 10] {
    use hmac::Mac;
    let mut mac = <HmacMd5 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&seq.to_be_bytes());
    mac.update(data);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 10];
    out.copy_from_slice(&full[..10]);
    out
}

impl SecurityLayer for DigestLayer {
    fn max_plain(&self) -> usize {
        self.max_plain
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, String> {
        let seq = self.send_seq;
        self.send_seq = self.send_seq.wrapping_add(1);
        let mut out = plain.to_vec();
        out.extend_from_slice(&mac10(&self.sign, seq, plain));
        if let Some((seal, _)) = &mut self.seal {
            use rc4::StreamCipher;
            seal.apply_keystream(&mut out);
        }
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&seq.to_be_bytes());
        Ok(out)
    }

    fn unwrap(&mut self, wrapped: &[u8]) -> Result<Vec<u8>, String> {
        if wrapped.len() < 16 {
            return Err(format!(
                "wrapped message of {} bytes is too short",
                wrapped.len()
            ));
        }
        let (body, tail) = wrapped.split_at(wrapped.len() - 6);
        let seq = u32::from_be_bytes([tail[2], tail[3], tail[4], tail[5]]);
        if tail[..2] != [0, 1] || seq != self.recv_seq {
            return Err(format!(
                "wrapped message out of order (sequence {seq}, expected {})",
                self.recv_seq
            ));
        }
        self.recv_seq = self.recv_seq.wrapping_add(1);
        let mut body = body.to_vec();
        if let Some((_, open)) = &mut self.seal {
            use rc4::StreamCipher;
            open.apply_keystream(&mut body);
        }
        let mac = body.split_off(body.len() - 10);
        if mac != mac10(&self.verify, seq, &body) {
            return Err("wrapped message failed its integrity check".into());
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2831 section 4, the IMAP example.
    fn rfc_example() -> DigestParams<'static> {
        DigestParams {
            username: "chris",
            realm: "elwood.innosoft.com",
            password: "secret",
            nonce: "OA6MG9tEQGm2hh",
            cnonce: "OA6MHXh6VqTrRk",
            nc: "00000001",
            qop: "auth",
            digest_uri: "imap/elwood.innosoft.com",
        }
    }

    #[test]
    fn rfc2831_response_vector() {
        assert_eq!(rfc_example().response(), "d388dad90d4bbd760a152321f2143af7");
    }

    #[test]
    fn rfc2831_rspauth_vector() {
        assert_eq!(rfc_example().rspauth(), "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn parses_hadoop_challenge() {
        let d = parse_directives(
            r#"realm="default",nonce="a\"b,c",qop="auth,auth-int",charset=utf-8,algorithm=md5-sess"#,
        )
        .unwrap();
        assert_eq!(d["realm"], "default");
        assert_eq!(d["nonce"], "a\"b,c");
        assert_eq!(d["qop"], "auth,auth-int");
        assert_eq!(d["charset"], "utf-8");
        assert_eq!(d["algorithm"], "md5-sess");
    }

    #[test]
    fn full_exchange_against_server_side_computation() {
        let token = Token {
            identifier: vec![1, 2, 3],
            password: vec![4, 5, 6],
            kind: "YARN_AM_RM_TOKEN".into(),
            service: String::new(),
        };
        let mut m = DigestMd5::new(&token, Protection::default());
        m.start(&ServerAuth {
            method: "TOKEN".into(),
            mechanism: "DIGEST-MD5".into(),
            protocol: Some(String::new()),
            server_id: Some("default".into()),
        })
        .unwrap();
        let challenge =
            br#"realm="default",nonce="n0nce",qop="auth",charset=utf-8,algorithm=md5-sess"#;
        let resp = String::from_utf8(m.respond(challenge).unwrap()).unwrap();
        let d = parse_directives(&resp).unwrap();
        assert_eq!(d["username"], "AQID");
        assert_eq!(d["digest-uri"], "/default");
        assert_eq!(d["charset"], "utf-8");
        assert!(resp.contains(",qop=auth") && !resp.contains("qop=\""));
        // What the server computes from the same inputs.
        let server = DigestParams {
            username: "AQID",
            realm: "default",
            password: "BAUG",
            nonce: "n0nce",
            cnonce: &d["cnonce"],
            nc: "00000001",
            qop: "auth",
            digest_uri: "/default",
        };
        assert_eq!(d["response"], server.response());
        let ok = format!("rspauth={}", server.rspauth());
        assert!(m.finish(Some(ok.as_bytes())).is_ok());
        assert!(m.finish(Some(b"rspauth=00")).is_err());
    }

    #[test]
    fn integrity_and_privacy_layers_round_trip_and_catch_tampering() {
        for qop in [Qop::Integrity, Qop::Privacy] {
            let mut client = DigestLayer::new(qop, &[7; 16], 65536);
            let mut server = DigestLayer::keyed(qop, &[7; 16], 65536, false);
            for msg in [
                &b"first call"[..],
                b"",
                b"second call, longer than the first",
            ] {
                let wrapped = client.wrap(msg).unwrap();
                assert_eq!(wrapped.len(), msg.len() + 16);
                if !msg.is_empty() {
                    assert_eq!(qop == Qop::Privacy, !wrapped.starts_with(msg), "{qop:?}");
                }
                assert_eq!(server.unwrap(&wrapped).unwrap(), msg);
                let answer = server.wrap(msg).unwrap();
                assert_eq!(client.unwrap(&answer).unwrap(), msg);
            }
            let mut bad = client.wrap(b"tampered").unwrap();
            bad[0] ^= 1;
            assert!(server.unwrap(&bad).is_err(), "{qop:?}");
            // A replayed message carries an old sequence number.
            let mut client = DigestLayer::new(qop, &[7; 16], 65536);
            let mut server = DigestLayer::keyed(qop, &[7; 16], 65536, false);
            let once = client.wrap(b"once").unwrap();
            assert_eq!(server.unwrap(&once).unwrap(), b"once");
            assert!(server.unwrap(&once).unwrap_err().contains("out of order"));
        }
    }

    #[test]
    fn privacy_asks_for_rc4_and_computes_with_auth_conf() {
        let mut m = DigestMd5::new(&Token::default(), Protection::only(Qop::Privacy));
        let resp = m
            .respond(br#"realm="default",nonce="n",qop="auth-conf",cipher="3des,rc4",maxbuf=4096"#)
            .unwrap();
        let resp = String::from_utf8(resp).unwrap();
        assert!(resp.ends_with(",qop=auth-conf,cipher=rc4"), "{resp}");
        let err = DigestMd5::new(&Token::default(), Protection::only(Qop::Privacy))
            .respond(br#"realm="default",nonce="n",qop="auth-conf",cipher="3des""#)
            .unwrap_err();
        assert!(err.contains("rc4"), "{err}");
    }

    #[test]
    fn refuses_integrity_only_servers() {
        let token = Token::default();
        let mut m = DigestMd5::new(&token, Protection::default());
        let err = m
            .respond(br#"realm="default",nonce="n",qop="auth-int""#)
            .unwrap_err();
        assert!(err.contains("auth-int"));
    }
}
