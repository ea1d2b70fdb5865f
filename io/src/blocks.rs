//! Where HDFS keeps each block of the input, asked of the NameNode once per file, so a
//! split can name the hosts that hold its bytes. Locality is an optimisation: when the
//! NameNode cannot be asked (HA addresses unknown, Kerberos), splits simply have no
//! preferred hosts and the job runs anyway.

use crate::client_env::{self, ClientEnv};
use crate::storage::FileInfo;
use spindle_hadoop::config::Configuration;
use spindle_hadoop::credentials::{Credentials, Token};
use spindle_hadoop::hdfs::{BlockLocation, NameNodeClient, DELEGATION_TOKEN_KIND};
use spindle_hadoop::sasl::gssapi::KerberosLogin;
use spindle_hadoop::user::Identity;
use spindle_hadoop::Error;
use std::collections::HashMap;
use tracing::warn;

/// Blocks of each HDFS file in `files`, by URL; other files are absent.
pub async fn hdfs_blocks(files: &[FileInfo]) -> HashMap<String, Vec<BlockLocation>> {
    let mut out = HashMap::new();
    let mut clients: HashMap<String, Option<NameNodeClient>> = HashMap::new();
    for file in files {
        let Some((authority, path)) = split_hdfs_url(&file.url) else {
            continue;
        };
        if !clients.contains_key(authority) {
            clients.insert(authority.to_string(), connect(authority).await);
        }
        let Some(nn) = clients[authority].as_ref() else {
            continue;
        };
        let located = nn.get_block_locations(path, 0, file.size).await;
        match located {
            Ok(blocks) => {
                out.insert(file.url.clone(), blocks);
            }
            // A NameNode that timed out or hung up is not asked again: each call waits
            // up to the RPC timeout, and the job can run without locality.
            Err(
                e @ (Error::Timeout { .. } | Error::Io { .. } | Error::ConnectionClosed { .. }),
            ) => {
                warn!(namenode = %authority, error = %e, "no block locations from it; no locality for its files");
                clients.insert(authority.to_string(), None);
            }
            Err(e) => warn!(file = %file.url, error = %e, "no block locations; no locality for it"),
        }
    }
    out
}

/// Hosts of the block holding byte `offset`.
pub fn hosts_at(blocks: &[BlockLocation], offset: u64) -> Vec<String> {
    blocks
        .iter()
        .find(|b| b.offset <= offset && offset < b.offset + b.length.max(1))
        .map(|b| b.hosts.clone())
        .unwrap_or_default()
}

/// `n` split in proportion to `weights`: whole parts of the exact quotas first, then one
/// more each to the largest remainders (ties to the earlier weight); evenly when every
/// weight is zero.
pub fn apportion(n: u64, weights: &[u64]) -> Vec<u64> {
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    let exact: Vec<(u64, u128)> = weights
        .iter()
        .map(|&w| {
            let q = u128::from(n) * u128::from(w);
            ((q / total) as u64, q % total)
        })
        .collect();
    let mut parts: Vec<u64> = exact.iter().map(|(whole, _)| *whole).collect();
    let left = n - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    // Fewer than one each, unless every weight is zero: then evenly.
    for (&i, _) in order.iter().cycle().zip(0..left) {
        parts[i] += 1;
    }
    parts
}

/// `hdfs://authority/path` → (authority, `/path`).
pub fn split_hdfs_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("hdfs://")?;
    let slash = rest.find('/')?;
    Some((&rest[..slash], &rest[slash..]))
}

/// The NameNode RPC addresses behind an authority: `host:port` itself, the default
/// filesystem for an empty one, or an HA nameservice's NameNodes.
fn namenode_addrs(authority: &str, conf: &Configuration) -> Vec<String> {
    if authority.is_empty() {
        let default_fs = conf.get("fs.defaultFS").unwrap_or_default();
        return match default_fs.strip_prefix("hdfs://") {
            Some(a) if !a.trim_end_matches('/').is_empty() => {
                namenode_addrs(a.trim_end_matches('/'), conf)
            }
            _ => Vec::new(),
        };
    }
    if authority.contains(':') {
        return vec![authority.to_string()];
    }
    let ids = conf.get_list(&format!("dfs.ha.namenodes.{authority}"));
    if ids.is_empty() {
        return vec![format!("{authority}:8020")];
    }
    ids.iter()
        .filter_map(|id| conf.get(&format!("dfs.namenode.rpc-address.{authority}.{id}")))
        .collect()
}

async fn connect(authority: &str) -> Option<NameNodeClient> {
    let env = client_env::installed();
    let dirs = Configuration::conf_dirs(env.hadoop_conf_dir.as_deref(), None);
    let conf = Configuration::load(&dirs).unwrap_or_default();
    let auth = NameNodeAuth::of(&conf, env);
    for addr in namenode_addrs(authority, &conf) {
        let connected = match &auth {
            NameNodeAuth::As(who) => NameNodeClient::connect_as(&addr, who, &conf).await,
            NameNodeAuth::Token(token) => {
                NameNodeClient::connect_with_token(&addr, token, &conf).await
            }
        };
        match connected {
            // A standby answers calls with StandbyException; the first call tells.
            Ok(nn) if nn.get_file_info("/").await.is_ok() => return Some(nn),
            Ok(_) => {}
            Err(e) => warn!(namenode = %addr, error = %e, "cannot reach the NameNode"),
        }
    }
    None
}

/// How block lookups authenticate: SIMPLE on an insecure cluster; on a Kerberos one the
/// container's HDFS delegation token, else (on an edge node) the ticket cache.
enum NameNodeAuth {
    As(Identity),
    Token(Token),
}

impl NameNodeAuth {
    fn of(conf: &Configuration, env: &ClientEnv) -> NameNodeAuth {
        let user = env.simple_user.clone();
        if !conf.is_kerberos() {
            return NameNodeAuth::As(Identity::simple(user));
        }
        let token = env
            .token_file
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|data| Credentials::read(&data).ok())
            .and_then(|c| c.token_by_kind(DELEGATION_TOKEN_KIND).cloned());
        if let Some(token) = token {
            return NameNodeAuth::Token(token);
        }
        match KerberosLogin::from_ticket_cache() {
            Ok(login) => NameNodeAuth::As(Identity::kerberos(login)),
            Err(e) => {
                warn!(error = %e, "no Kerberos login for block locations");
                NameNodeAuth::As(Identity::simple(user))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(offset: u64, length: u64, host: &str) -> BlockLocation {
        BlockLocation {
            offset,
            length,
            hosts: vec![host.into()],
            racks: vec!["/default-rack".into()],
            corrupt: false,
        }
    }

    #[test]
    fn a_split_takes_the_hosts_of_the_block_at_its_start() {
        let blocks = [block(0, 100, "a"), block(100, 100, "b")];
        assert_eq!(hosts_at(&blocks, 0), ["a"]);
        assert_eq!(hosts_at(&blocks, 99), ["a"]);
        assert_eq!(hosts_at(&blocks, 100), ["b"]);
        assert!(hosts_at(&blocks, 200).is_empty());
    }

    #[test]
    fn namenode_addresses_from_urls_and_ha_config() {
        let mut conf = Configuration::new();
        conf.set("fs.defaultFS", "hdfs://ns1");
        conf.set("dfs.ha.namenodes.ns1", "nn1,nn2");
        conf.set("dfs.namenode.rpc-address.ns1.nn1", "a:8020");
        conf.set("dfs.namenode.rpc-address.ns1.nn2", "b:8020");
        assert_eq!(namenode_addrs("h:9000", &conf), ["h:9000"]);
        assert_eq!(namenode_addrs("", &conf), ["a:8020", "b:8020"]);
        assert_eq!(namenode_addrs("plain", &conf), ["plain:8020"]);
        assert_eq!(split_hdfs_url("hdfs:///x/y"), Some(("", "/x/y")));
        assert_eq!(split_hdfs_url("hdfs://nn:1/x"), Some(("nn:1", "/x")));
    }
}
