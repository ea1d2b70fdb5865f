use super::*;

const DAY: i64 = 86_400_000;
const NOW: i64 = 100 * DAY;
const ROOT: &str = "/user/u/.spindle";

fn app(n: u32, fate: Fate, uses: Option<&[&str]>) -> AppDir {
    AppDir {
        path: format!("{ROOT}/application_1_{n:04}"),
        mtime_ms: NOW - 30 * DAY,
        bytes: 10,
        fate,
        uses: uses.map(|u| u.iter().map(|p| format!("{ROOT}/{p}")).collect()),
    }
}

fn ended(days_ago: i64) -> Fate {
    Fate::Ended {
        state: "FINISHED".into(),
        finish_ms: NOW - days_ago * DAY,
    }
}

fn live() -> Fate {
    Fate::Live {
        state: "RUNNING".into(),
    }
}

fn file(name: &str, days_old: i64) -> SharedFile {
    SharedFile {
        path: format!("{ROOT}/{name}"),
        mtime_ms: NOW - days_old * DAY,
        bytes: 100,
    }
}

fn removed(plan: &Plan) -> Vec<&str> {
    let mut r: Vec<&str> = plan
        .remove
        .iter()
        .map(|r| r.path.strip_prefix(ROOT).unwrap())
        .collect();
    r.sort();
    r
}

const BIN: &str = "bin/spindle-0123456789abcdef";
const OLD_BIN: &str = "bin/spindle-fedcba9876543210";
const CONF: &str = "conf/0123456789abcdef-core-site.xml";

#[test]
fn spindle_names_alone_are_candidates() {
    assert_eq!(
        top_entry("application_1700000000000_0001", true),
        Entry::App
    );
    assert_eq!(
        top_entry("application_1700000000000_0001", false),
        Entry::Foreign
    );
    assert_eq!(top_entry("application_17x_0001", true), Entry::Foreign);
    assert_eq!(top_entry("application_1_2_3", true), Entry::Foreign);
    assert_eq!(top_entry("bin", true), Entry::SharedDir);
    assert_eq!(top_entry("bin", false), Entry::Foreign);
    assert_eq!(top_entry("notes.txt", false), Entry::Foreign);
    assert_eq!(top_entry("data", true), Entry::Foreign);
    assert_eq!(
        shared_entry("bin", "spindle-0123456789abcdef", false),
        Entry::Shared
    );
    assert_eq!(
        shared_entry("bin", "spindle-0123456789abcdef", true),
        Entry::Foreign
    );
    assert_eq!(
        shared_entry("bin", "spindle-0123456789ABCDEF", false),
        Entry::Foreign
    );
    assert_eq!(shared_entry("bin", "spindle-0123", false), Entry::Foreign);
    assert_eq!(shared_entry("bin", "spindle", false), Entry::Foreign);
    assert_eq!(
        shared_entry("bin", "spindle-0123456789abcdef.tmp-4242", false),
        Entry::Leftover
    );
    assert_eq!(
        shared_entry("bin", "spindle-0123456789abcdef.tmp-", false),
        Entry::Foreign
    );
    assert_eq!(
        shared_entry("conf", "0123456789abcdef-core-site.xml", false),
        Entry::Shared
    );
    assert_eq!(
        shared_entry("conf", "0123456789abcdef-", false),
        Entry::Foreign
    );
    assert_eq!(
        shared_entry("files", "0123456789abcdef-env.tar.gz", false),
        Entry::Shared
    );
    assert_eq!(
        shared_entry("files", "0123456789abcdef-env.tar.gz.tmp-7", false),
        Entry::Leftover
    );
    assert_eq!(
        shared_entry("files", "my-env.tar.gz", false),
        Entry::Foreign
    );
    assert_eq!(
        shared_entry("other", "0123456789abcdef-x", false),
        Entry::Foreign
    );
}

#[test]
fn an_ended_application_goes_once_older_than_asked_and_what_it_alone_used_with_it() {
    let apps = [
        app(1, ended(10), Some(&[OLD_BIN, CONF])),
        app(2, ended(2), Some(&[BIN, CONF])),
    ];
    let shared = [file(BIN, 20), file(OLD_BIN, 20), file(CONF, 20)];
    let plan = plan(&apps, &shared, &[], NOW, 7 * DAY);
    assert_eq!(
        removed(&plan),
        ["/application_1_0001", "/bin/spindle-fedcba9876543210"]
    );
    let why = &plan.remove[0].why;
    assert_eq!(why, "FINISHED 10 d ago");
    assert!(plan.remove[0].is_dir && !plan.remove[1].is_dir);
    let kept: Vec<&str> = plan.keep.iter().map(|k| k.why.as_str()).collect();
    assert!(kept.contains(&"FINISHED 2 d ago"), "{kept:?}");
    assert!(kept.contains(&"used by application_1_0002"), "{kept:?}");
}

#[test]
fn a_running_application_keeps_its_directory_and_files_however_old() {
    let apps = [app(1, live(), Some(&[BIN, CONF]))];
    let shared = [file(BIN, 300), file(CONF, 300), file(OLD_BIN, 300)];
    let plan = plan(&apps, &shared, &[], NOW, 0);
    assert_eq!(removed(&plan), ["/bin/spindle-fedcba9876543210"]);
}

#[test]
fn an_application_that_recorded_nothing_keeps_every_shared_file() {
    let apps = [app(1, live(), None), app(2, ended(30), Some(&[OLD_BIN]))];
    let shared = [file(BIN, 300), file(OLD_BIN, 300)];
    let plan = plan(&apps, &shared, &[], NOW, 0);
    assert_eq!(removed(&plan), ["/application_1_0002"]);
    assert!(plan
        .keep
        .iter()
        .any(|k| k.why.contains("names none of the files") && k.path.ends_with(BIN)));
}

#[test]
fn an_ended_application_without_a_record_keeps_nothing_once_it_goes() {
    let apps = [app(1, ended(30), None)];
    let plan = plan(&apps, &[file(BIN, 30)], &[], NOW, 7 * DAY);
    assert_eq!(
        removed(&plan),
        ["/application_1_0001", "/bin/spindle-0123456789abcdef"]
    );
}

#[test]
fn an_application_unknown_to_the_resource_manager_goes_only_when_long_unchanged() {
    let mut young = app(1, Fate::Unknown, Some(&[BIN]));
    young.mtime_ms = NOW - 10 * 60_000;
    let mut old = app(2, Fate::Unknown, Some(&[OLD_BIN]));
    old.mtime_ms = NOW - 2 * DAY;
    // Even asked for everything older than nothing, a directory changed in the last
    // hour may be a submit on its way: it stays, with what it uses.
    let plan = plan(
        &[young, old],
        &[file(BIN, 9), file(OLD_BIN, 9)],
        &[],
        NOW,
        0,
    );
    assert_eq!(
        removed(&plan),
        ["/application_1_0002", "/bin/spindle-fedcba9876543210"]
    );
    assert!(plan
        .keep
        .iter()
        .any(|k| k.why.contains("a submit may be on its way")));
}

#[test]
fn a_young_shared_file_stays_and_so_does_a_fresh_upload_leftover() {
    let shared = [file(BIN, 1), file(OLD_BIN, 8)];
    let mut fresh = file("bin/spindle-0123456789abcdef.tmp-11", 0);
    fresh.mtime_ms = NOW - 30 * 60_000;
    let stale = file("bin/spindle-fedcba9876543210.tmp-12", 2);
    let plan = plan(&[], &shared, &[fresh, stale], NOW, 0);
    assert_eq!(
        removed(&plan),
        [
            "/bin/spindle-0123456789abcdef",
            "/bin/spindle-fedcba9876543210",
            "/bin/spindle-fedcba9876543210.tmp-12"
        ]
    );
    let plan = plan_at(&shared, 7 * DAY);
    assert_eq!(removed(&plan), ["/bin/spindle-fedcba9876543210"]);
}

fn plan_at(shared: &[SharedFile], older_than: i64) -> Plan {
    plan(&[], shared, &[], NOW, older_than)
}

#[test]
fn spans_read_as_people_say_them() {
    assert_eq!(span(-5), "0 s");
    assert_eq!(span(59_000), "59 s");
    assert_eq!(span(600_000), "10 min");
    assert_eq!(span(5 * 3_600_000), "5 h");
    assert_eq!(span(3 * DAY), "3 d");
}
