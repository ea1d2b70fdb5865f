//! The key-value store's state: sorted keys, each with its value, the revisions it was
//! created and last changed at, and the container that owns it, if any. Every change
//! (a transaction, or a container's keys going with it) is one revision and a list of
//! events; the caller makes those durable before answering (see [`super::journal`]) and
//! replays them to rebuild the store. No I/O, no clock: tests feed it operations.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

pub type Revision = u64;

/// A key's value and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    /// The container whose end deletes this key.
    pub owner: Option<String>,
}

/// The keys an operation reads or deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRange {
    Key(String),
    /// Every key starting with this (all keys for `""`).
    Prefix(String),
    /// `[start, end)`; an empty `end` means no upper bound.
    Between {
        start: String,
        end: String,
    },
}

impl KeyRange {
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyRange::Key(k) => k == key,
            KeyRange::Prefix(p) => key.starts_with(p.as_str()),
            KeyRange::Between { start, end } => {
                key >= start.as_str() && (end.is_empty() || key < end.as_str())
            }
        }
    }

    fn bounds(&self) -> (Bound<&str>, Bound<&str>) {
        match self {
            KeyRange::Key(k) => (Bound::Included(k), Bound::Included(k)),
            KeyRange::Prefix(p) => (Bound::Included(p), Bound::Unbounded),
            KeyRange::Between { start, end } if end.is_empty() => {
                (Bound::Included(start), Bound::Unbounded)
            }
            KeyRange::Between { start, end } => (Bound::Included(start), Bound::Excluded(end)),
        }
    }
}

/// How a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: Ord + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// What a transaction checks before choosing its branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Exists(String),
    Missing(String),
    /// The key exists and its value compares so with `value` (bytewise).
    Value {
        key: String,
        cmp: Cmp,
        value: Vec<u8>,
    },
    /// The key's owner compares so with `owner` (`None`: no owner); only `Eq` and `Ne`.
    Owner {
        key: String,
        cmp: Cmp,
        owner: Option<String>,
    },
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Count(KeyRange),
    /// Keys only.
    List(KeyRange),
    Get(KeyRange),
    /// `previous`: answer with what it replaced (swap).
    Put {
        key: String,
        value: Vec<u8>,
        owner: Option<String>,
        previous: bool,
    },
    /// `previous`: answer with what it deleted (pop).
    Delete {
        range: KeyRange,
        previous: bool,
    },
}

/// What one operation answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Count(u64),
    Keys(Vec<String>),
    Entries(Vec<(String, Entry)>),
    /// A put: what it replaced, when asked.
    Put(Option<Entry>),
    /// A delete: how many went, and which, when asked.
    Deleted(u64, Vec<(String, Entry)>),
}

/// Conditions, then the success or failure branch, atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub conditions: Vec<Condition>,
    pub on_success: Vec<Op>,
    pub on_failure: Vec<Op>,
}

impl Txn {
    /// A transaction of these operations, unconditionally.
    pub fn ops(ops: Vec<Op>) -> Txn {
        Txn {
            on_success: ops,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResult {
    pub succeeded: bool,
    pub results: Vec<OpResult>,
    /// The store's revision after the transaction.
    pub revision: Revision,
}

/// One change to one key, as watchers see it and the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub revision: Revision,
    pub key: String,
    /// The new value and owner, or `None` for a delete.
    pub put: Option<(Vec<u8>, Option<String>)>,
}

/// Every event of one revision: the unit the journal makes durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub revision: Revision,
    pub events: Vec<Event>,
}

/// A watcher asked for events older than the store still remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// The oldest revision it can still be told about.
    pub oldest: Revision,
}

/// The state, and recent events for watchers.
pub struct Store {
    data: BTreeMap<String, Entry>,
    revision: Revision,
    history: VecDeque<Event>,
    history_limit: usize,
    /// Events before this revision are no longer in `history`.
    oldest: Revision,
}

impl Store {
    /// An empty store remembering the last `history_limit` events for watchers.
    pub fn new(history_limit: usize) -> Store {
        Store {
            data: BTreeMap::new(),
            revision: 0,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            oldest: 1,
        }
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.data.get(key)
    }

    /// Runs a transaction. Reads see the writes before them in the same branch. Returns
    /// the answer and the change to make durable (`None` when nothing was written).
    pub fn apply(&mut self, txn: &Txn) -> (TxnResult, Option<Change>) {
        let succeeded = txn.conditions.iter().all(|c| self.holds(c));
        let ops = if succeeded {
            &txn.on_success
        } else {
            &txn.on_failure
        };
        let next = self.revision + 1;
        let mut events = vec![];
        let results = ops
            .iter()
            .map(|op| self.run(op, next, &mut events))
            .collect();
        let change = self.commit(next, events);
        let result = TxnResult {
            succeeded,
            results,
            revision: self.revision,
        };
        (result, change)
    }

    /// Deletes every key `owner` owns (its container ended).
    pub fn drop_owner(&mut self, owner: &str) -> Option<Change> {
        let next = self.revision + 1;
        let keys: Vec<String> = self
            .data
            .iter()
            .filter(|(_, e)| e.owner.as_deref() == Some(owner))
            .map(|(k, _)| k.clone())
            .collect();
        let mut events = vec![];
        for key in keys {
            self.data.remove(&key);
            events.push(Event {
                revision: next,
                key,
                put: None,
            });
        }
        self.commit(next, events)
    }

    /// Applies a change read back from the journal. Changes must come in revision order.
    pub fn replay(&mut self, change: &Change) -> Result<(), String> {
        if change.revision <= self.revision {
            return Err(format!(
                "journal goes back from revision {} to {}",
                self.revision, change.revision
            ));
        }
        for e in &change.events {
            self.write(e);
        }
        self.revision = change.revision;
        self.remember(&change.events);
        Ok(())
    }

    /// The whole state at the current revision, for a compacted journal.
    pub fn snapshot(&self) -> (Revision, Vec<(String, Entry)>) {
        let entries = self
            .data
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        (self.revision, entries)
    }

    /// A store holding `entries` at `revision` (a journal's snapshot).
    pub fn restore(
        revision: Revision,
        entries: Vec<(String, Entry)>,
        history_limit: usize,
    ) -> Store {
        let mut s = Store::new(history_limit);
        s.data = entries.into_iter().collect();
        s.revision = revision;
        s.oldest = revision + 1;
        s
    }

    /// Events on `range` after revision `after`, in order; `Compacted` if some of them
    /// are no longer remembered (the watcher must read the keys afresh).
    pub fn events_since(&self, range: &KeyRange, after: Revision) -> Result<Vec<Event>, Compacted> {
        if after + 1 < self.oldest {
            return Err(Compacted {
                oldest: self.oldest,
            });
        }
        // The history is in revision order: a watcher that is up to date costs a search,
        // not a pass over every remembered event (a pass per revision made each put
        // slower as the history grew).
        let first = self.history.partition_point(|e| e.revision <= after);
        Ok(self
            .history
            .range(first..)
            .filter(|e| range.contains(&e.key))
            .cloned()
            .collect())
    }

    fn holds(&self, c: &Condition) -> bool {
        match c {
            Condition::Exists(k) => self.data.contains_key(k),
            Condition::Missing(k) => !self.data.contains_key(k),
            Condition::Value { key, cmp, value } => self
                .data
                .get(key)
                .is_some_and(|e| cmp.holds(e.value.as_slice(), value.as_slice())),
            Condition::Owner { key, cmp, owner } => {
                let theirs = self.data.get(key).and_then(|e| e.owner.as_ref());
                match cmp {
                    Cmp::Eq => theirs == owner.as_ref(),
                    Cmp::Ne => theirs != owner.as_ref(),
                    _ => false,
                }
            }
        }
    }

    fn range(&self, r: &KeyRange) -> impl Iterator<Item = (&String, &Entry)> {
        let (lo, hi) = r.bounds();
        let prefix = match r {
            KeyRange::Prefix(p) => Some(p.clone()),
            _ => None,
        };
        self.data
            .range::<str, _>((lo, hi))
            .take_while(move |(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())))
    }

    fn run(&mut self, op: &Op, next: Revision, events: &mut Vec<Event>) -> OpResult {
        match op {
            Op::Count(r) => OpResult::Count(self.range(r).count() as u64),
            Op::List(r) => OpResult::Keys(self.range(r).map(|(k, _)| k.clone()).collect()),
            Op::Get(r) => {
                OpResult::Entries(self.range(r).map(|(k, e)| (k.clone(), e.clone())).collect())
            }
            Op::Put {
                key,
                value,
                owner,
                previous,
            } => {
                let event = Event {
                    revision: next,
                    key: key.clone(),
                    put: Some((value.clone(), owner.clone())),
                };
                let old = self.write(&event);
                events.push(event);
                OpResult::Put(old.filter(|_| *previous))
            }
            Op::Delete { range, previous } => {
                let keys: Vec<String> = self.range(range).map(|(k, _)| k.clone()).collect();
                let mut gone = vec![];
                for key in keys {
                    let event = Event {
                        revision: next,
                        key: key.clone(),
                        put: None,
                    };
                    if let Some(e) = self.write(&event) {
                        gone.push((key, e));
                    }
                    events.push(event);
                }
                let n = gone.len() as u64;
                OpResult::Deleted(n, if *previous { gone } else { vec![] })
            }
        }
    }

    /// Applies one event; returns what the key held before.
    fn write(&mut self, e: &Event) -> Option<Entry> {
        match &e.put {
            Some((value, owner)) => {
                let create_revision = self
                    .data
                    .get(&e.key)
                    .map_or(e.revision, |old| old.create_revision);
                self.data.insert(
                    e.key.clone(),
                    Entry {
                        value: value.clone(),
                        create_revision,
                        mod_revision: e.revision,
                        owner: owner.clone(),
                    },
                )
            }
            None => self.data.remove(&e.key),
        }
    }

    fn commit(&mut self, next: Revision, events: Vec<Event>) -> Option<Change> {
        if events.is_empty() {
            return None;
        }
        self.revision = next;
        self.remember(&events);
        Some(Change {
            revision: next,
            events,
        })
    }

    fn remember(&mut self, events: &[Event]) {
        self.history.extend(events.iter().cloned());
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.oldest = e.revision + 1;
            }
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
