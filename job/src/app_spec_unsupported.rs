//! What Skein's format can say and spindle cannot do yet. Each is refused naming its
//! key (and, through `blame`, its line) rather than quietly ignored.

use super::{namenode_of, AppSpec};

type Refusal = (Vec<Vec<String>>, String);

/// The first key set to something spindle cannot honour, and why.
pub(super) fn refuse_unsupported(spec: &AppSpec) -> Result<(), Refusal> {
    let top = |key: &str| vec![vec![key.to_string()]];
    if let Some(bad) = spec.file_systems.iter().find(|f| namenode_of(f).is_none()) {
        let why = format!(
            "{bad}: name an HDFS NameNode as hdfs://host:port (for an HA nameservice, its \
             active NameNode); other filesystems are not supported"
        );
        return Err((top("file_systems"), why));
    }
    if spec
        .acls
        .as_ref()
        .is_some_and(|a| a.enable && !a.ui_users.is_empty())
    {
        let why = "spindle serves no web UI: leave `acls.ui_users` out (`view_users` and \
                   `view_groups` say who may see the application's details)";
        return Err((top("acls"), why.into()));
    }
    if let Some(m) = &spec.master {
        let at = |key: &str| vec![vec!["master".to_string(), key.to_string()]];
        if m.log_config.is_some() {
            let why = "a log4j configuration does not apply: the master logs with RUST_LOG levels; use `log_level`";
            return Err((at("log_config"), why.into()));
        }
        if m.security.is_some() {
            let why = "custom security (TLS certificates) is not supported: the application's secret protects every endpoint";
            return Err((at("security"), why.into()));
        }
    }
    Ok(())
}
