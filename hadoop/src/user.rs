//! Who a client is: a user name, and on a Kerberos cluster the login that proves it.

use crate::config::Configuration;
use crate::ipc::Auth;
use crate::sasl::gssapi::KerberosLogin;

/// The user a client acts as. With `kerberos`, connections that take Kerberos (the
/// ResourceManager's client port, the NameNode) authenticate with it; without, SIMPLE
/// claims `user`.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The short user name (`alice`), which names home and staging directories.
    pub user: String,
    pub kerberos: Option<KerberosLogin>,
    /// The user logged in, when it acts as `user` on `user`'s behalf (Hadoop's proxy
    /// user: servers allow it as their `hadoop.proxyuser.<real user>.*` settings say).
    pub real_user: Option<String>,
}

impl Identity {
    /// A SIMPLE identity.
    pub fn simple(user: impl Into<String>) -> Identity {
        Identity {
            user: user.into(),
            kerberos: None,
            real_user: None,
        }
    }

    /// This login acting as `user` (a proxy user); no proxy when the login is `user`.
    pub fn acting_as(self, user: &str) -> Identity {
        let real = self.real_user.unwrap_or(self.user);
        Identity {
            user: user.to_string(),
            kerberos: self.kerberos,
            real_user: (real != user).then_some(real),
        }
    }

    /// The proxied user, when this identity acts for another.
    pub fn proxied(&self) -> Option<&str> {
        self.real_user.as_ref().map(|_| self.user.as_str())
    }

    /// How this identity authenticates to a server whose Kerberos principal the
    /// configuration names under `principal_key`: Kerberos with a login, else SIMPLE.
    pub fn auth(&self, conf: &Configuration, principal_key: &str) -> crate::Result<Auth> {
        Ok(match &self.kerberos {
            None => Auth::Simple {
                user: self.user.clone(),
                real_user: self.real_user.clone(),
            },
            Some(login) => Auth::Kerberos {
                login: login.clone(),
                server: conf.server_principal(principal_key)?,
                act_as: self.proxied().map(str::to_string),
            },
        })
    }

    /// The identity of a Kerberos login, named by its principal's short name.
    pub fn kerberos(login: KerberosLogin) -> Identity {
        Identity {
            user: login.short_name().to_string(),
            kerberos: Some(login),
            real_user: None,
        }
    }
}

/// The user for SIMPLE auth, as Hadoop's `UserGroupInformation` picks it: the
/// `HADOOP_USER_NAME` value if given, else the operating-system user. The caller passes
/// the environment value in (libraries do not read the environment deep inside).
pub fn simple_user(hadoop_user_name: Option<&str>) -> String {
    if let Some(u) = hadoop_user_name.filter(|u| !u.is_empty()) {
        return u.to_string();
    }
    os_user().unwrap_or_else(|| "nobody".to_string())
}

/// The OS user: `USER`/`LOGNAME`, else the passwd entry of our uid (containers and
/// daemons often run without `USER`).
pub fn os_user() -> Option<String> {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadoop_user_name_wins() {
        assert_eq!(simple_user(Some("alice")), "alice");
        assert!(!simple_user(Some("")).is_empty());
        assert!(!simple_user(None).is_empty());
    }

    #[test]
    fn a_proxy_keeps_the_login_as_its_real_user() {
        let bob = Identity::simple("bob");
        assert_eq!(bob.clone().acting_as("bob").real_user, None);
        let alice = bob.acting_as("alice");
        assert_eq!(
            (alice.user.as_str(), alice.proxied()),
            ("alice", Some("alice"))
        );
        assert_eq!(alice.real_user.as_deref(), Some("bob"));
        let carol = alice.acting_as("carol");
        assert_eq!(carol.real_user.as_deref(), Some("bob"));
        assert_eq!(carol.acting_as("bob").real_user, None);
    }
}
