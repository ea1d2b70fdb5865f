//! Fresh delegation tokens for an application that outlives them, the way Spark does it.
//!
//! `spindle submit --principal P --keytab F` hands the keytab to the master alone, as a
//! secret in its container credentials (YARN writes them to the container's private
//! directory; no other container gets them). The master logs in from it and, when three
//! quarters of the current HDFS token's usable life has gone, obtains one whose renewer is
//! its own user and renews it once to learn when it expires. A fresh token goes to the
//! master's own credentials file (its HDFS clients read it), to every container launched
//! from then on, and to running workers, which replace their credentials file.

use super::cluster::Cluster;
use crate::kv::client::KvClient;
use crate::kv::store::{KeyRange, Txn};
use spindle_hadoop::config::Configuration;
use spindle_hadoop::credentials::{Credentials, CredentialsFormat, Token};
use spindle_hadoop::hdfs::DELEGATION_TOKEN_KIND;
use spindle_hadoop::sasl::gssapi::KerberosLogin;
use spindle_hadoop::user::Identity;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Where a services application's master puts fresh tokens (a Credentials file) for its
/// containers, which follow the key when their environment has [`FRESH_TOKENS_ENV`].
pub const TOKENS_KEY: &str = "spindle.tokens";
pub const FRESH_TOKENS_ENV: &str = "SPINDLE_FRESH_TOKENS";
/// The alias of the keytab among the master's container secrets.
pub const KEYTAB_SECRET: &str = "spindle.keytab";
/// Never fetch more often than this, however close the expiry.
const FLOOR: Duration = Duration::from_secs(5);
/// hdfs-native passes over a token within a minute of its max date, so a token is only
/// good until this long before it expires.
const USABLE_MARGIN_MS: i64 = 60_000;
/// After a failed attempt, the wait doubles up to this.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Who the master logs in as, and from which keytab file.
#[derive(Debug, Clone)]
pub struct KeytabLogin {
    pub principal: String,
    pub keytab: PathBuf,
}

/// The keytab the client handed over among the master's secrets, written to a new file
/// in `dir` (the container's own directory) that only this user can read; `None` when
/// the client gave none.
pub fn keytab_from(
    creds: &Credentials,
    principal: Option<&str>,
    dir: &Path,
) -> Result<Option<KeytabLogin>, String> {
    let (Some(principal), Some(bytes)) = (principal, creds.secrets.get(KEYTAB_SECRET)) else {
        return Ok(None);
    };
    let keytab = dir.join(".spindle-keytab");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&keytab)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot write the keytab to {}: {e}", keytab.display()))?;
    Ok(Some(KeytabLogin {
        principal: principal.to_string(),
        keytab,
    }))
}

/// Puts `fresh` into the Credentials file at `path` in place of the tokens under the
/// same aliases, through a temporary file and a rename.
pub fn refresh_file(path: &str, fresh: &BTreeMap<String, Token>) -> Result<(), String> {
    let mut creds = super::launch::read_credentials(path)?;
    creds.tokens.extend(fresh.clone());
    replace_file(path, &creds.write(CredentialsFormat::Writable))
        .map_err(|e| format!("{path}: {e}"))
}

/// Writes `data` to `path` (owner-only: it holds credentials) through a temporary file
/// beside it and a rename, so a kill leaves either the old file or the new one. What
/// lies at the temporary name (a file a kill left, or a link someone planted) is
/// removed, never written through; a link at `path` is replaced, not followed.
pub fn replace_file(path: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = format!("{path}.spindle-tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Fresh tokens by alias, and when they stop working (ms since the epoch).
pub struct Fresh {
    pub tokens: BTreeMap<String, Token>,
    pub expires_ms: i64,
}

/// How long to wait before fetching tokens that expire at `expires_ms`: three quarters
/// of what is left of their usable life, never less than [`FLOOR`].
pub fn refresh_in(now_ms: i64, expires_ms: i64) -> Duration {
    let usable = expires_ms.saturating_sub(USABLE_MARGIN_MS);
    let left = u64::try_from(usable.saturating_sub(now_ms)).unwrap_or(0);
    Duration::from_millis(left / 4 * 3).max(FLOOR)
}

/// When the submitted HDFS delegation tokens stop working: the earliest max date among
/// them (the ResourceManager renews them until then). `None` if there are none.
pub fn submitted_expiry(tokens: &BTreeMap<String, Token>) -> Option<i64> {
    tokens
        .values()
        .filter(|t| t.kind == DELEGATION_TOKEN_KIND)
        .filter_map(|t| t.dates().ok())
        .map(|d| d.max_ms)
        .min()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Logs in from the keytab (a new ticket each time, so its own lifetime never matters)
/// and obtains fresh tokens from the default filesystem and from `others` (`host:port`
/// of their NameNodes).
pub async fn obtain(
    conf: &Configuration,
    conf_dirs: &[PathBuf],
    others: &[String],
    login: &KeytabLogin,
) -> Result<Fresh, String> {
    // The KDC exchange blocks: off the runtime's threads.
    let (principal, keytab) = (login.principal.clone(), login.keytab.clone());
    let kerberos =
        tokio::task::spawn_blocking(move || KerberosLogin::from_keytab(&principal, &keytab))
            .await
            .map_err(|e| format!("keytab login: {e}"))??;
    let cluster = Cluster {
        conf: conf.clone(),
        conf_dirs: conf_dirs.to_vec(),
        identity: Identity::kerberos(kerberos),
    };
    let renewer = cluster.identity.user.clone();
    let mut tokens = BTreeMap::new();
    let mut expires_ms = i64::MAX;
    for authority in cluster.namenodes(others)? {
        let got = cluster.delegation_token(&authority, &renewer).await?;
        let token = got
            .get(&authority)
            .ok_or_else(|| format!("the NameNode at {authority} issued no delegation token"))?;
        let renewed = cluster.renew(&authority, token).await?;
        let max = token.dates().map(|d| d.max_ms).unwrap_or(renewed);
        expires_ms = expires_ms.min(renewed.min(max));
        tokens.extend(got);
    }
    Ok(Fresh { tokens, expires_ms })
}

/// Obtains fresh tokens before `expires_ms`, and again before those expire, for as long
/// as it runs, handing each set to `publish`. A failed attempt is retried with a
/// doubling wait.
pub async fn keep_fresh(
    conf: Configuration,
    conf_dirs: Vec<PathBuf>,
    others: Vec<String>,
    login: KeytabLogin,
    mut expires_ms: i64,
    publish: impl Fn(&BTreeMap<String, Token>),
) {
    let mut retry = FLOOR;
    let mut wait = refresh_in(now_ms(), expires_ms);
    loop {
        info!(
            in_s = wait.as_secs(),
            "next fresh delegation tokens from the keytab of {}", login.principal
        );
        tokio::time::sleep(wait).await;
        match obtain(&conf, &conf_dirs, &others, &login).await {
            Ok(fresh) => {
                publish(&fresh.tokens);
                expires_ms = fresh.expires_ms;
                info!(
                    expires_in_s = (expires_ms - now_ms()) / 1000,
                    "fresh delegation tokens handed out"
                );
                retry = FLOOR;
                wait = refresh_in(now_ms(), expires_ms);
            }
            Err(e) => {
                warn!(error = %e, retry_s = retry.as_secs(), "cannot obtain fresh delegation tokens");
                wait = retry.max(refresh_in(now_ms(), expires_ms));
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Keeps the Credentials file at `path` up to date with [`TOKENS_KEY`] in the store at
/// `kv`, for as long as it runs; a lost store is sought again with a doubling wait.
pub async fn follow_tokens(kv: &str, secret: &str, path: &str) {
    let mut retry = Duration::from_secs(1);
    loop {
        if let Err(e) = follow_tokens_once(kv, secret, path).await {
            warn!(error = %e, retry_s = retry.as_secs(), "cannot follow fresh tokens");
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(30));
    }
}

async fn follow_tokens_once(kv: &str, secret: &str, path: &str) -> Result<(), String> {
    let key = KeyRange::Key(TOKENS_KEY.into());
    let mut client = KvClient::connect(kv, secret).await?;
    let now = client.txn(Txn::ops(vec![])).await?.revision;
    if let Some((_, entry)) = client.get(key.clone()).await?.into_iter().next() {
        put_in_place(path, &entry.value);
    }
    let mut watch = client.watch(key, now).await?;
    loop {
        for event in watch.events(Duration::from_secs(24 * 3600)).await? {
            if let Some((credentials, _)) = event.put {
                put_in_place(path, &credentials);
            }
        }
    }
}

/// Replaces a container's Credentials file at `path` with fresh tokens (HDFS clients
/// read the file when they connect).
pub fn put_in_place(path: &str, credentials: &[u8]) {
    match replace_file(path, credentials) {
        Ok(()) => info!(%path, "fresh delegation tokens in place"),
        Err(e) => warn!(%path, error = %e, "cannot put fresh delegation tokens in place"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn replacing_a_file_never_writes_through_a_link_or_a_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("container_tokens");
        let path_s = path.to_str().unwrap();
        let tmp = format!("{path_s}.spindle-tmp");

        // A link planted at the temporary name goes; its target stays as it was.
        symlink(&victim, &tmp).unwrap();
        super::replace_file(path_s, b"one").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert!(std::fs::symlink_metadata(&tmp).is_err(), "the link is gone");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // A temporary file a kill left behind is replaced.
        std::fs::write(&tmp, b"half").unwrap();
        super::replace_file(path_s, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");

        // A link at the path itself is replaced by the file, not followed.
        std::fs::remove_file(&path).unwrap();
        symlink(&victim, &path).unwrap();
        super::replace_file(path_s, b"three").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());

        // A directory at the temporary name is left alone, and the call fails.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(format!("{}.spindle-tmp", blocked.display())).unwrap();
        assert!(super::replace_file(blocked.to_str().unwrap(), b"x").is_err());
        assert!(!blocked.exists());
    }

    use super::*;

    #[test]
    fn tokens_are_fetched_three_quarters_of_the_way_to_expiry_and_never_in_a_spin() {
        // A token is usable until a minute before it expires.
        assert_eq!(refresh_in(0, 100_000), Duration::from_secs(30));
        assert_eq!(refresh_in(10_000, 110_000), Duration::from_secs(30));
        let day = 24 * 3600 * 1000;
        assert_eq!(refresh_in(0, day + 60_000), Duration::from_secs(18 * 3600));
        // Close to expiry, or past it: the floor.
        assert_eq!(refresh_in(0, 62_000), FLOOR);
        assert_eq!(refresh_in(50_000, 40_000), FLOOR);
        let far = Duration::from_millis(i64::MAX as u64 / 4 * 3);
        assert_eq!(refresh_in(i64::MIN, i64::MAX), far, "no overflow");
    }

    #[test]
    fn submitted_tokens_expire_at_their_earliest_max_date() {
        let token = |max: i64| {
            let mut id = vec![0u8, 0, 0, 0]; // version, empty owner, renewer, real user
            for v in [1_000i64, max] {
                // Hadoop's vlong for values past one byte: -(112 + n) then n big-endian bytes.
                id.push((-(112 + 8)) as i8 as u8);
                id.extend_from_slice(&v.to_be_bytes());
            }
            Token {
                identifier: id,
                password: vec![],
                kind: "HDFS_DELEGATION_TOKEN".into(),
                service: "nn:8020".into(),
            }
        };
        let other_kind = Token {
            kind: "TIMELINE_DELEGATION_TOKEN".into(),
            ..token(1_000)
        };
        let tokens = BTreeMap::from([
            ("a".to_string(), token(90_000)),
            ("b".to_string(), token(60_000)),
            ("c".to_string(), other_kind),
        ]);
        assert_eq!(submitted_expiry(&tokens), Some(60_000), "HDFS tokens only");
        let opaque = Token {
            identifier: vec![9],
            ..token(1)
        };
        assert_eq!(
            submitted_expiry(&BTreeMap::from([("x".to_string(), opaque)])),
            None
        );
    }
}
