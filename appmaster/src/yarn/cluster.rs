//! The cluster as a client's Hadoop configuration describes it.

use spindle_hadoop::config::Configuration;
use spindle_hadoop::yarn::ApplicationClient;
use std::path::PathBuf;

pub struct Cluster {
    pub conf: Configuration,
    /// Where `conf` came from; the first one's site files are shipped to containers.
    pub conf_dirs: Vec<PathBuf>,
    pub user: String,
}

impl Cluster {
    /// Loads the site files of `conf_dirs` (from `HADOOP_CONF_DIR` / `YARN_CONF_DIR`, as
    /// the binary found them) for `user`.
    pub fn load(conf_dirs: Vec<PathBuf>, user: String) -> Result<Cluster, String> {
        if conf_dirs.is_empty() {
            return Err(
                "HADOOP_CONF_DIR is not set: point it at the cluster's configuration directory \
                 (the one with core-site.xml and yarn-site.xml); for a local test cluster run \
                 scripts/minicluster.sh, which prints it"
                    .into(),
            );
        }
        for d in &conf_dirs {
            if !d.join("yarn-site.xml").is_file() && !d.join("core-site.xml").is_file() {
                return Err(format!(
                    "{} has neither core-site.xml nor yarn-site.xml",
                    d.display()
                ));
            }
        }
        let conf = Configuration::load(&conf_dirs).map_err(|e| e.to_string())?;
        Ok(Cluster {
            conf,
            conf_dirs,
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
