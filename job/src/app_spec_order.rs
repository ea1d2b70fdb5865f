//! The order services start in, and the cycle that prevents one.

use super::ServiceSpec;
use std::collections::{BTreeMap, BTreeSet};

/// Dependencies first, ties by name. Services caught in a cycle (which `from_yaml`
/// refuses) come last, by name.
pub(super) fn service_order(services: &BTreeMap<String, ServiceSpec>) -> Vec<&str> {
    let (mut order, stuck) = layers(services);
    order.extend(stuck.keys());
    order
}

/// A cycle of dependencies, starting and ending at its first service by name:
/// `["a", "b", "a"]`.
pub(super) fn find_cycle(services: &BTreeMap<String, ServiceSpec>) -> Option<Vec<&str>> {
    let (_, stuck) = layers(services);
    // Each stuck service waits on another stuck one, so following those edges from any of
    // them must come back round.
    let mut walk: Vec<&str> = vec![stuck.keys().next()?];
    loop {
        let last = walk[walk.len() - 1];
        let next = *stuck[last].first()?;
        if let Some(start) = walk.iter().position(|&n| n == next) {
            let mut cycle = walk.split_off(start);
            let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
            cycle.rotate_left(first);
            cycle.push(cycle[0]);
            return Some(cycle);
        }
        walk.push(next);
    }
}

/// Kahn's algorithm: the services that can start in order, and those left waiting with
/// the dependencies they still wait for.
fn layers(services: &BTreeMap<String, ServiceSpec>) -> (Vec<&str>, BTreeMap<&str, BTreeSet<&str>>) {
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = services
        .iter()
        .map(|(name, s)| {
            let deps = s.depends.iter().map(String::as_str);
            (
                name.as_str(),
                deps.filter(|d| services.contains_key(*d)).collect(),
            )
        })
        .collect();
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, deps)| deps.is_empty())
        .map(|(name, _)| *name)
        .collect();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&name, deps) in &waiting {
        for &dep in deps {
            dependents.entry(dep).or_default().push(name);
        }
    }
    let mut order = Vec::with_capacity(services.len());
    while let Some(name) = ready.pop_first() {
        waiting.remove(name);
        order.push(name);
        for &other in dependents.get(name).into_iter().flatten() {
            if let Some(deps) = waiting.get_mut(other) {
                if deps.remove(name) && deps.is_empty() {
                    ready.insert(other);
                }
            }
        }
    }
    (order, waiting)
}
