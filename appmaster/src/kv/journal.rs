//! The store's journal: what makes it durable across application master attempts.
//!
//! A journal is a sequence of records, each `[length u32 BE][crc32c u32 BE][bincode]`:
//! first a snapshot of the whole store at some revision (empty for a new store), then
//! every change after it, in revision order. A new attempt replays it to serve the same
//! keys at the same revisions. A record cut short at the end (the old attempt died while
//! writing it, before acknowledging it) is dropped; anything else that does not check is
//! an error, never silently skipped. Compaction writes a fresh snapshot as a new journal
//! and replaces the old one with it, so replay time follows the store's size, not its
//! history.

use super::store::{Change, Entry, Revision, Store};
use serde::{Deserialize, Serialize};

/// Largest record accepted on replay: a bigger length is corruption.
const MAX_RECORD: usize = 1 << 30;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Snapshot {
        revision: Revision,
        entries: Vec<(String, Entry)>,
    },
    Change(Change),
}

/// One record, framed for appending.
pub fn encode(record: &Record) -> Vec<u8> {
    let body = bincode::serialize(record).expect("records serialize");
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(CRC.checksum(&body).to_be_bytes());
    out.extend(body);
    out
}

/// The journal of `store` as it stands: one snapshot record.
pub fn snapshot_of(store: &Store) -> Vec<u8> {
    let (revision, entries) = store.snapshot();
    encode(&Record::Snapshot { revision, entries })
}

/// What replaying a journal gave.
pub struct Replayed {
    pub store: Store,
    /// Bytes of whole records; a torn record after them is to be cut off before
    /// appending.
    pub valid_len: u64,
    /// Records read, the snapshot included.
    pub records: u64,
}

/// Rebuilds the store from a journal's bytes.
pub fn replay(bytes: &[u8], history_limit: usize) -> Result<Replayed, String> {
    let mut store: Option<Store> = None;
    let mut at = 0usize;
    let mut records = 0u64;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 8) else {
            break; // a torn header at the end
        };
        let len = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(header[4..].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            return Err(format!("record at byte {at} claims {len} bytes"));
        }
        let Some(body) = bytes.get(at + 8..at + 8 + len) else {
            break; // a torn body at the end
        };
        if CRC.checksum(body) != crc {
            return Err(format!("record at byte {at} fails its checksum"));
        }
        let record: Record = bincode::deserialize(body)
            .map_err(|e| format!("record at byte {at} does not decode: {e}"))?;
        match (record, store.as_mut()) {
            (Record::Snapshot { revision, entries }, None) => {
                store = Some(Store::restore(revision, entries, history_limit));
            }
            (Record::Change(change), Some(s)) => {
                s.replay(&change)
                    .map_err(|e| format!("record at byte {at}: {e}"))?;
            }
            (Record::Snapshot { .. }, Some(_)) => {
                return Err(format!("a second snapshot at byte {at}"));
            }
            (Record::Change(_), None) => {
                return Err("the journal does not start with a snapshot".into());
            }
        }
        at += 8 + len;
        records += 1;
    }
    Ok(Replayed {
        store: store.unwrap_or_else(|| Store::new(history_limit)),
        valid_len: at as u64,
        records,
    })
}

/// A journal smaller than this is never compacted while running.
pub const COMPACT_AT_LEAST: u64 = 1 << 20;

/// Whether a journal of `journal_len` bytes is worth compacting into a snapshot of
/// `snapshot_len`: when history outweighs the state four times over, and the journal
/// has reached `at_least` bytes.
pub fn worth_compacting(journal_len: u64, snapshot_len: u64, at_least: u64) -> bool {
    journal_len > (4 * snapshot_len).max(at_least)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::store::{KeyRange, Op, Txn};

    fn filled(n: usize) -> (Store, Vec<u8>) {
        let mut s = Store::new(100);
        let mut journal = snapshot_of(&s);
        for i in 0..n {
            let op = Op::Put {
                key: format!("k/{:03}", i % 50),
                value: vec![i as u8; 10],
                owner: (i % 7 == 0).then(|| "c1".to_string()),
                previous: false,
            };
            if let Some(c) = s.apply(&Txn::ops(vec![op])).1 {
                journal.extend(encode(&Record::Change(c)));
            }
        }
        if let Some(c) = s.drop_owner("c1") {
            journal.extend(encode(&Record::Change(c)));
        }
        (s, journal)
    }

    #[test]
    fn replay_gives_the_same_keys_at_the_same_revisions() {
        let (s, journal) = filled(300);
        let r = replay(&journal, 100).unwrap();
        assert_eq!(r.store.snapshot(), s.snapshot());
        assert_eq!(r.valid_len, journal.len() as u64);
        assert_eq!(r.records, 302);
        // a compacted journal replays to the same state in one record
        let compact = snapshot_of(&s);
        let c = replay(&compact, 100).unwrap();
        assert_eq!(c.store.snapshot(), s.snapshot());
        assert_eq!(c.records, 1);
        let (journal_len, compact_len) = (journal.len() as u64, compact.len() as u64);
        assert!(worth_compacting(
            journal_len * 1000,
            compact_len,
            COMPACT_AT_LEAST
        ));
        assert!(!worth_compacting(
            compact_len,
            compact_len,
            COMPACT_AT_LEAST
        ));
        assert!(!worth_compacting(3 * compact_len, compact_len, 0));
        assert!(worth_compacting(5 * compact_len, compact_len, 0));
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_everything_before_it_kept() {
        let (_, journal) = filled(20);
        let whole = replay(&journal, 100).unwrap();
        for cut in [1, 5, 9, 12] {
            let torn = &journal[..journal.len() - cut];
            let r = replay(torn, 100).unwrap();
            assert_eq!(r.records, whole.records - 1, "cut {cut}");
            assert!(r.valid_len < torn.len() as u64);
            assert_eq!(r.store.revision(), whole.store.revision() - 1);
        }
    }

    #[test]
    fn corruption_inside_the_journal_is_an_error_naming_the_offset() {
        let (_, mut journal) = filled(20);
        let mid = journal.len() / 2;
        journal[mid] ^= 0xff;
        let e = replay(&journal, 100).err().expect("corruption is refused");
        assert!(e.contains("at byte"), "{e}");
        // a change before any snapshot, or a length beyond reason
        let s = Store::new(10);
        let mut t = Store::new(10);
        let change = t
            .apply(&Txn::ops(vec![
                Op::Count(KeyRange::Key("x".into())),
                Op::Put {
                    key: "x".into(),
                    value: vec![],
                    owner: None,
                    previous: false,
                },
            ]))
            .1
            .unwrap();
        assert!(replay(&encode(&Record::Change(change)), 10).is_err());
        let mut huge = snapshot_of(&s);
        huge.extend(u32::MAX.to_be_bytes());
        huge.extend([0u8; 4]);
        let e = replay(&huge, 10)
            .err()
            .expect("a length beyond reason is refused");
        assert!(e.contains("claims"), "{e}");
    }
}
