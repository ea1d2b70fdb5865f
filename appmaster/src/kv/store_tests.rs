//! The store fed transactions, with answers, revisions and events asserted.

use super::*;

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
        owner: None,
        previous: false,
    }
}

fn owned(key: &str, value: &str, owner: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
        owner: Some(owner.into()),
        previous: false,
    }
}

fn run(s: &mut Store, ops: Vec<Op>) -> Vec<OpResult> {
    s.apply(&Txn::ops(ops)).0.results
}

fn keys(s: &mut Store, r: KeyRange) -> Vec<String> {
    match run(s, vec![Op::List(r)]).remove(0) {
        OpResult::Keys(k) => k,
        other => panic!("{other:?}"),
    }
}

fn value(s: &mut Store, key: &str) -> Option<Vec<u8>> {
    match run(s, vec![Op::Get(KeyRange::Key(key.into()))]).remove(0) {
        OpResult::Entries(mut e) => e.pop().map(|(_, e)| e.value),
        other => panic!("{other:?}"),
    }
}

#[test]
fn keys_are_sorted_and_ranges_prefixes_and_counts_agree() {
    let mut s = Store::new(100);
    run(
        &mut s,
        vec![
            put("b/2", "x"),
            put("a", "x"),
            put("b/1", "x"),
            put("c", "x"),
            put("b", "x"),
        ],
    );
    assert_eq!(
        keys(&mut s, KeyRange::Prefix("".into())),
        ["a", "b", "b/1", "b/2", "c"]
    );
    assert_eq!(keys(&mut s, KeyRange::Prefix("b/".into())), ["b/1", "b/2"]);
    let between = KeyRange::Between {
        start: "b".into(),
        end: "c".into(),
    };
    assert_eq!(keys(&mut s, between.clone()), ["b", "b/1", "b/2"]);
    let open = KeyRange::Between {
        start: "b/2".into(),
        end: String::new(),
    };
    assert_eq!(keys(&mut s, open), ["b/2", "c"]);
    assert_eq!(run(&mut s, vec![Op::Count(between)]), [OpResult::Count(3)]);
    assert_eq!(
        keys(&mut s, KeyRange::Key("zz".into())),
        Vec::<String>::new()
    );
}

#[test]
fn every_write_is_one_revision_and_keys_remember_theirs() {
    let mut s = Store::new(100);
    let (r, change) = s.apply(&Txn::ops(vec![put("a", "1"), put("b", "1")]));
    assert_eq!(r.revision, 1);
    assert_eq!(change.unwrap().events.len(), 2);
    // reads alone write nothing and keep the revision
    let (r, change) = s.apply(&Txn::ops(vec![Op::Count(KeyRange::Prefix("".into()))]));
    assert_eq!((r.revision, change), (1, None));
    run(&mut s, vec![put("a", "2")]);
    let got = run(&mut s, vec![Op::Get(KeyRange::Key("a".into()))]);
    let OpResult::Entries(e) = &got[0] else {
        panic!()
    };
    assert_eq!(e[0].1.create_revision, 1);
    assert_eq!(e[0].1.mod_revision, 2);
    assert_eq!(e[0].1.value, b"2");
}

#[test]
fn swap_and_pop_answer_with_what_they_replaced() {
    let mut s = Store::new(100);
    run(&mut s, vec![put("k", "old")]);
    let swap = Op::Put {
        key: "k".into(),
        value: b"new".to_vec(),
        owner: None,
        previous: true,
    };
    let OpResult::Put(Some(old)) = run(&mut s, vec![swap]).remove(0) else {
        panic!()
    };
    assert_eq!(old.value, b"old");
    let pop = Op::Delete {
        range: KeyRange::Key("k".into()),
        previous: true,
    };
    let OpResult::Deleted(1, gone) = run(&mut s, vec![pop.clone()]).remove(0) else {
        panic!()
    };
    assert_eq!(gone[0].1.value, b"new");
    assert_eq!(run(&mut s, vec![pop]), [OpResult::Deleted(0, vec![])]);
}

#[test]
fn transactions_choose_a_branch_atomically() {
    let mut s = Store::new(100);
    // setdefault: put only if missing, and read the value either way
    let setdefault = |v: &str| Txn {
        conditions: vec![Condition::Missing("cfg".into())],
        on_success: vec![put("cfg", v), Op::Get(KeyRange::Key("cfg".into()))],
        on_failure: vec![Op::Get(KeyRange::Key("cfg".into()))],
    };
    let (first, _) = s.apply(&setdefault("one"));
    let (second, change) = s.apply(&setdefault("two"));
    assert!(first.succeeded && !second.succeeded);
    assert_eq!(change, None);
    assert_eq!(value(&mut s, "cfg").unwrap(), b"one");
    // compare-and-swap on the value
    let cas = |from: &str, to: &str| Txn {
        conditions: vec![Condition::Value {
            key: "cfg".into(),
            cmp: Cmp::Eq,
            value: from.into(),
        }],
        on_success: vec![put("cfg", to)],
        on_failure: vec![],
    };
    assert!(!s.apply(&cas("two", "three")).0.succeeded);
    assert!(s.apply(&cas("one", "three")).0.succeeded);
    assert_eq!(value(&mut s, "cfg").unwrap(), b"three");
    // a value condition on a missing key fails, whatever the comparison
    let missing = Txn {
        conditions: vec![Condition::Value {
            key: "nope".into(),
            cmp: Cmp::Ne,
            value: b"x".to_vec(),
        }],
        ..Default::default()
    };
    assert!(!s.apply(&missing).0.succeeded);
}

#[test]
fn a_lock_is_a_key_owned_by_its_holder_and_goes_when_its_container_ends() {
    let mut s = Store::new(100);
    let acquire = |who: &str| Txn {
        conditions: vec![Condition::Missing("lock".into())],
        on_success: vec![owned("lock", who, who)],
        on_failure: vec![],
    };
    assert!(s.apply(&acquire("container_1")).0.succeeded);
    assert!(!s.apply(&acquire("container_2")).0.succeeded);
    let mine = Condition::Owner {
        key: "lock".into(),
        cmp: Cmp::Eq,
        owner: Some("container_1".into()),
    };
    assert!(
        s.apply(&Txn {
            conditions: vec![mine],
            ..Default::default()
        })
        .0
        .succeeded
    );
    run(
        &mut s,
        vec![
            owned("addr/1", "10.0.0.1:80", "container_1"),
            put("free", "x"),
        ],
    );
    let before = s.revision();
    let change = s.drop_owner("container_1").expect("its keys went");
    assert_eq!(change.revision, before + 1);
    let mut gone: Vec<&str> = change.events.iter().map(|e| e.key.as_str()).collect();
    gone.sort();
    assert_eq!(gone, ["addr/1", "lock"]);
    assert!(change.events.iter().all(|e| e.put.is_none()));
    assert_eq!(keys(&mut s, KeyRange::Prefix("".into())), ["free"]);
    assert!(s.apply(&acquire("container_2")).0.succeeded);
    assert_eq!(s.drop_owner("container_9"), None);
}

#[test]
fn watchers_get_events_in_order_from_a_revision_until_compacted() {
    let mut s = Store::new(4);
    run(&mut s, vec![put("w/a", "1")]); // 1
    run(&mut s, vec![put("x", "1")]); // 2
    run(&mut s, vec![put("w/b", "1")]); // 3
    run(
        &mut s,
        vec![Op::Delete {
            range: KeyRange::Key("w/a".into()),
            previous: false,
        }],
    ); // 4
    let w = KeyRange::Prefix("w/".into());
    let seen: Vec<(Revision, String, bool)> = s
        .events_since(&w, 0)
        .unwrap()
        .into_iter()
        .map(|e| (e.revision, e.key, e.put.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "w/a".into(), true),
            (3, "w/b".into(), true),
            (4, "w/a".into(), false)
        ]
    );
    assert_eq!(s.events_since(&w, 3).unwrap().len(), 1);
    assert!(s.events_since(&w, 4).unwrap().is_empty());
    // one more event pushes revision 1 out of a history of four
    run(&mut s, vec![put("w/c", "1")]); // 5
    assert_eq!(s.events_since(&w, 0), Err(Compacted { oldest: 2 }));
    assert_eq!(s.events_since(&w, 1).unwrap().len(), 3);
}

#[test]
fn events_since_any_revision_are_exactly_the_later_ones_in_a_long_history() {
    let mut s = Store::new(50);
    for i in 0..40 {
        // one key, then three under one revision, then a delete of a prefix
        run(&mut s, vec![put(&format!("w/{i}"), "v")]);
        run(
            &mut s,
            vec![put("w/x", "1"), put("y", "2"), put("w/z", "3")],
        );
        run(
            &mut s,
            vec![Op::Delete {
                range: KeyRange::Prefix("w/".into()),
                previous: false,
            }],
        );
    }
    let w = KeyRange::Prefix("w/".into());
    let all = s
        .events_since(&KeyRange::Prefix("".into()), s.oldest - 1)
        .unwrap();
    // 7 events a round, 280 in all: of the last 50, one is what is left of a revision
    // partly forgotten, which no watcher is shown
    assert_eq!(all.len(), 49);
    for after in s.oldest - 1..=s.revision() + 1 {
        let expected: Vec<Event> = all
            .iter()
            .filter(|e| e.revision > after && e.key.starts_with("w/"))
            .cloned()
            .collect();
        assert_eq!(
            s.events_since(&w, after).unwrap(),
            expected,
            "after {after}"
        );
    }
}

#[test]
fn replaying_the_changes_rebuilds_the_same_store_at_the_same_revisions() {
    let mut s = Store::new(1000);
    let mut changes = vec![];
    let mut keep = |c: Option<Change>| changes.extend(c);
    keep(
        s.apply(&Txn::ops(vec![put("a", "1"), owned("b", "2", "c1")]))
            .1,
    );
    keep(s.apply(&Txn::ops(vec![put("a", "3")])).1);
    keep(
        s.apply(&Txn::ops(vec![Op::Count(KeyRange::Key("a".into()))]))
            .1,
    );
    keep(s.drop_owner("c1"));
    keep(s.apply(&Txn::ops(vec![put("z", "")])).1);
    let mut again = Store::new(1000);
    for c in &changes {
        again.replay(c).unwrap();
    }
    assert_eq!(again.snapshot(), s.snapshot());
    assert_eq!(again.revision(), 4);
    assert_eq!(
        again.events_since(&KeyRange::Prefix("".into()), 0),
        s.events_since(&KeyRange::Prefix("".into()), 0)
    );
    assert!(
        again.replay(&changes[0]).is_err(),
        "revisions only go forward"
    );
    // a snapshot restores the same state, and writes go on from its revision
    let (rev, entries) = s.snapshot();
    let mut restored = Store::restore(rev, entries, 1000);
    assert_eq!(restored.snapshot(), s.snapshot());
    assert_eq!(restored.apply(&Txn::ops(vec![put("n", "1")])).0.revision, 5);
    assert!(restored
        .events_since(&KeyRange::Prefix("".into()), 0)
        .is_err());
}
