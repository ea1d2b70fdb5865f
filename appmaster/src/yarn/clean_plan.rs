//! What `spindle clean` removes from a user's staging directory (`/user/<user>/.spindle`),
//! decided from what was listed there and what the ResourceManager said, so that every
//! rule is tested without a cluster. Only names spindle writes are ever candidates; a
//! shared file (binary, site file, service file) goes only when no application that
//! stays recorded using it, and an application's directory only once it has ended.

use std::collections::BTreeMap;

/// Kept whatever `--older-than` says: a directory the ResourceManager does not know may
/// be a submit still on its way, and a `.tmp-` upload may still be written.
pub const MIN_AGE_UNSURE_MS: i64 = 3_600_000;

/// What the ResourceManager says of an application directory's application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Not ended (NEW to RUNNING, or a state this client does not know).
    Live { state: String },
    /// Ended (FINISHED, FAILED, KILLED) at `finish_ms`.
    Ended { state: String, finish_ms: i64 },
    /// Unknown to it: ended and forgotten, submitted to another ResourceManager, or a
    /// submit that has not reached it yet.
    Unknown,
}

/// One application's directory.
#[derive(Debug, Clone)]
pub struct AppDir {
    pub path: String,
    pub mtime_ms: i64,
    pub bytes: u64,
    pub fate: Fate,
    /// The shared files its submit recorded; `None` when it recorded none (a submit by
    /// a spindle older than the record), which keeps every shared file.
    pub uses: Option<Vec<String>>,
}

/// A file under `bin/`, `conf/` or `files/` named as spindle names them.
#[derive(Debug, Clone)]
pub struct SharedFile {
    pub path: String,
    pub mtime_ms: i64,
    pub bytes: u64,
}

/// What an entry of the staging directory is, by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `application_<digits>_<digits>`, a directory.
    App,
    /// `bin`, `conf` or `files`: listed in turn.
    SharedDir,
    /// A file in one of them, named by its content's hash.
    Shared,
    /// An upload that never finished (`<shared name>.tmp-<pid>`).
    Leftover,
    /// Not spindle's name for it: never touched.
    Foreign,
}

/// `name` directly in the staging directory.
pub fn top_entry(name: &str, is_dir: bool) -> Entry {
    match name {
        "bin" | "conf" | "files" if is_dir => Entry::SharedDir,
        _ if is_dir && is_application_id(name) => Entry::App,
        _ => Entry::Foreign,
    }
}

/// `name` in the shared directory `dir` (`bin`, `conf` or `files`).
pub fn shared_entry(dir: &str, name: &str, is_dir: bool) -> Entry {
    if is_dir {
        return Entry::Foreign;
    }
    let (base, leftover) = match name.rsplit_once(".tmp-") {
        Some((base, pid)) if all_digits(pid) => (base, true),
        _ => (name, false),
    };
    let named = match dir {
        "bin" => base.strip_prefix("spindle-").is_some_and(is_hash),
        "conf" | "files" => base
            .split_once('-')
            .is_some_and(|(hash, rest)| is_hash(hash) && !rest.is_empty()),
        _ => false,
    };
    match (named, leftover) {
        (false, _) => Entry::Foreign,
        (true, false) => Entry::Shared,
        (true, true) => Entry::Leftover,
    }
}

fn is_application_id(name: &str) -> bool {
    let mut parts = name.split('_');
    parts.next() == Some("application")
        && parts.next().is_some_and(all_digits)
        && parts.next().is_some_and(all_digits)
        && parts.next().is_none()
}

/// The 16 hex digits of a content hash, as the stager names files.
fn is_hash(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Something to remove, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub path: String,
    /// An application's directory (removed with all it holds), not a single file.
    pub is_dir: bool,
    pub bytes: u64,
    pub why: String,
}

/// Something that stays, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub path: String,
    pub why: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub remove: Vec<Removal>,
    pub keep: Vec<Kept>,
}

/// The plan for the listed `apps`, `shared` files and `leftovers`, at `now_ms`, keeping
/// what ended or changed less than `older_than_ms` ago.
pub fn plan(
    apps: &[AppDir],
    shared: &[SharedFile],
    leftovers: &[SharedFile],
    now_ms: i64,
    older_than_ms: i64,
) -> Plan {
    let mut plan = Plan::default();
    // The shared files used by the applications whose directories stay, by user.
    let mut users: BTreeMap<&str, &str> = BTreeMap::new();
    let mut unrecorded: Option<&str> = None;
    for app in apps {
        match app_verdict(app, now_ms, older_than_ms) {
            Ok(why) => plan.remove.push(Removal {
                path: app.path.clone(),
                is_dir: true,
                bytes: app.bytes,
                why,
            }),
            Err(why) => {
                match &app.uses {
                    Some(uses) => {
                        for path in uses {
                            users.entry(path).or_insert(&app.path);
                        }
                    }
                    None => unrecorded = unrecorded.or(Some(&app.path)),
                }
                plan.keep.push(Kept {
                    path: app.path.clone(),
                    why,
                });
            }
        }
    }
    // An upload that never finished may still be written: kept at least an hour.
    let files = (shared.iter().map(|f| (f, older_than_ms))).chain(
        leftovers
            .iter()
            .map(|f| (f, older_than_ms.max(MIN_AGE_UNSURE_MS))),
    );
    for (file, min_age) in files {
        let age = now_ms - file.mtime_ms;
        let kept = if let Some(user) = users.get(file.path.as_str()) {
            Some(format!("used by {}", last_part(user)))
        } else if let Some(app) = unrecorded {
            Some(format!(
                "{} stays and names none of the files it uses: submitted by an older spindle",
                last_part(app)
            ))
        } else if age < min_age {
            Some(format!("changed {} ago", span(age)))
        } else {
            None
        };
        match kept {
            Some(why) => plan.keep.push(Kept {
                path: file.path.clone(),
                why,
            }),
            None => plan.remove.push(Removal {
                path: file.path.clone(),
                is_dir: false,
                bytes: file.bytes,
                why: format!(
                    "used by no application that stays; unchanged for {}",
                    span(age)
                ),
            }),
        }
    }
    plan
}

/// Why `app`'s directory goes (`Ok`) or stays (`Err`).
fn app_verdict(app: &AppDir, now_ms: i64, older_than_ms: i64) -> Result<String, String> {
    match &app.fate {
        Fate::Live { state } => Err(state.clone()),
        Fate::Ended { state, finish_ms } => {
            let age = now_ms - finish_ms;
            if age >= older_than_ms {
                Ok(format!("{state} {} ago", span(age)))
            } else {
                Err(format!("{state} {} ago", span(age)))
            }
        }
        Fate::Unknown => {
            let age = now_ms - app.mtime_ms;
            if age >= older_than_ms.max(MIN_AGE_UNSURE_MS) {
                Ok(format!(
                    "unknown to the ResourceManager; unchanged for {}",
                    span(age)
                ))
            } else {
                Err(format!(
                    "unknown to the ResourceManager, changed {} ago: a submit may be on its way",
                    span(age)
                ))
            }
        }
    }
}

fn last_part(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A span of milliseconds as people say it: `40 s`, `12 min`, `5 h`, `3 d`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
#[path = "clean_plan_tests.rs"]
mod tests;
