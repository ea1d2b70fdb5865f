//! The YARN side of the CLI: `submit`, `status`, `ls`, `kill` on an edge node, and the
//! `appmaster` role that runs inside the application's first container. Only arguments
//! and the environment are read here; the work is in `spindle_appmaster::yarn`.

pub mod appmaster;
pub mod apps;
pub mod clean;
mod proxy;
mod store_progress;
pub mod submit;
mod submit_app;

use spindle_appmaster::yarn::cluster::{Cluster, Login};
use spindle_appmaster::yarn::launch::{read_credentials, secret_from, LaunchInfo};
use spindle_appmaster::yarn::tokens::{replace_file, KEYTAB_SECRET};
use spindle_hadoop::config::Configuration;
use spindle_hadoop::credentials::CredentialsFormat;
use spindle_hadoop::yarn::ContainerLaunchContext;
use spindle_io::client_env;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `HADOOP_TOKEN_FILE_LOCATION`: where YARN put the container's Credentials file.
pub fn credentials_file() -> Result<String, String> {
    let file = client_env::installed().token_file.as_ref();
    file.map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| {
            "HADOOP_TOKEN_FILE_LOCATION is not set: this role runs inside a YARN container"
                .to_string()
        })
}

/// A worker's secret from its container's Credentials file, which then loses it: the
/// programs of `command` stages, running as the same user, must not find it. The file
/// is deleted when nothing else is in it, else rewritten (through a temporary file and
/// a rename, so a kill leaves either version) with only the tokens, which HDFS clients
/// read from it on a Kerberos cluster.
pub fn take_container_secret() -> Result<String, String> {
    let path = credentials_file()?;
    let mut creds = read_credentials(&path)?;
    let secret = secret_from(&creds)?;
    creds.secrets.clear();
    let result = if creds.tokens.is_empty() {
        std::fs::remove_file(&path)
    } else {
        replace_file(&path, &creds.write(CredentialsFormat::Writable))
    };
    if let Err(e) = result {
        tracing::warn!(%path, error = %e, "cannot remove the secret from the container's credentials");
    }
    Ok(secret)
}

/// With `--keytab` on a Kerberos cluster, hands the keytab to the application master
/// (among `context`'s secrets, which only the master's container gets) and names its
/// principal in `launch`, so that the master can obtain fresh delegation tokens for as
/// long as the application runs. Call before `launch` is encoded into `context`.
pub fn keytab_for_master(
    cluster: &Cluster,
    launch: &mut LaunchInfo,
) -> Result<Option<Vec<u8>>, String> {
    if cluster.identity.kerberos.is_none() {
        return Ok(None);
    }
    let Some((principal, path)) = KEYTAB.get() else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|e| format!("--keytab {}: {e}", path.display()))?;
    launch.keytab_principal = Some(principal.clone());
    Ok(Some(bytes))
}

/// Whether `--keytab` was given: the client logs in from a keytab.
pub fn has_keytab() -> bool {
    KEYTAB.get().is_some()
}

/// Puts the keytab from [`keytab_for_master`] among the master's container secrets.
pub fn give_master_keytab(context: &mut ContainerLaunchContext, keytab: Option<Vec<u8>>) {
    if let (Some(bytes), Some(creds)) = (keytab, context.credentials.as_mut()) {
        creds.secrets.insert(KEYTAB_SECRET.to_string(), bytes);
    }
}

/// `--principal` and `--keytab`, when given: the client logs in from the keytab.
static KEYTAB: OnceLock<(String, PathBuf)> = OnceLock::new();

/// A private ticket cache for a keytab login, removed when dropped (at exit).
pub struct KeytabCache(PathBuf);

impl Drop for KeytabCache {
    fn drop(&mut self) {
        // Our own directory, created below: it holds only the cache.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs in from `keytab` as `principal` for this process. Must run before any thread
/// starts: it points the Kerberos library (ours and hdfs-native's) at the keytab and
/// at a new ticket cache in a directory only this user can read, so the user's own
/// ticket cache is neither read nor overwritten.
pub fn use_keytab(principal: &str, keytab: &Path) -> Result<KeytabCache, String> {
    std::fs::File::open(keytab).map_err(|e| format!("--keytab {}: {e}", keytab.display()))?;
    let keytab =
        std::fs::canonicalize(keytab).map_err(|e| format!("--keytab {}: {e}", keytab.display()))?;
    let dir = std::env::temp_dir().join(format!(
        "spindle-krb5-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    ));
    // create, not create_all: fails on anything already there, a planted symlink too.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            format!(
                "cannot create a private ticket cache dir {}: {e}",
                dir.display()
            )
        })?;
    let cache = KeytabCache(dir);
    std::env::set_var(
        "KRB5CCNAME",
        format!("FILE:{}", cache.0.join("cc").display()),
    );
    std::env::set_var("KRB5_CLIENT_KTNAME", &keytab);
    let _ = KEYTAB.set((principal.to_string(), keytab));
    Ok(cache)
}

/// The cluster of `HADOOP_CONF_DIR` / `YARN_CONF_DIR`, as the user Hadoop clients act
/// as: on a Kerberos cluster, the `--keytab` login, else the ticket cache's principal.
pub fn cluster_from_env() -> Result<Cluster, String> {
    let user = client_env::installed().simple_user.clone();
    let keytab = KEYTAB.get().cloned();
    Cluster::load(conf_dirs_from_env(), Login::Client { user, keytab })
}

/// The cluster as seen from inside a YARN container, where tokens authenticate.
pub fn cluster_in_container() -> Result<Cluster, String> {
    let user = client_env::installed().simple_user.clone();
    Cluster::load(conf_dirs_from_env(), Login::Container { user })
}

fn conf_dirs_from_env() -> Vec<PathBuf> {
    let hadoop = client_env::installed().hadoop_conf_dir.as_deref();
    let yarn = std::env::var("YARN_CONF_DIR").ok();
    Configuration::conf_dirs(hadoop, yarn.as_deref())
}

/// A file the application's master or `submit` left in the staging directory of
/// `owner`, the application's user: read as that user, by proxy when it is another.
pub async fn read_app_file(
    cluster: &Cluster,
    owner: &str,
    app: &str,
    name: &str,
) -> Result<Vec<u8>, String> {
    let default_fs = cluster
        .conf
        .get("fs.defaultFS")
        .ok_or("fs.defaultFS is not set in HADOOP_CONF_DIR")?;
    let who = cluster.identity.clone().acting_as(owner);
    let staging = spindle_appmaster::yarn::staging::Staging::connect(
        &default_fs,
        &cluster.conf_dirs[0],
        &who,
    )?;
    staging
        .read(&format!("{}/{app}/{name}", staging.root))
        .await
}
