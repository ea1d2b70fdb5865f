use super::*;

fn ask(hosts: &[&str], host_bytes: &[(&str, u64)]) -> Ask {
    let mut a = Ask {
        resource: Resource {
            memory_mb: 1024,
            vcores: 1,
            gpus: 0,
        },
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        racks: vec!["/default-rack".into()],
        relax_locality: true,
        host_racks: HashMap::new(),
        host_bytes: Vec::new(),
        node_local_until: None,
        node_label: None,
    };
    a.near(
        host_bytes
            .iter()
            .map(|(h, b)| (h.to_string(), *b))
            .collect(),
    );
    a
}

fn counts(requests: &[ResourceRequest]) -> Vec<(&str, i32, bool)> {
    requests
        .iter()
        .map(|r| (r.resource_name.as_str(), r.num_containers, r.relax_locality))
        .collect()
}

#[test]
fn without_data_every_running_host_is_asked_for_all() {
    let r = ask(&["a", "b"], &[]).requests(1, 4, &HashMap::new(), Instant::now());
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
    let r = a.requests(1, 10, &HashMap::new(), Instant::now());
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
    // Two: the largest remainders decide (1.2, 0.6, 0.2 become 1, 1, 0).
    let r = a.requests(1, 2, &HashMap::new(), Instant::now());
    assert_eq!(
        counts(&r)[..3],
        [("a", 1, true), ("b", 1, true), ("c", 0, true)]
    );
    // Nothing wanted: every level says zero, which cancels the earlier asks.
    assert!(a
        .requests(1, 0, &HashMap::new(), Instant::now())
        .iter()
        .all(|r| r.num_containers == 0));
}

#[test]
fn containers_already_held_lower_their_hosts_next_asks() {
    // 5 of 10 bytes on a, 4 on b, 1 on c; 3 workers. The first round asks 2, 1, 0.
    let a = ask(&["a", "b", "c"], &[("a", 500), ("b", 400), ("c", 100)]);
    assert_eq!(
        counts(&a.requests(1, 3, &HashMap::new(), Instant::now()))[..3],
        [("a", 2, true), ("b", 1, true), ("c", 0, true)]
    );
    // a was granted both of its share: the last worker is asked for at b only, and a
    // is named with zero, cancelling its earlier ask.
    let held = HashMap::from([("a".to_string(), 2)]);
    assert_eq!(
        counts(&a.requests(1, 1, &held, Instant::now())),
        [
            ("a", 0, true),
            ("b", 1, true),
            ("c", 0, true),
            ("/default-rack", 1, true),
            ("*", 1, true)
        ]
    );
    // One more wanted (a replacement) while a, b and c hold 2, 1 and 1: it is asked for
    // where the shares of five containers (3, 2, 0) exceed what is held.
    let held = HashMap::from([
        ("a".to_string(), 2),
        ("b".to_string(), 1),
        ("c".to_string(), 1),
    ]);
    assert_eq!(
        counts(&a.requests(1, 1, &held, Instant::now()))[..3],
        [("a", 1, true), ("b", 1, true), ("c", 0, true)]
    );
}

#[test]
fn shares_follow_bytes_and_add_up() {
    assert_eq!(apportion(10, &[6, 3, 1]), [6, 3, 1]);
    assert_eq!(apportion(3, &[5, 4, 1]), [2, 1, 0]);
    assert_eq!(
        apportion(2, &[1, 1, 1]),
        [1, 1, 0],
        "ties go to the earlier"
    );
    assert_eq!(apportion(0, &[5, 4]), [0, 0]);
    assert_eq!(apportion(7, &[0, 0]).iter().sum::<u64>(), 7);
    assert_eq!(apportion(3, &[u64::MAX, u64::MAX]), [2, 1]);
}

#[test]
fn first_asks_near_the_data_stay_on_its_hosts_for_a_while() {
    let mut a = ask(&["a", "b", "c"], &[("a", 500), ("b", 500)]);
    let now = Instant::now();
    a.node_local_until = Some(now + NODE_LOCAL_ASKS_FOR);
    // The rack and `*` may not be used: only the data's hosts.
    assert_eq!(
        counts(&a.requests(1, 2, &HashMap::new(), now)),
        [
            ("a", 1, true),
            ("b", 1, true),
            ("/default-rack", 2, false),
            ("*", 2, false)
        ]
    );
    // Afterwards, anywhere will do.
    let later = now + NODE_LOCAL_ASKS_FOR;
    assert!(a
        .requests(1, 2, &HashMap::new(), later)
        .iter()
        .all(|r| r.relax_locality));
}

#[test]
fn asks_name_at_most_the_hosts_holding_the_most_bytes() {
    let many: Vec<(String, u64)> = (0..500)
        .map(|i| (format!("h{i:03}"), i as u64 + 1))
        .collect();
    let mut a = ask(&[], &[]);
    a.near(many);
    let r = a.requests(1, 50, &HashMap::new(), Instant::now());
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
        counts(&a.requests(1, 3, &HashMap::new(), Instant::now()))[..2],
        [("a", 3, true), ("b", 3, true)]
    );
    // Partly: only the running host with data is named.
    let a = ask(&["a", "b"], &[("dn1", 500), ("b", 100)]);
    let r = a.requests(1, 3, &HashMap::new(), Instant::now());
    assert_eq!(counts(&r)[0], ("b", 3, true));
    assert!(r
        .iter()
        .all(|r| r.resource_name != "a" && r.resource_name != "dn1"));
}

#[test]
fn each_rack_is_asked_for_what_its_hosts_are() {
    let mut a = ask(&["h1", "h2", "h3", "h4"], &[]);
    a.racks = vec!["/r1".into(), "/r2".into(), "/r3".into()];
    a.host_racks = [("h1", "/r1"), ("h2", "/r1"), ("h3", "/r2"), ("h4", "/r3")]
        .iter()
        .map(|(h, r)| (h.to_string(), r.to_string()))
        .collect();
    // The data: a quarter on h1, a quarter on h2, half on h3; none on h4 (rack /r3).
    a.near(vec![
        ("h1".into(), 100),
        ("h2".into(), 100),
        ("h3".into(), 200),
    ]);
    let got = a.requests(1, 4, &HashMap::new(), Instant::now());
    assert_eq!(
        counts(&got),
        [
            ("h3", 2, true),
            ("h1", 1, true),
            ("h2", 1, true),
            ("/r1", 2, true),
            ("/r2", 2, true),
            ("/r3", 0, true),
            ("*", 4, true),
        ]
    );
    // Without the data's whereabouts, every rack may give all of them.
    let mut b = a.clone();
    b.host_bytes.clear();
    let got = b.requests(1, 4, &HashMap::new(), Instant::now());
    assert!(
        counts(&got)
            .iter()
            .filter(|(n, _, _)| n.starts_with('/'))
            .all(|(_, c, _)| *c == 4),
        "{got:?}"
    );
}

#[test]
fn a_node_label_goes_on_the_request_for_anywhere_alone() {
    let mut a = ask(&["a", "b"], &[]);
    a.node_label = Some("gpu".into());
    let r = a.requests(1, 2, &HashMap::new(), Instant::now());
    let labels: Vec<(&str, Option<&str>)> = r
        .iter()
        .map(|r| (r.resource_name.as_str(), r.node_label.as_deref()))
        .collect();
    assert_eq!(
        labels,
        [
            ("a", None),
            ("b", None),
            ("/default-rack", None),
            ("*", Some("gpu"))
        ]
    );
}
