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
}

impl Identity {
    /// A SIMPLE identity.
    pub fn simple(user: impl Into<String>) -> Identity {
        Identity {
            user: user.into(),
            kerberos: None,
        }
    }

    /// How this identity authenticates to a server whose Kerberos principal the
    /// configuration names under `principal_key`: Kerberos with a login, else SIMPLE.
    pub fn auth(&self, conf: &Configuration, principal_key: &str) -> crate::Result<Auth> {
        Ok(match &self.kerberos {
            None => Auth::Simple {
                user: self.user.clone(),
            },
            Some(login) => Auth::Kerberos {
                login: login.clone(),
                server: conf.server_principal(principal_key)?,
            },
        })
    }

    /// The identity of a Kerberos login, named by its principal's short name.
    pub fn kerberos(login: KerberosLogin) -> Identity {
        Identity {
            user: login.short_name().to_string(),
            kerberos: Some(login),
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
}
