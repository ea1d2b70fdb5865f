use super::*;

fn ask(hosts: &[&str], host_bytes: &[(&str, u64)]) -> Ask {
    Ask {
        resource: Resource {
            memory_mb: 1024,
            vcores: 1,
        },
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        racks: vec!["/default-rack".into()],
        relax_locality: true,
        host_bytes: host_bytes
            .iter()
            .map(|(h, b)| (h.to_string(), *b))
            .collect(),
    }
}

fn counts(requests: &[ResourceRequest]) -> Vec<(&str, i32, bool)> {
    requests
        .iter()
        .map(|r| (r.resource_name.as_str(), r.num_containers, r.relax_locality))
        .collect()
}

#[test]
fn without_data_every_running_host_is_asked_for_all() {
    let r = ask(&["a", "b"], &[]).requests(1, 4);
    assert_eq!(
        counts(&r),
        [
            ("a", 4, true),
            ("b", 4, true),
            ("/default-rack", 4, true),
            ("*", 4, true)
        ]
    );
}

#[test]
fn with_data_hosts_are_asked_in_proportion_to_their_bytes() {
    // 6 of 10 bytes on a, 3 on b, 1 on c; hosts without data are not named.
    let a = ask(
        &["a", "b", "c", "idle"],
        &[("b", 300), ("a", 600), ("c", 100)],
    );
    let r = a.requests(1, 10);
    assert_eq!(
        counts(&r),
        [
            ("a", 6, true),
            ("b", 3, true),
            ("c", 1, true),
            ("/default-rack", 10, true),
            ("*", 10, true)
        ]
    );
    // Every data host gets at least one, none more than asked for.
    let r = a.requests(1, 2);
    assert_eq!(
        counts(&r)[..3],
        [("a", 2, true), ("b", 1, true), ("c", 1, true)]
    );
    // Nothing wanted: every level says zero, which cancels the earlier asks.
    assert!(a.requests(1, 0).iter().all(|r| r.num_containers == 0));
}

#[test]
fn asks_name_at_most_the_hosts_holding_the_most_bytes() {
    let many: Vec<(String, u64)> = (0..500)
        .map(|i| (format!("h{i:03}"), i as u64 + 1))
        .collect();
    let mut a = ask(&[], &[]);
    a.host_bytes = many;
    let r = a.requests(1, 50);
    let named: Vec<&str> = r
        .iter()
        .map(|r| r.resource_name.as_str())
        .filter(|n| n.starts_with('h'))
        .collect();
    assert_eq!(named.len(), MAX_ASKED_HOSTS);
    assert_eq!(named[0], "h499", "most bytes first");
    assert!(!named.contains(&"h000"));
}

#[test]
fn data_on_hosts_without_a_node_manager_is_asked_for_elsewhere() {
    // The data is on DataNode-only hosts: ask as if it were unknown.
    let a = ask(&["a", "b"], &[("dn1", 500), ("dn2", 100)]);
    assert_eq!(
        counts(&a.requests(1, 3))[..2],
        [("a", 3, true), ("b", 3, true)]
    );
    // Partly: only the running host with data is named.
    let a = ask(&["a", "b"], &[("dn1", 500), ("b", 100)]);
    let r = a.requests(1, 3);
    assert_eq!(counts(&r)[0], ("b", 3, true));
    assert!(r
        .iter()
        .all(|r| r.resource_name != "a" && r.resource_name != "dn1"));
}
