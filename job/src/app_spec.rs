//! Application specs in Skein's format: long-running services (and an optional process in
//! the application master) rather than a batch job over input files.
//!
//! Checks that concern one value happen while deserializing, as in [`crate::spec`], so the
//! error names the key and its line; checks across services (`depends`) run afterwards
//! and are pointed back at their key and line (see `blame.rs`).

use crate::blame::blame;
use crate::query_spec::QuerySpec;
use crate::size::ByteSize;
use crate::spec::{parse_yaml, ranged, read_spec, JobSpec, SpecError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;

#[path = "app_spec_de.rs"]
mod de;
#[path = "app_spec_order.rs"]
mod order;
#[path = "app_spec_unsupported.rs"]
mod unsupported;

/// What a spec file describes.
#[derive(Debug, Clone, PartialEq)]
// One per run, matched once: a box would cost more clarity than the bytes it saves.
#[allow(clippy::large_enum_variant)]
pub enum Spec {
    Job(JobSpec),
    App(AppSpec),
    /// One SQL query over named inputs (`inputs:` + `query:`).
    Query(QuerySpec),
}

impl Spec {
    /// Reads and validates a spec file of either kind.
    pub fn from_file(path: &str) -> Result<Spec, SpecError> {
        Spec::from_yaml(&read_spec(path)?, path)
    }

    /// An application spec when the top-level mapping has a `services` or `master` key,
    /// else a job spec.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Spec, SpecError> {
        // Not YAML: say where, rather than what a job spec would make of the keys before.
        let top = match parse_yaml(text, origin, PhantomData::<serde_yaml::Value>)? {
            serde_yaml::Value::Mapping(top) => top,
            // Not a mapping: the job spec parser explains what is wrong.
            _ => Default::default(),
        };
        let has = |key: &str| top.contains_key(key);
        if has("services") || has("master") {
            return AppSpec::from_yaml(text, origin).map(Spec::App);
        }
        let query_form = has("query") || has("inputs");
        if query_form && has("input") {
            let message = "a query job names its tables under `inputs` and reads \
                           every one itself; `stages` after the `query` run over its result";
            return Err(blame(text, origin, &[vec!["input".to_string()]], message));
        }
        if query_form {
            QuerySpec::from_yaml(text, origin).map(Spec::Query)
        } else {
            JobSpec::from_yaml(text, origin).map(Spec::Job)
        }
    }
}

/// A parsed, validated application spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Submit on this user's behalf (Skein's proxy user): the application is theirs.
    #[serde(default)]
    pub user: Option<String>,
    /// The node label (YARN partition) of the master and, unless they name their own,
    /// of every service's containers.
    #[serde(default)]
    pub node_label: Option<String>,
    /// Attempts YARN makes at the application master.
    #[serde(default = "one", deserialize_with = "ranged::<_, 1, 100>")]
    pub max_attempts: u32,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Other HDFS filesystems (`hdfs://host:port`) whose delegation tokens the
    /// application's containers get, beside the default filesystem's.
    #[serde(default)]
    pub file_systems: Vec<String>,
    #[serde(default)]
    pub acls: Option<AclSpec>,
    #[serde(default)]
    pub master: Option<MasterSpec>,
    #[serde(default, deserialize_with = "de::services")]
    pub services: BTreeMap<String, ServiceSpec>,
}

/// `host:port` of the NameNode an `hdfs://host:port[/path]` URL names; `None` for any
/// other URL, or one without a host or a port.
pub fn namenode_of(url: &str) -> Option<String> {
    let authority = url.strip_prefix("hdfs://")?.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)).then(|| authority.to_string())
}

/// Who may view and modify the application (YARN's ACLs), as Skein writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSpec {
    #[serde(default)]
    pub enable: bool,
    #[serde(default)]
    pub view_users: Vec<String>,
    #[serde(default)]
    pub view_groups: Vec<String>,
    #[serde(default)]
    pub modify_users: Vec<String>,
    #[serde(default)]
    pub modify_groups: Vec<String>,
    #[serde(default)]
    pub ui_users: Vec<String>,
}

/// A container's size. In YAML a bare number of memory is MiB, as in Skein.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "de::RawResources")]
pub struct Resources {
    /// Written back as whole MiB when exact, so that the output reads back the same.
    #[serde(serialize_with = "de::memory_out")]
    pub memory: ByteSize,
    pub vcores: u32,
    pub gpus: u32,
}

impl Default for Resources {
    /// A service container's: 1 GiB, 1 vcore.
    fn default() -> Self {
        Resources {
            memory: ByteSize::mib(1024),
            vcores: 1,
            gpus: 0,
        }
    }
}

/// A file or archive YARN localizes into a container's working directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSpec {
    /// A URL (`hdfs://`, `file://`, ...) or path.
    pub source: String,
    #[serde(rename = "type")]
    pub kind: FileKind,
    pub visibility: Visibility,
    /// Expected size and modification time, which YARN checks when given.
    pub size: Option<i64>,
    pub timestamp: Option<i64>,
}

/// Whether YARN copies the file as is or unpacks it into a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Archive,
}

impl FileKind {
    /// What Skein assumes when `type` is left out: archives by their extension (a `.jar`
    /// stays a file, as Java wants it on the classpath whole).
    pub fn infer(source: &str) -> FileKind {
        let path = source.split(['?', '#']).next().unwrap_or(source);
        let path = path.to_ascii_lowercase();
        let archive = [
            ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz",
        ];
        if archive.iter().any(|ext| path.ends_with(ext)) {
            FileKind::Archive
        } else {
            FileKind::File
        }
    }
}

/// Who may share YARN's localized copy of a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// This application only.
    #[default]
    Application,
    /// The same user's applications.
    Private,
    /// Everyone on the node.
    Public,
}

/// A set of identical containers running one script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    #[serde(default = "one", deserialize_with = "ranged::<_, 0, 10000>")]
    pub instances: u32,
    #[serde(default)]
    pub resources: Resources,
    /// Keyed by the name in the container's working directory.
    #[serde(default, deserialize_with = "de::files")]
    pub files: BTreeMap<String, FileSpec>,
    /// Values are the text written: `VERSION: 1.10` is `1.10`, and `~` is `~`, not unset.
    #[serde(default, deserialize_with = "de::env")]
    pub env: BTreeMap<String, String>,
    /// Shell script; Skein's deprecated `commands:` list is read as one command per line.
    #[serde(alias = "commands", deserialize_with = "de::script")]
    pub script: String,
    /// Services whose containers must be running before this one starts.
    #[serde(default)]
    pub depends: Vec<String>,
    /// Containers restarted after failing before the service fails; -1 restarts forever.
    #[serde(default, deserialize_with = "de::signed_in::<_, { -1 }, 10000>")]
    pub max_restarts: i32,
    /// Whether a failed service leaves the application running.
    #[serde(default)]
    pub allow_failures: bool,
    /// This service's node label, over the application's.
    #[serde(default)]
    pub node_label: Option<String>,
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub racks: Vec<String>,
    /// Whether YARN may place containers off the requested nodes and racks.
    #[serde(default)]
    pub relax_locality: bool,
}

/// The application master's container, and the user process it may run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterSpec {
    #[serde(
        default = "de::master_resources",
        deserialize_with = "de::master_resources_in"
    )]
    pub resources: Resources,
    #[serde(default, deserialize_with = "de::files")]
    pub files: BTreeMap<String, FileSpec>,
    #[serde(default, deserialize_with = "de::env")]
    pub env: BTreeMap<String, String>,
    /// Runs in the master's container beside the application master.
    #[serde(default, deserialize_with = "de::optional_script")]
    pub script: Option<String>,
    /// Skein's; accepted, not used.
    #[serde(default)]
    pub log_level: Option<String>,
    #[serde(default)]
    pub log_config: Option<String>,
    #[serde(default)]
    pub security: Option<serde_yaml::Value>,
}

impl AppSpec {
    /// Parses YAML text; `origin` names the text in errors (usually the file name).
    pub fn from_yaml(text: &str, origin: &str) -> Result<AppSpec, SpecError> {
        let spec: AppSpec = parse_yaml(text, origin, PhantomData)?;
        if let Err((keys, message)) = spec.check() {
            return Err(blame(text, origin, &keys, &message));
        }
        Ok(spec)
    }

    /// Service names in dependency order: dependencies first, ties by name.
    pub fn service_order(&self) -> Vec<&str> {
        order::service_order(&self.services)
    }

    /// The checks across keys; an error lists the keys to blame, the first present wins.
    fn check(&self) -> Result<(), (Vec<Vec<String>>, String)> {
        let has_script = self.master.as_ref().is_some_and(|m| m.script.is_some());
        if self.services.is_empty() && !has_script {
            let keys = vec![vec!["services".into()], vec!["master".into()], vec![]];
            let message = "an application spec needs `services` or a `master.script`";
            return Err((keys, message.into()));
        }
        for (name, service) in &self.services {
            for dep in &service.depends {
                let problem = if dep == name {
                    format!("service `{name}` depends on itself")
                } else if !self.services.contains_key(dep) {
                    format!("service `{name}` depends on `{dep}`, which is not a service")
                } else {
                    continue;
                };
                return Err((depends_key(name), problem));
            }
        }
        if let Some(cycle) = order::find_cycle(&self.services) {
            let message = format!(
                "services depend on each other in a cycle: {}",
                cycle.join(" -> ")
            );
            return Err((depends_key(cycle[0]), message));
        }
        unsupported::refuse_unsupported(self)
    }
}

fn depends_key(service: &str) -> Vec<Vec<String>> {
    vec![vec!["services".into(), service.into(), "depends".into()]]
}

fn default_name() -> String {
    "spindle".into()
}
fn default_queue() -> String {
    "default".into()
}
fn one() -> u32 {
    1
}

#[cfg(test)]
#[path = "app_spec_tests.rs"]
mod tests;
