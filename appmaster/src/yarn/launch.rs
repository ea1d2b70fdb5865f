//! What a spindle container needs, handed by `submit` to the application master (in its
//! environment, as JSON) so that it starts workers exactly like itself: the staged files (with the
//! size and modification time the NodeManager checks), the environment and the commands.

use super::SECRET_ALIAS;
use serde::{Deserialize, Serialize};
use spindle_hadoop::credentials::{Credentials, Token};
use spindle_hadoop::yarn::{
    ApplicationAcls, ContainerLaunchContext, LocalResource, LocalResourceType,
    LocalResourceVisibility,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// Name of the spindle binary inside every container's working directory.
pub const BINARY: &str = "spindle";
/// Names of the per-application files in the AM's working directory.
pub const SPEC: &str = "job.yaml";
/// The AM's environment variable holding the [`LaunchInfo`] as JSON.
pub const LAUNCH_ENV: &str = "SPINDLE_LAUNCH";

/// A file in HDFS that YARN localizes into a container as `name`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Staged {
    pub name: String,
    /// Absolute path on the default filesystem.
    pub path: String,
    pub size: i64,
    /// Modification time in ms, exactly as the NameNode reports it.
    pub timestamp: i64,
    /// Private files are cached per user on each node across applications (the binary).
    pub private: bool,
    /// An archive (zip, tar, tar.gz) the NodeManager unpacks into a directory `name`.
    #[serde(default)]
    pub archive: bool,
    /// Cached once on each node for every user (a file everyone may read).
    #[serde(default)]
    pub public: bool,
    /// `host:port` of the NameNode of another HDFS than the default, where `path` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchInfo {
    /// The default filesystem the files live on: scheme, host, port (-1 if none).
    pub fs_scheme: String,
    pub fs_host: String,
    pub fs_port: i32,
    /// Shipped to every container: the binary and the Hadoop configuration.
    pub common: Vec<Staged>,
    /// The application's staging directory (holds the spec, summary, secret).
    pub app_dir: String,
    /// Running NodeManager hosts and each one's rack ("" if the RM names none) when
    /// submitted (the AM cannot ask the RM's client protocol itself on a secure cluster).
    #[serde(default)]
    pub nodes: BTreeMap<String, String>,
    /// The staged spec: service containers read their script from it.
    #[serde(default)]
    pub spec: Option<Staged>,
    /// Each service's own files (the spec's `services.<name>.files`), staged.
    #[serde(default)]
    pub service_files: BTreeMap<String, Vec<Staged>>,
    /// Tokens every container gets in its credentials beside the secret (on a Kerberos
    /// cluster the HDFS delegation token), by alias. Never serialized: a launch
    /// description travels in an environment variable, and tokens must not.
    #[serde(skip)]
    pub tokens: SharedTokens,
    /// The principal whose keytab the client handed the master (in its credentials), so
    /// that it can obtain fresh tokens for a long-running application.
    #[serde(default)]
    pub keytab_principal: Option<String>,
    /// The master's own container memory, in MiB: a query job's coordinator keeps its
    /// tasks within a share of it.
    #[serde(default)]
    pub am_memory_mb: Option<i64>,
    /// The application's view and modify access control lists, given to every container
    /// (a NodeManager checks a container's logs against the ACLs its containers carry).
    #[serde(default)]
    pub acls: Option<(String, String)>,
    /// `host:port` of the NameNodes of other filesystems than the default whose
    /// delegation tokens the application holds (Skein's `file_systems`, and where its
    /// files are): fresh tokens come from each of them too.
    #[serde(default)]
    pub file_systems: Vec<String>,
    /// On a cluster without Kerberos, the application's user, which every container gets
    /// as `HADOOP_USER_NAME`: its HDFS clients then act as that user, not as the
    /// operating-system user the NodeManager runs it as (`yarn`, under the default
    /// container executor). On a Kerberos cluster the tokens say who they are.
    #[serde(default)]
    pub simple_user: Option<String>,
}

/// The tokens containers get, shared by every copy of a launch description: tokens the
/// master obtains later reach the containers it launches later.
#[derive(Debug, Clone, Default)]
pub struct SharedTokens(Arc<RwLock<BTreeMap<String, Token>>>);

impl SharedTokens {
    pub fn get(&self) -> BTreeMap<String, Token> {
        self.0.read().expect("tokens poisoned").clone()
    }

    /// Puts `fresh` in place of the tokens under the same aliases.
    pub fn update(&self, fresh: BTreeMap<String, Token>) {
        self.0.write().expect("tokens poisoned").extend(fresh);
    }
}

impl From<BTreeMap<String, Token>> for SharedTokens {
    fn from(tokens: BTreeMap<String, Token>) -> Self {
        SharedTokens(Arc::new(RwLock::new(tokens)))
    }
}

impl LaunchInfo {
    /// The NodeManager hosts, in order.
    pub fn hosts(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Their racks, each once, in order.
    pub fn racks(&self) -> Vec<String> {
        let racks: BTreeSet<&String> = self.nodes.values().filter(|r| !r.is_empty()).collect();
        racks.into_iter().cloned().collect()
    }

    /// Host to rack, for the hosts whose rack is known: tells rack-local scans from
    /// off-switch ones.
    pub fn host_racks(&self) -> HashMap<String, String> {
        self.nodes
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(h, r)| (h.clone(), r.clone()))
            .collect()
    }

    /// As an environment value: NodeManagers write values into a shell script unescaped,
    /// so quotes are out and hex is in.
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).expect("launch info serializes"))
    }

    pub fn decode(text: &str) -> Result<LaunchInfo, String> {
        let json = hex::decode(text.trim()).map_err(|e| e.to_string())?;
        serde_json::from_slice(&json).map_err(|e| e.to_string())
    }

    fn resource(&self, f: &Staged) -> LocalResource {
        let (scheme, host, port) = match f.filesystem.as_deref().and_then(|a| a.rsplit_once(':')) {
            Some((host, port)) => ("hdfs".into(), host.into(), port.parse().unwrap_or(-1)),
            None => (self.fs_scheme.clone(), self.fs_host.clone(), self.fs_port),
        };
        LocalResource {
            scheme,
            host,
            port,
            file: f.path.clone(),
            size: f.size,
            timestamp: f.timestamp,
            kind: if f.archive {
                LocalResourceType::Archive
            } else {
                LocalResourceType::File
            },
            visibility: if f.public {
                LocalResourceVisibility::Public
            } else if f.private {
                LocalResourceVisibility::Private
            } else {
                LocalResourceVisibility::Application
            },
        }
    }

    /// A container running `args` of the spindle binary, logging into YARN's log dir so
    /// `yarn logs` and the NodeManager UI show it, with `extra` files beside it.
    pub fn context(
        &self,
        args: &[String],
        log_name: &str,
        extra: &[Staged],
        extra_env: &[(&str, String)],
        secret: &str,
    ) -> ContainerLaunchContext {
        let local_resources = self
            .common
            .iter()
            .chain(extra)
            .map(|f| (f.name.clone(), self.resource(f)))
            .collect();
        let mut environment = BTreeMap::from([
            // The shipped site files sit in the working directory.
            ("HADOOP_CONF_DIR".to_string(), "{{PWD}}".to_string()),
            ("RUST_BACKTRACE".to_string(), "1".to_string()),
        ]);
        if let Some(user) = &self.simple_user {
            environment.insert(HADOOP_USER_NAME.to_string(), user.clone());
        }
        environment.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let mut command = vec![format!("./{BINARY}")];
        command.extend(args.iter().cloned());
        command.push(format!("1><LOG_DIR>/{log_name}.out"));
        command.push(format!("2><LOG_DIR>/{log_name}.log"));
        ContainerLaunchContext {
            local_resources,
            environment,
            commands: vec![command.join(" ")],
            credentials: Some(self.credentials(secret)),
            acls: self.application_acls(),
        }
    }

    /// The application's ACLs, as every launch context carries them.
    fn application_acls(&self) -> Option<ApplicationAcls> {
        let (view, modify) = self.acls.clone()?;
        Some(ApplicationAcls { view, modify })
    }

    /// The secret and the shared tokens.
    fn credentials(&self, secret: &str) -> Credentials {
        let mut creds = secret_credentials(secret);
        creds.tokens.extend(self.tokens.get());
        creds
    }
}

/// Who a Hadoop client on a cluster without Kerberos acts as.
pub const HADOOP_USER_NAME: &str = "HADOOP_USER_NAME";

/// The AMRMToken's kind: it authenticates the master alone and is never passed on.
pub const AM_RM_TOKEN_KIND: &str = "YARN_AM_RM_TOKEN";

/// The tokens of the master's own credentials that its containers get too: all but
/// the AMRMToken.
pub fn shared_tokens(creds: &Credentials) -> BTreeMap<String, Token> {
    creds
        .tokens
        .iter()
        .filter(|(_, t)| t.kind != AM_RM_TOKEN_KIND)
        .map(|(a, t)| (a.clone(), t.clone()))
        .collect()
}

/// The secret travels in the container's Credentials file, never in its environment or
/// command line, which YARN shows to anyone who can see the application.
pub fn secret_credentials(secret: &str) -> Credentials {
    let mut creds = Credentials::default();
    creds
        .secrets
        .insert(SECRET_ALIAS.to_string(), secret.as_bytes().to_vec());
    creds
}

/// The application's secret and the AMRMToken (the AM's only), from the Credentials file
/// YARN put in the container (its path is in `HADOOP_TOKEN_FILE_LOCATION`).
pub fn read_credentials(path: &str) -> Result<Credentials, String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Credentials::read(&data).map_err(|e| format!("{path}: {e}"))
}

pub fn secret_from(creds: &Credentials) -> Result<String, String> {
    let bytes = creds
        .secrets
        .get(SECRET_ALIAS)
        .ok_or("the container's credentials hold no spindle secret")?;
    String::from_utf8(bytes.clone()).map_err(|_| "the spindle secret is not text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_racks_come_from_the_nodes_each_once_in_order() {
        let launch = LaunchInfo {
            fs_scheme: "hdfs".into(),
            fs_host: "nn".into(),
            fs_port: 8020,
            common: vec![],
            app_dir: "/d".into(),
            nodes: [("b", "/r2"), ("a", "/r1"), ("c", "/r1"), ("d", "")]
                .iter()
                .map(|(h, r)| (h.to_string(), r.to_string()))
                .collect(),
            spec: None,
            service_files: Default::default(),
            tokens: Default::default(),
            keytab_principal: None,
            am_memory_mb: None,
            acls: None,
            file_systems: vec![],
            simple_user: None,
        };
        assert_eq!(launch.hosts(), ["a", "b", "c", "d"]);
        assert_eq!(launch.racks(), ["/r1", "/r2"], "no empty rack");
        let racks = launch.host_racks();
        assert_eq!(
            racks.len(),
            3,
            "a host without a rack is not on \"\": {racks:?}"
        );
        assert_eq!(racks["c"], "/r1");
    }

    #[test]
    fn tokens_reach_container_credentials_but_never_the_environment() {
        let token = |kind: &str| Token {
            identifier: b"id".to_vec(),
            password: b"pw-of-the-token".to_vec(),
            kind: kind.into(),
            service: "nn:8020".into(),
        };
        let mut am_creds = secret_credentials("s3cret");
        am_creds
            .tokens
            .insert("dt".into(), token("HDFS_DELEGATION_TOKEN"));
        am_creds
            .tokens
            .insert("amrm".into(), token(AM_RM_TOKEN_KIND));
        let mut launch = LaunchInfo::decode(
            &LaunchInfo {
                fs_scheme: "hdfs".into(),
                fs_host: "nn".into(),
                fs_port: 8020,
                common: vec![],
                app_dir: "/d".into(),
                nodes: Default::default(),
                spec: None,
                service_files: Default::default(),
                tokens: Default::default(),
                keytab_principal: None,
                am_memory_mb: None,
                acls: None,
                file_systems: vec![],
                simple_user: None,
            }
            .encode(),
        )
        .unwrap();
        launch.tokens = shared_tokens(&am_creds).into();
        let encoded = launch.encode();
        let json = String::from_utf8(hex::decode(&encoded).unwrap()).unwrap();
        assert!(
            !json.contains("pw-of-the-token") && !json.contains("tokens"),
            "{json}"
        );
        let ctx = launch.context(&[], "worker-1", &[], &[], "s3cret");
        let creds = ctx.credentials.unwrap();
        assert_eq!(creds.tokens.len(), 1, "the AMRMToken stays with the master");
        assert_eq!(creds.tokens["dt"].kind, "HDFS_DELEGATION_TOKEN");
        assert_eq!(creds.secrets[SECRET_ALIAS], b"s3cret");
    }
}
