//! Who we claim to be under SIMPLE authentication.

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
