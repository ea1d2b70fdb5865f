//! Quality of protection: what `hadoop.rpc.protection` allows, and the security layer
//! that wraps every message after a SASL exchange that chose integrity or privacy.

/// A SASL quality of protection, named as Hadoop's configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    /// `authentication` (SASL `auth`): nothing is wrapped after the handshake.
    Authentication,
    /// `integrity` (`auth-int`): every message carries a MAC.
    Integrity,
    /// `privacy` (`auth-conf`): every message is encrypted and carries a MAC.
    Privacy,
}

impl Qop {
    /// The SASL token (`auth`, `auth-int`, `auth-conf`).
    pub fn sasl_name(self) -> &'static str {
        match self {
            Qop::Authentication => "auth",
            Qop::Integrity => "auth-int",
            Qop::Privacy => "auth-conf",
        }
    }

    /// The bit RFC 4752 gives this qop in the GSSAPI security-layer byte.
    pub fn gssapi_bit(self) -> u8 {
        match self {
            Qop::Authentication => 1,
            Qop::Integrity => 2,
            Qop::Privacy => 4,
        }
    }

    fn from_conf_name(name: &str) -> Option<Qop> {
        match name.trim().to_ascii_lowercase().as_str() {
            "authentication" => Some(Qop::Authentication),
            "integrity" => Some(Qop::Integrity),
            "privacy" => Some(Qop::Privacy),
            _ => None,
        }
    }
}

/// The qops a client accepts, in its order of preference: `hadoop.rpc.protection`.
/// The first one the server also offers is chosen, as Hadoop's Java client does; a
/// server offering none of them is refused, so no one can talk the client down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection(Vec<Qop>);

impl Default for Protection {
    /// Hadoop's default, `authentication`.
    fn default() -> Self {
        Protection(vec![Qop::Authentication])
    }
}

impl Protection {
    /// Parses a `hadoop.rpc.protection` value (comma-separated names).
    pub fn parse(value: &str) -> Result<Protection, String> {
        let mut qops = Vec::new();
        for name in value.split(',').filter(|n| !n.trim().is_empty()) {
            let qop = Qop::from_conf_name(name).ok_or_else(|| {
                format!(
                    "hadoop.rpc.protection: unknown value {:?} (expected authentication, \
                     integrity or privacy)",
                    name.trim()
                )
            })?;
            if !qops.contains(&qop) {
                qops.push(qop);
            }
        }
        if qops.is_empty() {
            return Ok(Protection::default());
        }
        Ok(Protection(qops))
    }

    /// Only `qop`.
    pub fn only(qop: Qop) -> Protection {
        Protection(vec![qop])
    }

    /// Whether `qop` is among the accepted ones.
    pub fn allows(&self, qop: Qop) -> bool {
        self.0.contains(&qop)
    }

    /// The first accepted qop that `offered` contains.
    pub fn choose(&self, offered: impl Fn(Qop) -> bool) -> Option<Qop> {
        self.0.iter().copied().find(|q| offered(*q))
    }

    /// The accepted qops' Hadoop names, for error messages.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self
            .0
            .iter()
            .map(|q| match q {
                Qop::Authentication => "authentication",
                Qop::Integrity => "integrity",
                Qop::Privacy => "privacy",
            })
            .collect();
        names.join(",")
    }
}

/// Wraps outgoing and unwraps incoming bytes once a SASL exchange chose integrity or
/// privacy. One value serves both directions of one connection.
pub trait SecurityLayer: Send {
    /// The most plain bytes one wrapped message may carry (the peer's buffer limit).
    fn max_plain(&self) -> usize;
    /// Protects `plain` for sending.
    fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, String>;
    /// Checks (and decrypts) a received message.
    fn unwrap(&mut self, wrapped: &[u8]) -> Result<Vec<u8>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_keeps_the_configured_order_and_refuses_unknown_names() {
        let p = Protection::parse("privacy, integrity").unwrap();
        assert_eq!(p.choose(|_| true), Some(Qop::Privacy));
        assert_eq!(p.choose(|q| q != Qop::Privacy), Some(Qop::Integrity));
        assert_eq!(p.choose(|q| q == Qop::Authentication), None);
        assert_eq!(Protection::parse("").unwrap(), Protection::default());
        let err = Protection::parse("secret").unwrap_err();
        assert!(err.contains("hadoop.rpc.protection") && err.contains("secret"));
    }
}
