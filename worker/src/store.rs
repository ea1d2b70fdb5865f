//! Task results held by this worker until no dependent needs them: encoded bytes in
//! memory, spilled (already lz4-framed) to the local directory when memory passes the
//! limit, oldest first.

use bytes::Bytes;
use spindle_job::wire::TaskId;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;

type Key = (TaskId, u32);

enum Entry {
    Memory(Bytes),
    Disk(PathBuf),
}

struct Inner {
    entries: HashMap<Key, Entry>,
    order: VecDeque<Key>,
    in_memory: u64,
    spilled_bytes: u64,
}

pub struct ResultStore {
    inner: Mutex<Inner>,
    limit: u64,
    dir: PathBuf,
}

impl ResultStore {
    pub fn new(limit: u64, dir: PathBuf) -> ResultStore {
        ResultStore {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                in_memory: 0,
                spilled_bytes: 0,
            }),
            limit,
            dir,
        }
    }

    /// Stores one bucket of a task's result, spilling older results if over the limit;
    /// returns how many bytes this spilled to disk.
    pub fn put(&self, task: TaskId, bucket: u32, data: Bytes) -> std::io::Result<u64> {
        let mut spilled = 0;
        let mut inner = self.inner.lock().expect("store lock");
        inner.in_memory += data.len() as u64;
        if let Some(Entry::Memory(old)) = inner.entries.insert((task, bucket), Entry::Memory(data))
        {
            inner.in_memory -= old.len() as u64;
        }
        inner.order.push_back((task, bucket));
        while inner.in_memory > self.limit {
            let Some(key) = inner.order.pop_front() else {
                break;
            };
            if let Some(Entry::Memory(bytes)) = inner.entries.get(&key) {
                let bytes = bytes.clone();
                std::fs::create_dir_all(&self.dir)?;
                let path = self.dir.join(format!("{}-{}.spill", key.0, key.1));
                std::fs::write(&path, &bytes)?;
                inner.in_memory -= bytes.len() as u64;
                inner.spilled_bytes += bytes.len() as u64;
                spilled += bytes.len() as u64;
                inner.entries.insert(key, Entry::Disk(path));
            }
        }
        Ok(spilled)
    }

    /// One bucket's bytes, or `None` if this worker does not hold it.
    pub fn get(&self, task: TaskId, bucket: u32) -> std::io::Result<Option<Bytes>> {
        let path = {
            let inner = self.inner.lock().expect("store lock");
            match inner.entries.get(&(task, bucket)) {
                None => return Ok(None),
                Some(Entry::Memory(b)) => return Ok(Some(b.clone())),
                Some(Entry::Disk(p)) => p.clone(),
            }
        };
        Ok(Some(Bytes::from(std::fs::read(path)?)))
    }

    /// Drops every bucket of `task`.
    pub fn release(&self, task: TaskId) {
        let mut inner = self.inner.lock().expect("store lock");
        let keys: Vec<Key> = inner
            .entries
            .keys()
            .filter(|k| k.0 == task)
            .copied()
            .collect();
        for k in keys {
            match inner.entries.remove(&k) {
                Some(Entry::Memory(b)) => inner.in_memory -= b.len() as u64,
                Some(Entry::Disk(p)) => {
                    let _ = std::fs::remove_file(p);
                }
                None => {}
            }
        }
        inner.order.retain(|k| k.0 != task);
    }

    #[cfg(test)]
    pub fn spilled_bytes(&self) -> u64 {
        self.inner.lock().expect("store lock").spilled_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_oldest_past_the_limit_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::new(10, dir.path().to_path_buf());
        store.put(1, 0, Bytes::from_static(b"aaaaaaaa")).unwrap();
        store.put(2, 0, Bytes::from_static(b"bbbbbbbb")).unwrap();
        assert_eq!(store.spilled_bytes(), 8);
        assert_eq!(
            store.get(1, 0).unwrap().unwrap(),
            Bytes::from_static(b"aaaaaaaa")
        );
        assert_eq!(
            store.get(2, 0).unwrap().unwrap(),
            Bytes::from_static(b"bbbbbbbb")
        );
        store.release(1);
        assert!(store.get(1, 0).unwrap().is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
