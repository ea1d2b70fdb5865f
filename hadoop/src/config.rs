//! Hadoop XML configuration (`core-site.xml`, `hdfs-site.xml`, `yarn-site.xml`) with the
//! client-side defaults spindle needs and Hadoop's `${var}` substitution.
//!
//! Not supported: `xi:include`, deprecated-key aliases, and `${env.X:-default}` forms
//! beyond plain `${env.X}`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Site files read from each configuration directory, lowest precedence first.
pub const SITE_FILES: &[&str] = &["core-site.xml", "hdfs-site.xml", "yarn-site.xml"];

/// Hadoop substitutes at most this many times per value, then gives up (as Hadoop does).
const MAX_SUBST: usize = 20;

/// Defaults from core-default.xml / yarn-default.xml for the keys spindle reads.
const DEFAULTS: &[(&str, &str)] = &[
    ("fs.defaultFS", "file:///"),
    ("hadoop.security.authentication", "simple"),
    ("hadoop.rpc.protection", "authentication"),
    ("ipc.client.connect.timeout", "20000"),
    ("yarn.resourcemanager.hostname", "0.0.0.0"),
    (
        "yarn.resourcemanager.address",
        "${yarn.resourcemanager.hostname}:8032",
    ),
    (
        "yarn.resourcemanager.scheduler.address",
        "${yarn.resourcemanager.hostname}:8030",
    ),
    (
        "yarn.resourcemanager.webapp.address",
        "${yarn.resourcemanager.hostname}:8088",
    ),
    ("yarn.resourcemanager.ha.enabled", "false"),
];

/// A flat key/value configuration, as Hadoop's `Configuration` after loading resources.
#[derive(Debug, Clone, Default)]
pub struct Configuration {
    props: HashMap<String, String>,
    finals: HashSet<String>,
    /// Fallback values for `${name}` (Java system properties such as `user.name`, and
    /// `env.X` entries), passed in by the caller.
    vars: HashMap<String, String>,
}

impl Configuration {
    /// Defaults only.
    pub fn new() -> Self {
        let mut c = Self::default();
        for (k, v) in DEFAULTS {
            c.props.insert(k.to_string(), v.to_string());
        }
        c
    }

    /// Defaults, then every site file in each directory in order (later directories
    /// override earlier ones unless a value is marked final). Missing files are skipped.
    pub fn load(dirs: &[PathBuf]) -> Result<Self> {
        let mut c = Self::new();
        for dir in dirs {
            for f in SITE_FILES {
                let path = dir.join(f);
                if path.is_file() {
                    c.add_file(&path)?;
                }
            }
        }
        Ok(c)
    }

    /// Directories named by `HADOOP_CONF_DIR` then `YARN_CONF_DIR` (values passed in by
    /// the caller), without duplicates.
    pub fn conf_dirs(hadoop_conf_dir: Option<&str>, yarn_conf_dir: Option<&str>) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for d in [hadoop_conf_dir, yarn_conf_dir].into_iter().flatten() {
            let p = PathBuf::from(d);
            if !d.is_empty() && !dirs.contains(&p) {
                dirs.push(p);
            }
        }
        dirs
    }

    /// Sets fallback variables for substitution (`user.name`, `env.HOME`, ...).
    pub fn with_vars(mut self, vars: HashMap<String, String>) -> Self {
        self.vars = vars;
        self
    }

    /// Merges one XML resource.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        self.add_xml(&text)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Merges one XML resource given as text.
    pub fn add_xml(&mut self, text: &str) -> std::result::Result<(), String> {
        let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
        let root = doc.root_element();
        if root.tag_name().name() != "configuration" {
            return Err(format!(
                "root element is <{}>, not <configuration>",
                root.tag_name().name()
            ));
        }
        for prop in root.children().filter(|n| n.has_tag_name("property")) {
            let child = |tag: &str| {
                prop.children()
                    .find(|n| n.has_tag_name(tag))
                    .map(|n| n.text().unwrap_or("").to_string())
                    .or_else(|| prop.attribute(tag).map(str::to_string))
            };
            let Some(name) = child("name") else { continue };
            let name = name.trim().to_string();
            let Some(value) = child("value") else {
                continue;
            };
            if self.finals.contains(&name) {
                continue;
            }
            if child("final").is_some_and(|f| f.trim() == "true") {
                self.finals.insert(name.clone());
            }
            self.props.insert(name, value.trim().to_string());
        }
        Ok(())
    }

    /// Sets a value (overrides files, ignores `final`).
    pub fn set(&mut self, key: &str, value: &str) {
        self.props.insert(key.to_string(), value.to_string());
    }

    /// The raw value, before substitution.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// The value with `${var}` substituted from other keys, then the fallback
    /// variables; an unresolvable reference is left in place, as Hadoop does.
    pub fn get(&self, key: &str) -> Option<String> {
        self.props.get(key).map(|v| self.substitute(v))
    }

    /// Parses the value as an integer.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::Config(format!("{key}={v:?} is not an integer"))),
        }
    }

    /// The value split on commas, trimmed, empties dropped.
    pub fn get_list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn substitute(&self, value: &str) -> String {
        let mut out = value.to_string();
        for _ in 0..MAX_SUBST {
            let Some((start, end, name)) = next_var(&out, 0) else {
                return out;
            };
            // Skip references we cannot resolve, continuing after them.
            let mut found = Some((start, end, name));
            let mut resolved = None;
            while let Some((s, e, n)) = found {
                if let Some(v) = self.props.get(n).or_else(|| self.vars.get(n)) {
                    resolved = Some((s, e, v.clone()));
                    break;
                }
                found = next_var(&out, e);
            }
            let Some((s, e, v)) = resolved else {
                return out;
            };
            out.replace_range(s..e, &v);
        }
        out
    }

    /// True when `hadoop.security.authentication` is `kerberos`.
    pub fn is_kerberos(&self) -> bool {
        self.get("hadoop.security.authentication")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("kerberos"))
    }

    /// The qualities of protection `hadoop.rpc.protection` accepts (default
    /// `authentication`).
    pub fn rpc_protection(&self) -> Result<crate::sasl::Protection> {
        crate::sasl::Protection::parse(&self.get("hadoop.rpc.protection").unwrap_or_default())
            .map_err(Error::Config)
    }

    /// The server principal under `key` (e.g. `yarn.resourcemanager.principal`),
    /// required on a Kerberos cluster.
    pub fn server_principal(&self, key: &str) -> Result<crate::sasl::gssapi::ServerPrincipal> {
        let value = self.get(key).ok_or_else(|| {
            Error::Config(format!(
                "{key} is not set: a Kerberos cluster's configuration names its servers' principals"
            ))
        })?;
        crate::sasl::gssapi::ServerPrincipal::parse(value.trim())
            .map_err(|e| Error::Config(format!("{key}: {e}")))
    }

    /// ResourceManager client addresses: one, or one per id under HA.
    pub fn rm_addresses(&self) -> Vec<String> {
        self.rm_addresses_for("yarn.resourcemanager.address", 8032)
    }

    /// ResourceManager scheduler (AM) addresses, one per id under HA.
    pub fn rm_scheduler_addresses(&self) -> Vec<String> {
        self.rm_addresses_for("yarn.resourcemanager.scheduler.address", 8030)
    }

    fn rm_addresses_for(&self, key: &str, port: u16) -> Vec<String> {
        let ha = self.get("yarn.resourcemanager.ha.enabled").as_deref() == Some("true");
        let ids = self.get_list("yarn.resourcemanager.ha.rm-ids");
        if !ha || ids.is_empty() {
            return self.get(key).into_iter().collect();
        }
        ids.iter()
            .filter_map(|id| {
                self.get(&format!("{key}.{id}")).or_else(|| {
                    self.get(&format!("yarn.resourcemanager.hostname.{id}"))
                        .map(|h| format!("{h}:{port}"))
                })
            })
            .collect()
    }
}

/// Finds the next `${name}` at or after `from`: (start, end, name).
fn next_var(s: &str, from: usize) -> Option<(usize, usize, &str)> {
    let start = from + s[from..].find("${")?;
    let close = start + 2 + s[start + 2..].find('}')?;
    Some((start, close + 1, &s[start + 2..close]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"<?xml version="1.0"?>
<configuration>
  <property><name>yarn.resourcemanager.hostname</name><value>rm.example</value></property>
  <property><name>fs.defaultFS</name><value>hdfs://nn:9000</value><final>true</final></property>
  <property><name>a</name><value>${b}-${missing}-${user.name}</value></property>
  <property><name>b</name><value>${c}</value></property>
  <property><name>c</name><value> C </value></property>
  <property name="attr.style" value="yes"/>
</configuration>"#;

    #[test]
    fn defaults_and_substitution() {
        let mut c = Configuration::new();
        c.add_xml(SITE).unwrap();
        let c = c.with_vars(HashMap::from([(
            "user.name".to_string(),
            "bob".to_string(),
        )]));
        assert_eq!(
            c.get("yarn.resourcemanager.address").unwrap(),
            "rm.example:8032"
        );
        assert_eq!(c.rm_scheduler_addresses(), vec!["rm.example:8030"]);
        assert_eq!(c.get("a").unwrap(), "C-${missing}-bob");
        assert_eq!(c.get("attr.style").unwrap(), "yes");
        assert_eq!(c.get("nope"), None);
    }

    #[test]
    fn final_values_are_not_overridden() {
        let mut c = Configuration::new();
        c.add_xml(SITE).unwrap();
        c.add_xml("<configuration><property><name>fs.defaultFS</name><value>x</value></property></configuration>")
            .unwrap();
        assert_eq!(c.get("fs.defaultFS").unwrap(), "hdfs://nn:9000");
    }

    #[test]
    fn self_reference_terminates() {
        let mut c = Configuration::new();
        c.set("loop", "${loop}x");
        assert!(c.get("loop").unwrap().starts_with("${loop}"));
    }

    #[test]
    fn ha_addresses() {
        let mut c = Configuration::new();
        c.set("yarn.resourcemanager.ha.enabled", "true");
        c.set("yarn.resourcemanager.ha.rm-ids", "rm1, rm2");
        c.set("yarn.resourcemanager.address.rm1", "h1:1");
        c.set("yarn.resourcemanager.hostname.rm2", "h2");
        assert_eq!(c.rm_addresses(), vec!["h1:1", "h2:8032"]);
    }

    #[test]
    fn loads_directories_in_order() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        std::fs::write(d1.path().join("core-site.xml"), SITE).unwrap();
        std::fs::write(
            d2.path().join("yarn-site.xml"),
            "<configuration><property><name>yarn.resourcemanager.address</name><value>x:1</value></property></configuration>",
        )
        .unwrap();
        let dirs = Configuration::conf_dirs(
            Some(d1.path().to_str().unwrap()),
            Some(d2.path().to_str().unwrap()),
        );
        let c = Configuration::load(&dirs).unwrap();
        assert_eq!(c.rm_addresses(), vec!["x:1"]);
        assert_eq!(c.get("fs.defaultFS").unwrap(), "hdfs://nn:9000");
        std::fs::write(d2.path().join("hdfs-site.xml"), "<oops>").unwrap();
        let err = Configuration::load(&dirs).unwrap_err().to_string();
        assert!(err.contains("hdfs-site.xml"), "{err}");
    }
}
