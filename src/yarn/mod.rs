//! The YARN side of the CLI: `submit`, `status`, `ls`, `kill` on an edge node, and the
//! `appmaster` role that runs inside the application's first container. Only arguments
//! and the environment are read here; the work is in `spindle_appmaster::yarn`.

pub mod appmaster;
pub mod apps;
pub mod submit;
mod submit_app;

use spindle_appmaster::yarn::cluster::Cluster;
use spindle_appmaster::yarn::launch::{read_credentials, secret_from};
use spindle_hadoop::config::Configuration;
use spindle_hadoop::user::simple_user;

/// `HADOOP_TOKEN_FILE_LOCATION`: where YARN put the container's Credentials file.
pub fn credentials_file() -> Result<String, String> {
    std::env::var("HADOOP_TOKEN_FILE_LOCATION").map_err(|_| {
        "HADOOP_TOKEN_FILE_LOCATION is not set: this role runs inside a YARN container".to_string()
    })
}

/// A worker's secret from its container's Credentials file, which is then deleted: it
/// holds nothing else a worker needs, and the programs of `command` stages, running as
/// the same user, must not find it.
pub fn take_container_secret() -> Result<String, String> {
    let path = credentials_file()?;
    let secret = secret_from(&read_credentials(&path)?)?;
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!(%path, error = %e, "cannot remove the container's credentials");
    }
    Ok(secret)
}

/// The cluster of `HADOOP_CONF_DIR` / `YARN_CONF_DIR`, as the user Hadoop clients act as.
pub fn cluster_from_env() -> Result<Cluster, String> {
    let hadoop = std::env::var("HADOOP_CONF_DIR").ok();
    let yarn = std::env::var("YARN_CONF_DIR").ok();
    let dirs = Configuration::conf_dirs(hadoop.as_deref(), yarn.as_deref());
    let user = simple_user(std::env::var("HADOOP_USER_NAME").ok().as_deref());
    Cluster::load(dirs, user)
}

/// A file the application's master or `submit` left in its staging directory.
pub async fn read_app_file(cluster: &Cluster, app: &str, name: &str) -> Result<Vec<u8>, String> {
    let default_fs = cluster
        .conf
        .get("fs.defaultFS")
        .ok_or("fs.defaultFS is not set in HADOOP_CONF_DIR")?;
    let staging = spindle_appmaster::yarn::staging::Staging::connect(
        &default_fs,
        &cluster.conf_dirs[0],
        &cluster.user,
    )?;
    staging
        .read(&format!("{}/{app}/{name}", staging.root))
        .await
}
