//! The store as the application master serves it: every change is made durable in the
//! journal before its writer hears back (group commit: changes that arrive while a batch
//! is written go in the next one), and waiters and watchers wake on each new revision.

use super::journal::{self, Record};
use super::store::{
    Compacted, Entry, Event, KeyRange, Op, OpResult, Revision, Store, Txn, TxnResult,
};
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::error;

/// Where journal records go; `append` returns once they are durable.
pub trait JournalSink: Send + 'static {
    fn append(&mut self, records: Vec<u8>) -> BoxFuture<'_, Result<(), String>>;
}

/// A journal kept in memory, for tests and for runs that need no durability.
#[derive(Clone, Default)]
pub struct MemoryJournal(pub Arc<Mutex<Vec<u8>>>);

impl JournalSink for MemoryJournal {
    fn append(&mut self, records: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        self.0.lock().expect("journal poisoned").extend(records);
        Box::pin(async { Ok(()) })
    }
}

type Pending = (Vec<u8>, oneshot::Sender<Result<(), String>>);

pub struct KvService {
    store: Mutex<Store>,
    /// Set once an append fails: the store then holds a change the journal lacks, so it
    /// takes no more writes.
    broken: Mutex<Option<String>>,
    journal: mpsc::UnboundedSender<Pending>,
    revision: watch::Sender<Revision>,
}

impl KvService {
    /// Serves `store` (fresh, or replayed from the journal `sink` continues).
    pub fn new(store: Store, sink: Box<dyn JournalSink>) -> Arc<KvService> {
        let (journal, pending) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(sink, pending));
        let (revision, _) = watch::channel(store.revision());
        Arc::new(KvService {
            store: Mutex::new(store),
            broken: Mutex::new(None),
            journal,
            revision,
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().expect("store poisoned")
    }

    /// Runs a transaction; answers once what it wrote is durable.
    pub async fn txn(&self, txn: &Txn) -> Result<TxnResult, String> {
        if let Some(why) = self.broken.lock().expect("poisoned").clone() {
            return Err(format!("the store takes no writes: {why}"));
        }
        let (result, durable) = {
            let mut store = self.store();
            let (result, change) = store.apply(txn);
            // Queued under the lock, so the journal holds changes in revision order.
            let durable = change.map(|c| {
                let (tx, rx) = oneshot::channel();
                let _ = self.journal.send((journal::encode(&Record::Change(c)), tx));
                rx
            });
            (result, durable)
        };
        if let Some(rx) = durable {
            let written = rx
                .await
                .unwrap_or_else(|_| Err("the journal writer stopped".to_string()));
            if let Err(e) = written {
                let why = format!("the journal cannot be written: {e}");
                self.broken
                    .lock()
                    .expect("poisoned")
                    .get_or_insert(why.clone());
                return Err(why);
            }
            self.revision.send_replace(result.revision);
        }
        Ok(result)
    }

    /// Deletes the keys a container owned; it has ended.
    pub async fn drop_owner(&self, owner: &str) -> Result<(), String> {
        let durable = {
            let mut store = self.store();
            store.drop_owner(owner).map(|c| {
                let revision = c.revision;
                let (tx, rx) = oneshot::channel();
                let _ = self.journal.send((journal::encode(&Record::Change(c)), tx));
                (revision, rx)
            })
        };
        if let Some((revision, rx)) = durable {
            rx.await
                .map_err(|_| "the journal writer stopped".to_string())??;
            self.revision.send_replace(revision);
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<Entry> {
        let txn = Txn::ops(vec![Op::Get(KeyRange::Key(key.to_string()))]);
        match self.store().apply(&txn).0.results.pop() {
            Some(OpResult::Entries(mut e)) => e.pop().map(|(_, e)| e),
            _ => None,
        }
    }

    /// The entry at `key` once it exists, or `None` after `timeout`.
    pub async fn wait(&self, key: &str, timeout: Duration) -> Option<Entry> {
        let mut changed = self.revision.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.get(key) {
                return Some(e);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// Events on `range` after `after`, waiting for the next revision when there are
    /// none yet.
    pub async fn next_events(
        &self,
        range: &KeyRange,
        after: Revision,
    ) -> Result<Vec<Event>, Compacted> {
        let mut changed = self.revision.subscribe();
        loop {
            let events = self.store().events_since(range, after)?;
            if !events.is_empty() {
                return Ok(events);
            }
            if changed.changed().await.is_err() {
                return Ok(vec![]);
            }
        }
    }

    pub fn revision(&self) -> Revision {
        self.store().revision()
    }
}

/// Writes queued records in batches, acknowledging each after its batch is durable.
async fn write_batches(
    mut sink: Box<dyn JournalSink>,
    mut pending: mpsc::UnboundedReceiver<Pending>,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = pending.try_recv() {
            batch.push(more);
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|(b, _)| b.iter().copied()).collect();
        let result = sink.append(bytes).await;
        if let Err(e) = &result {
            error!(error = %e, "cannot append to the key-value journal");
        }
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}
