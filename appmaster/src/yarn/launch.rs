//! What a spindle container needs, handed by `submit` to the application master (in its
//! environment, as JSON) so that it starts workers exactly like itself: the staged files (with the
//! size and modification time the NodeManager checks), the environment and the commands.

use super::SECRET_ALIAS;
use serde::{Deserialize, Serialize};
use spindle_hadoop::credentials::Credentials;
use spindle_hadoop::yarn::{
    ContainerLaunchContext, LocalResource, LocalResourceType, LocalResourceVisibility,
};
use std::collections::BTreeMap;

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
    /// Running NodeManager hosts and their racks when submitted (the AM cannot ask the
    /// RM's client protocol itself on a secure cluster).
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub racks: Vec<String>,
    /// Each of those hosts' rack, for telling rack-local scans from off-switch ones.
    #[serde(default)]
    pub host_racks: BTreeMap<String, String>,
    /// The staged spec: service containers read their script from it.
    #[serde(default)]
    pub spec: Option<Staged>,
    /// Each service's own files (the spec's `services.<name>.files`), staged.
    #[serde(default)]
    pub service_files: BTreeMap<String, Vec<Staged>>,
}

impl LaunchInfo {
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
        LocalResource {
            scheme: self.fs_scheme.clone(),
            host: self.fs_host.clone(),
            port: self.fs_port,
            file: f.path.clone(),
            size: f.size,
            timestamp: f.timestamp,
            kind: if f.archive {
                LocalResourceType::Archive
            } else {
                LocalResourceType::File
            },
            visibility: if f.private {
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
        environment.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let mut command = vec![format!("./{BINARY}")];
        command.extend(args.iter().cloned());
        command.push(format!("1><LOG_DIR>/{log_name}.out"));
        command.push(format!("2><LOG_DIR>/{log_name}.log"));
        ContainerLaunchContext {
            local_resources,
            environment,
            commands: vec![command.join(" ")],
            credentials: Some(secret_credentials(secret)),
        }
    }
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
