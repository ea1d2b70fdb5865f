//! Submitting on another user's behalf (a proxy user): `submit --proxy-user`, or a
//! services spec's `user` (Skein's). The login acts as that user, so the application,
//! its staging directory and its tokens are that user's. The ResourceManager and the
//! NameNode allow it only as their `hadoop.proxyuser.<login>.hosts|groups|users` say.

use spindle_appmaster::yarn::cluster::Cluster;

/// The cluster as the environment describes it, acting as `user` when one is given
/// (`--proxy-user` first, then the spec's `user`), for a submit: refused with a keytab,
/// which the master would be given.
pub(super) fn cluster_acting_as(flag: Option<&str>, spec: Option<&str>) -> Result<Cluster, String> {
    let cluster = cluster_acting_for(flag.or(spec))?;
    if let (Some(real), true) = (&cluster.identity.real_user, super::has_keytab()) {
        return Err(format!(
            "acting as {user} (--proxy-user or the spec's `user`) cannot be combined with \
             --keytab: the master would get the keytab of {real}, whom {user} must not become",
            user = cluster.identity.user
        ));
    }
    Ok(cluster)
}

/// The cluster as the environment describes it, acting as `user` when one is given, for
/// a command that hands no credentials on (`clean`): any login may act for another.
pub(super) fn cluster_acting_for(user: Option<&str>) -> Result<Cluster, String> {
    let mut cluster = super::cluster_from_env()?;
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        cluster.identity = cluster.identity.clone().acting_as(user);
    }
    Ok(cluster)
}

/// Says which settings decide when the cluster refused to let the login act as another.
pub(super) fn refusal_hint(cluster: &Cluster, error: String) -> String {
    match &cluster.identity.real_user {
        Some(real) if error.contains("impersonate") => format!(
            "{error}\n({real} acting as {}: the cluster's hadoop.proxyuser.{real}.hosts and \
             .groups or .users must allow it)",
            cluster.identity.user
        ),
        _ => error,
    }
}
