//! DIGEST-MD5 (RFC 2831) as Hadoop uses it for token authentication: username and
//! password are the base64 of the token's identifier and password, digest-uri is
//! `protocol/serverId`, and only qop=auth is supported.

use std::collections::HashMap;

use base64::Engine;
use md5::{Digest, Md5};
use rand::RngCore;

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
    fn ha1(&self) -> [u8; 16] {
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
    expected_rspauth: Option<String>,
}

impl DigestMd5 {
    /// A client authenticating with `token`.
    pub fn new(token: &Token) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        Self {
            username: b64.encode(&token.identifier),
            password: b64.encode(&token.password),
            digest_uri: "/default".to_string(),
            cnonce: b64.encode(nonce),
            expected_rspauth: None,
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

    fn start(&mut self, auth: &ServerAuth) {
        self.digest_uri = format!(
            "{}/{}",
            auth.protocol.as_deref().unwrap_or(""),
            auth.server_id.as_deref().unwrap_or("")
        );
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(challenge).map_err(|_| "challenge is not UTF-8")?;
        let d = parse_directives(text)?;
        let nonce = d.get("nonce").ok_or("challenge has no nonce")?;
        let realm = d.get("realm").map(String::as_str).unwrap_or("");
        let offered = d.get("qop").map(String::as_str).unwrap_or("auth");
        if !offered.split(',').any(|q| q.trim() == "auth") {
            return Err(format!(
                "server offers qop {offered:?}, but only \"auth\" is implemented \
                 (set hadoop.rpc.protection=authentication on the cluster)"
            ));
        }
        let params = DigestParams {
            username: &self.username,
            realm,
            password: &self.password,
            nonce,
            cnonce: &self.cnonce,
            nc: "00000001",
            qop: "auth",
            digest_uri: &self.digest_uri,
        };
        self.expected_rspauth = Some(params.rspauth());
        let mut out = String::new();
        if d.contains_key("charset") {
            out.push_str("charset=utf-8,");
        }
        out.push_str(&format!(
            "username=\"{}\",realm=\"{}\",nonce=\"{}\",nc=00000001,cnonce=\"{}\",\
             digest-uri=\"{}\",maxbuf=65536,response={},qop=auth",
            self.username,
            realm,
            nonce,
            self.cnonce,
            self.digest_uri,
            params.response()
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
            Some(got) if got == expected => Ok(()),
            Some(_) => Err(
                "server rspauth does not match: the server does not know the token password".into(),
            ),
            None => Err("server success token has no rspauth".into()),
        }
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
        let mut m = DigestMd5::new(&token);
        m.start(&ServerAuth {
            method: "TOKEN".into(),
            mechanism: "DIGEST-MD5".into(),
            protocol: Some(String::new()),
            server_id: Some("default".into()),
        });
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
    fn refuses_integrity_only_servers() {
        let token = Token::default();
        let mut m = DigestMd5::new(&token);
        let err = m
            .respond(br#"realm="default",nonce="n",qop="auth-int""#)
            .unwrap_err();
        assert!(err.contains("auth-int"));
    }
}
