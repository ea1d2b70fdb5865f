//! The YARN side of the CLI: `submit`, `status`, `ls`, `kill` on an edge node, and the
//! `appmaster` role that runs inside the application's first container.

pub mod appmaster;
pub mod apps;
mod launch;
mod staging;
pub mod submit;

use spindle_hadoop::config::Configuration;
use spindle_hadoop::user::simple_user;
use spindle_hadoop::yarn::ApplicationClient;

/// The application's secret from a YARN container's Credentials file.
pub fn container_secret() -> Result<String, String> {
    launch::secret_from(&launch::container_credentials()?)
}

/// A worker's secret from its container's Credentials file, which is then deleted: it
/// holds nothing else a worker needs, and the programs of `command` stages, running as
/// the same user, must not find it.
pub fn take_container_secret() -> Result<String, String> {
    let secret = container_secret()?;
    if let Ok(path) = std::env::var("HADOOP_TOKEN_FILE_LOCATION") {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(%path, error = %e, "cannot remove the container's credentials");
        }
    }
    Ok(secret)
}

/// The cluster as the edge node's Hadoop configuration describes it.
pub struct Cluster {
    pub conf: Configuration,
    /// Where `conf` came from; the first one's site files are shipped to containers.
    pub conf_dirs: Vec<std::path::PathBuf>,
    pub user: String,
}

impl Cluster {
    /// Reads `HADOOP_CONF_DIR` / `YARN_CONF_DIR`, like every Hadoop client.
    pub fn from_env() -> Result<Cluster, String> {
        let hadoop = std::env::var("HADOOP_CONF_DIR").ok();
        let yarn = std::env::var("YARN_CONF_DIR").ok();
        let dirs = Configuration::conf_dirs(hadoop.as_deref(), yarn.as_deref());
        if dirs.is_empty() {
            return Err(
                "HADOOP_CONF_DIR is not set: point it at the cluster's configuration directory \
                 (the one with core-site.xml and yarn-site.xml); for a local test cluster run \
                 scripts/minicluster.sh, which prints it"
                    .into(),
            );
        }
        for d in &dirs {
            if !d.join("yarn-site.xml").is_file() && !d.join("core-site.xml").is_file() {
                return Err(format!(
                    "{} has neither core-site.xml nor yarn-site.xml",
                    d.display()
                ));
            }
        }
        let conf = Configuration::load(&dirs).map_err(|e| e.to_string())?;
        let user = simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
        Ok(Cluster {
            conf,
            conf_dirs: dirs,
            user,
        })
    }

    pub async fn resource_manager(&self) -> Result<ApplicationClient, String> {
        ApplicationClient::from_config(&self.conf, &self.user)
            .await
            .map_err(|e| {
                format!(
                    "cannot reach the ResourceManager at {}: {e}",
                    self.conf.rm_addresses().join(", ")
                )
            })
    }
}
