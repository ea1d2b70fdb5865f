//! What the master asks the ResourceManager for, per kind of container: how many at
//! which hosts, racks and `*`, in proportion to where the input's bytes are, as
//! `ResourceRequest`s for the next heartbeat.

use spindle_hadoop::yarn::{Resource, ResourceRequest};
use spindle_io::blocks::apportion;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// One kind of container: asked for at its own priority, so that grants can be told
/// apart (the ETL job has one kind, an application one per service).
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub resource: Resource,
    /// Hosts and racks to ask at. Schedulers hand out at most one off-switch (`*`)
    /// container per node heartbeat, but many node-local ones, so naming the nodes
    /// gets N workers in one heartbeat instead of N.
    pub hosts: Vec<String>,
    pub racks: Vec<String>,
    /// Whether the scheduler may place the container away from `hosts` and `racks`.
    pub relax_locality: bool,
    /// Host to rack, where known: with `host_bytes`, each rack is asked for what its
    /// hosts are, as Hadoop's AMRMClient sums a rack's requests.
    pub host_racks: HashMap<String, String>,
    /// Where the input's bytes are, set by [`Ask::near`]: when known, containers are
    /// asked for at these hosts in proportion (instead of all of them at every host in
    /// `hosts`).
    pub host_bytes: Vec<(String, u64)>,
    /// Until then, containers asked for near the data come from the named hosts only:
    /// on a small cluster the scheduler would otherwise give up on node locality after
    /// a few node heartbeats and hand every container to the first node that beats.
    pub node_local_until: Option<Instant>,
    /// The node label (YARN partition) the containers must run under, if any.
    pub node_label: Option<String>,
}

/// How long the first asks near the data stay node-local: a few NodeManager heartbeats
/// (a second apart by default), so an idle data host answers, and a busy one costs
/// no more than this.
pub const NODE_LOCAL_ASKS_FOR: Duration = Duration::from_secs(3);

/// Hosts named in one ask at most: past this, the hosts holding the most bytes (the rest
/// of the containers come from the racks and `*`).
pub const MAX_ASKED_HOSTS: usize = 200;

impl Ask {
    /// Points the asks at the input's bytes per host, kept for the hosts that run a
    /// NodeManager (data on others is reached from their racks or anywhere), most bytes
    /// first, at most [`MAX_ASKED_HOSTS`]: done once, not at every heartbeat.
    pub fn near(&mut self, mut host_bytes: Vec<(String, u64)>) {
        host_bytes.retain(|(h, _)| self.hosts.is_empty() || self.hosts.contains(h));
        host_bytes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        host_bytes.truncate(MAX_ASKED_HOSTS);
        self.host_bytes = host_bytes;
    }

    /// How many of `count` more containers to ask for at each host. With the data's
    /// whereabouts known: all the containers (those `held` and the `count` wanted) are
    /// shared out in proportion to the hosts' bytes (largest remainders), and each
    /// host is asked for its share minus what it holds, so the grants of one round do
    /// not pull the next round to the same hosts; hosts with nothing more to get are
    /// still named, with zero, which cancels their earlier asks. Otherwise all of them
    /// at every host named.
    fn per_host(&self, count: i32, held: &HashMap<String, i32>) -> Vec<(String, i32)> {
        if self.host_bytes.is_empty() {
            return self.hosts.iter().map(|h| (h.clone(), count)).collect();
        }
        let count = count.max(0);
        let all = (count + held.values().sum::<i32>()) as u64;
        let bytes: Vec<u64> = self.host_bytes.iter().map(|(_, b)| *b).collect();
        self.host_bytes
            .iter()
            .zip(apportion(all, &bytes))
            .map(|((h, _), share)| {
                let more = share as i32 - held.get(h).copied().unwrap_or(0);
                (h.clone(), more.clamp(0, count))
            })
            .collect()
    }

    /// How many containers to ask for at each of `racks`: the sum of its hosts' asks
    /// when the data's whereabouts and the racks of its hosts are known (racks holding
    /// none of it get none: those containers come from `*`); else `count` at each.
    fn per_rack(&self, per_host: &[(String, i32)], count: i32) -> Vec<i32> {
        let known = !self.host_bytes.is_empty()
            && self
                .host_bytes
                .iter()
                .all(|(h, _)| self.host_racks.contains_key(h));
        self.racks
            .iter()
            .map(|rack| {
                if !known {
                    return count;
                }
                per_host
                    .iter()
                    .filter(|(h, _)| self.host_racks.get(h) == Some(rack))
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect()
    }

    /// Whether asks at `now` stay on the named hosts: while `node_local_until` lasts, and
    /// only if those hosts are asked for all `count` containers between them.
    fn node_local_at(&self, now: Instant, per_host: &[(String, i32)], count: i32) -> bool {
        let named: i32 = per_host.iter().map(|(_, n)| n).sum();
        self.node_local_until.is_some_and(|t| now < t) && count > 0 && named >= count
    }

    /// The requests for `count` more containers, given those `held` per host: at the
    /// named hosts, their racks and `*`.
    /// Without relaxed locality, only the most specific level named is binding (YARN's
    /// rule: the less specific levels say `relax_locality: false`).
    pub(super) fn requests(
        &self,
        priority: i32,
        count: i32,
        held: &HashMap<String, i32>,
        now: Instant,
    ) -> Vec<ResourceRequest> {
        let per_host = self.per_host(count, held);
        let relax_locality = self.relax_locality && !self.node_local_at(now, &per_host, count);
        let strict_racks = !relax_locality && !self.hosts.is_empty();
        let named = per_host.iter().map(|(h, n)| (h, true, *n));
        let per_rack = self.per_rack(&per_host, count);
        let racks = self
            .racks
            .iter()
            .zip(per_rack)
            .map(|(r, n)| (r, !strict_racks, n));
        let any = "*".to_string();
        named
            .chain(racks)
            .chain([(
                &any,
                relax_locality || self.hosts.is_empty() && self.racks.is_empty(),
                count,
            )])
            .map(|(name, relax, n)| ResourceRequest {
                priority,
                resource_name: name.clone(),
                capability: self.resource,
                num_containers: n,
                relax_locality: relax,
                node_label: self.node_label.clone().filter(|_| *name == any),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "ask_tests.rs"]
mod tests;
