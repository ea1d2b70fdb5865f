//! The cluster as a client's Hadoop configuration describes it.

use spindle_hadoop::config::Configuration;
use spindle_hadoop::credentials::Token;
use spindle_hadoop::hdfs::NameNodeClient;
use spindle_hadoop::sasl::gssapi::KerberosLogin;
use spindle_hadoop::user::Identity;
use spindle_hadoop::yarn::ApplicationClient;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Cluster {
    pub conf: Configuration,
    /// Where `conf` came from; the first one's site files are shipped to containers.
    pub conf_dirs: Vec<PathBuf>,
    /// Who this process acts as: `identity.user` names home and staging directories; on
    /// a Kerberos cluster's edge node `identity.kerberos` is the login (`None` inside
    /// containers, where tokens authenticate).
    pub identity: Identity,
}

/// How this process proves who it is.
pub enum Login {
    /// Inside a YARN container, as `user`: tokens authenticate every connection.
    Container { user: String },
    /// On an edge node: SIMPLE as `user` on an insecure cluster; on a Kerberos one the
    /// ticket cache, or `keytab` = (principal, keytab file) when given.
    Client {
        user: String,
        keytab: Option<(String, PathBuf)>,
    },
}

impl Cluster {
    /// Loads the site files of `conf_dirs` (from `HADOOP_CONF_DIR` / `YARN_CONF_DIR`, as
    /// the binary found them) and logs in as `login` says.
    pub fn load(conf_dirs: Vec<PathBuf>, login: Login) -> Result<Cluster, String> {
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
        let identity = match login {
            Login::Container { user } => Identity::simple(user),
            Login::Client { user, keytab } => {
                if !conf.is_kerberos() {
                    Identity::simple(user)
                } else {
                    Identity::kerberos(match keytab {
                        None => KerberosLogin::from_ticket_cache()?,
                        Some((principal, file)) => KerberosLogin::from_keytab(&principal, &file)?,
                    })
                }
            }
        };
        Ok(Cluster {
            conf,
            conf_dirs,
            identity,
        })
    }

    /// On a Kerberos cluster, the tokens the application's containers need, by alias:
    /// an HDFS delegation token from the default filesystem's NameNode and from each of
    /// `others` (`host:port`), which the ResourceManager renews for the application's life
    /// (its renewer is `yarn.resourcemanager.principal`). Empty on an insecure cluster.
    pub async fn delegation_tokens(
        &self,
        others: &[String],
    ) -> Result<BTreeMap<String, Token>, String> {
        if self.identity.kerberos.is_none() {
            return Ok(BTreeMap::new());
        }
        let renewer = self
            .conf
            .get("yarn.resourcemanager.principal")
            .ok_or("yarn.resourcemanager.principal is not set: the ResourceManager renews the job's tokens")?;
        let rm_host = self
            .conf
            .rm_addresses()
            .first()
            .and_then(|a| a.rsplit_once(':').map(|(h, _)| h.to_string()))
            .unwrap_or_default();
        let renewer = renewer.replace("_HOST", &rm_host);
        let mut tokens = BTreeMap::new();
        for authority in self.namenodes(others)? {
            tokens.extend(self.delegation_token(&authority, &renewer).await?);
        }
        Ok(tokens)
    }

    /// `host:port` of the default filesystem's NameNode, then each of `others` not
    /// named already.
    pub fn namenodes(&self, others: &[String]) -> Result<Vec<String>, String> {
        let mut all = vec![self.namenode_authority()?];
        for other in others {
            if !all.contains(other) {
                all.push(other.clone());
            }
        }
        Ok(all)
    }

    /// The NameNode's `host:port` from fs.defaultFS, which a Kerberos cluster needs.
    fn namenode_authority(&self) -> Result<String, String> {
        let default_fs = self
            .conf
            .get("fs.defaultFS")
            .ok_or("fs.defaultFS is not set in HADOOP_CONF_DIR")?;
        let authority = default_fs
            .strip_prefix("hdfs://")
            .map(|rest| rest.split('/').next().unwrap_or(""))
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                format!("fs.defaultFS={default_fs}: a Kerberos cluster needs an hdfs:// default filesystem")
            })?;
        if !authority.contains(':') {
            return Err(format!(
                "fs.defaultFS={default_fs}: delegation tokens for an HA nameservice are not supported yet; \
                 name the active NameNode's host:port"
            ));
        }
        Ok(authority.to_string())
    }

    /// An HDFS delegation token from the NameNode at `authority` that `renewer` may
    /// renew, under the aliases clients look it up by.
    pub async fn delegation_token(
        &self,
        authority: &str,
        renewer: &str,
    ) -> Result<BTreeMap<String, Token>, String> {
        let nn = NameNodeClient::connect_as(authority, &self.identity, &self.conf)
            .await
            .map_err(|e| format!("cannot reach the NameNode at {authority}: {e}"))?;
        let token = nn
            .get_delegation_token(renewer, authority)
            .await
            .map_err(|e| format!("cannot get an HDFS delegation token from {authority}: {e}"))?;
        // Java clients (the NodeManager fetching the containers' files, the RM renewing)
        // look the token up by `ip:port`, hdfs-native by the name in fs.defaultFS: the
        // one token goes under both.
        let mut tokens = BTreeMap::from([(authority.to_string(), token.clone())]);
        if let Some(ip_service) = ip_service(authority) {
            tokens.insert(
                ip_service.clone(),
                Token {
                    service: ip_service,
                    ..token
                },
            );
        }
        Ok(tokens)
    }

    /// Renews `token`, which the NameNode at `authority` issued and whose renewer must
    /// be this process's user: when it now expires, in ms since the epoch.
    pub async fn renew(&self, authority: &str, token: &Token) -> Result<i64, String> {
        let nn = NameNodeClient::connect_as(authority, &self.identity, &self.conf)
            .await
            .map_err(|e| format!("cannot reach the NameNode at {authority}: {e}"))?;
        let expiry = nn
            .renew_delegation_token(token)
            .await
            .map_err(|e| format!("cannot renew the HDFS delegation token of {authority}: {e}"))?;
        Ok(expiry as i64)
    }

    pub async fn resource_manager(&self) -> Result<ApplicationClient, String> {
        ApplicationClient::from_config(&self.conf, &self.identity)
            .await
            .map_err(|e| {
                format!(
                    "cannot reach the ResourceManager at {}: {e}",
                    self.conf.rm_addresses().join(", ")
                )
            })
    }
}

/// `ip:port` for `host:port`, as Hadoop names token services
/// (`hadoop.security.token.service.use_ip`); `None` when it is that already or the
/// name does not resolve.
fn ip_service(authority: &str) -> Option<String> {
    use std::net::ToSocketAddrs;
    let addr = authority.to_socket_addrs().ok()?.find(|a| a.is_ipv4())?;
    let service = addr.to_string();
    (service != authority).then_some(service)
}

#[cfg(test)]
mod tests {
    use super::ip_service;

    #[test]
    fn token_services_name_the_address() {
        assert_eq!(
            ip_service("localhost:8020").as_deref(),
            Some("127.0.0.1:8020")
        );
        assert_eq!(ip_service("127.0.0.1:8020"), None);
        assert_eq!(ip_service("no-such-host.invalid:8020"), None);
    }
}
