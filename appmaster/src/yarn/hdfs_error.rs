//! hdfs-native's errors told in one line: a NameNode's exception carries its whole Java
//! stack trace, which says nothing to a user.

use hdfs_native_sync::HdfsError;

/// `e` in one line: for a NameNode's exception, its class without the package and the
/// first line of its message (`AccessControlException: Permission denied: user=carol,
/// access=EXECUTE, ...`).
pub fn one_line(e: HdfsError) -> String {
    match e {
        HdfsError::RPCError(class, message) | HdfsError::FatalRPCError(class, message) => {
            let class = class.rsplit('.').next().unwrap_or(&class);
            let first = message.lines().next().unwrap_or_default().trim();
            format!("{class}: {first}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_exception_loses_its_package_and_stack_trace() {
        let e = HdfsError::RPCError(
            "org.apache.hadoop.security.AccessControlException".into(),
            "Permission denied: user=gina, access=WRITE\n\tat org.apache.hadoop.Foo(Foo.java:1)"
                .into(),
        );
        assert_eq!(
            one_line(e),
            "AccessControlException: Permission denied: user=gina, access=WRITE"
        );
    }
}
