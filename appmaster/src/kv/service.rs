//! The store as the application master serves it: every change is made durable in the
//! journal before its writer hears back (group commit: changes that arrive while a batch
//! is written go in the next one), and waiters and watchers wake on each new revision.
//! Once the journal's history outweighs the state, a snapshot replaces it, so that a new
//! attempt's replay follows the store's size.

use super::journal::{self, worth_compacting, Record, COMPACT_AT_LEAST};
use super::store::{Change, Compacted, Entry, Event, KeyRange, Revision, Store, Txn, TxnResult};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, warn};

/// Where journal records go; each call returns once what it wrote is durable.
pub trait JournalSink: Send + 'static {
    /// Adds records at the end.
    fn append(&mut self, records: Vec<u8>) -> BoxFuture<'_, Result<(), String>>;
    /// Replaces the whole journal with `snapshot`, atomically: a reader finds either the
    /// old journal or the new one.
    fn replace(&mut self, snapshot: Vec<u8>) -> BoxFuture<'_, Result<(), String>>;
    /// Lets go of the journal (an open file): the application is ending.
    fn close(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A journal kept in memory, for tests and for runs that need no durability.
#[derive(Clone, Default)]
pub struct MemoryJournal(pub Arc<Mutex<Vec<u8>>>);

impl JournalSink for MemoryJournal {
    fn append(&mut self, records: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        self.0.lock().expect("journal poisoned").extend(records);
        Box::pin(async { Ok(()) })
    }

    fn replace(&mut self, snapshot: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        *self.0.lock().expect("journal poisoned") = snapshot;
        Box::pin(async { Ok(()) })
    }
}

/// How long one journal call may take before the journal counts as broken: Hadoop's own
/// RPC timeout (`ipc.client.rpc-timeout.ms`). A NameNode or DataNode that stops answering
/// would otherwise hold every writer, and the master's end, forever.
pub const JOURNAL_CALL_WITHIN: Duration = Duration::from_secs(120);

/// What the journal writer does, in the order the store changed.
enum Write {
    Append(Vec<u8>, oneshot::Sender<Result<(), String>>),
    /// A snapshot of the store taken after every append queued before it.
    Replace(Vec<u8>),
    /// Close the journal after what was queued before; nothing is written after.
    Close(oneshot::Sender<Result<(), String>>),
}

/// The store and what its journal holds.
struct State {
    store: Store,
    /// Bytes in the journal, and in the snapshot it starts with.
    journal_len: u64,
    snapshot_len: u64,
}

pub struct KvService {
    state: Mutex<State>,
    /// A journal this long (and four times its snapshot) is compacted.
    compact_at_least: u64,
    /// Set once an append fails: the store then holds a change the journal lacks, so it
    /// takes no more writes.
    broken: Mutex<Option<String>>,
    journal: mpsc::UnboundedSender<Write>,
    /// Changes queued for the journal and not yet acknowledged.
    unwritten: Arc<AtomicUsize>,
    revision: watch::Sender<Revision>,
}

impl KvService {
    /// Serves `store`, which `sink` holds as one snapshot (a new or a compacted journal).
    pub fn new(store: Store, sink: Box<dyn JournalSink>) -> Arc<KvService> {
        KvService::with_compaction(store, sink, COMPACT_AT_LEAST)
    }

    /// As [`KvService::new`], compacting once the journal reaches `at_least` bytes.
    pub fn with_compaction(
        store: Store,
        sink: Box<dyn JournalSink>,
        at_least: u64,
    ) -> Arc<KvService> {
        KvService::with_limits(store, sink, at_least, JOURNAL_CALL_WITHIN)
    }

    /// As [`KvService::with_compaction`], each journal call failing after `call_within`.
    pub fn with_limits(
        store: Store,
        sink: Box<dyn JournalSink>,
        at_least: u64,
        call_within: Duration,
    ) -> Arc<KvService> {
        let (journal, pending) = mpsc::unbounded_channel();
        let unwritten = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write_in_order(
            sink,
            call_within,
            pending,
            unwritten.clone(),
        ));
        let (revision, _) = watch::channel(store.revision());
        let snapshot_len = journal::snapshot_of(&store).len() as u64;
        Arc::new(KvService {
            state: Mutex::new(State {
                store,
                journal_len: snapshot_len,
                snapshot_len,
            }),
            compact_at_least: at_least,
            broken: Mutex::new(None),
            journal,
            unwritten,
            revision,
        })
    }

    /// Whether no change waits on the journal: then nothing here needs the CPU, and a
    /// connection may spin for its client's next request (see [`spindle_io::spin`]);
    /// while a batch is out, the DataNode that acknowledges it needs the CPU more.
    pub fn journal_idle(&self) -> bool {
        self.unwritten.load(Ordering::Relaxed) == 0
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("store poisoned")
    }

    /// Queues `change` for the journal (and a snapshot after it, when one is due). Called
    /// under the state's lock, so the journal holds changes in revision order.
    fn queue(&self, state: &mut State, change: Change) -> oneshot::Receiver<Result<(), String>> {
        let bytes = journal::encode(&Record::Change(change));
        state.journal_len += bytes.len() as u64;
        let (tx, rx) = oneshot::channel();
        self.unwritten.fetch_add(1, Ordering::Relaxed);
        let _ = self.journal.send(Write::Append(bytes, tx));
        if worth_compacting(state.journal_len, state.snapshot_len, self.compact_at_least) {
            let snapshot = journal::snapshot_of(&state.store);
            state.snapshot_len = snapshot.len() as u64;
            state.journal_len = state.snapshot_len;
            let _ = self.journal.send(Write::Replace(snapshot));
        }
        rx
    }

    /// Waits for a queued change to be durable, then wakes waiters and watchers.
    async fn settle(
        &self,
        durable: oneshot::Receiver<Result<(), String>>,
        revision: Revision,
    ) -> Result<(), String> {
        let written = durable
            .await
            .unwrap_or_else(|_| Err("the journal writer stopped".to_string()));
        if let Err(e) = written {
            let why = format!("the journal cannot be written: {e}");
            self.broken
                .lock()
                .expect("poisoned")
                .get_or_insert(why.clone());
            // Readers waiting for durability learn that it will not come.
            self.revision.send_modify(|_| {});
            return Err(why);
        }
        // Batches are acknowledged in journal order: this revision being durable means
        // every earlier one is. Tasks may get here out of order; keep the highest.
        self.revision.send_if_modified(|durable| {
            let newer = revision > *durable;
            if newer {
                *durable = revision;
            }
            newer
        });
        Ok(())
    }

    /// Returns once `revision` is in the journal, so that nothing a reader is shown can
    /// be lost with the master; an error if the journal broke.
    async fn durable_at(&self, revision: Revision) -> Result<(), String> {
        let mut durable = self.revision.subscribe();
        loop {
            if *durable.borrow_and_update() >= revision {
                return Ok(());
            }
            self.refuse_if_broken()?;
            if durable.changed().await.is_err() {
                return Err("the store is shutting down".into());
            }
        }
    }

    fn refuse_if_broken(&self) -> Result<(), String> {
        match self.broken.lock().expect("poisoned").clone() {
            Some(why) => Err(format!("the store takes no writes: {why}")),
            None => Ok(()),
        }
    }

    /// Runs a transaction; answers once what it wrote is durable.
    pub async fn txn(&self, txn: &Txn) -> Result<TxnResult, String> {
        self.begin(txn)?.durable(self).await
    }

    /// Applies a transaction now, in the order of calls; its result may be given out
    /// only once [`Applied::durable`] returns. A connection that sends many requests
    /// without waiting applies them in order and answers each as it becomes durable.
    pub fn begin(&self, txn: &Txn) -> Result<Applied, String> {
        self.refuse_if_broken()?;
        let mut state = self.state();
        let (result, change) = state.store.apply(txn);
        // What a transaction that writes nothing read may include writes still on their
        // way to the journal: it answers once they are there.
        let read_at = state.store.revision();
        let durable = change.map(|c| self.queue(&mut state, c));
        Ok(Applied {
            result,
            durable,
            read_at,
        })
    }

    /// Deletes the keys a container owned; it has ended.
    pub async fn drop_owner(&self, owner: &str) -> Result<(), String> {
        self.refuse_if_broken()?;
        let durable = {
            let mut state = self.state();
            let change = state.store.drop_owner(owner);
            change.map(|c| (c.revision, self.queue(&mut state, c)))
        };
        if let Some((revision, rx)) = durable {
            self.settle(rx, revision).await?;
        }
        Ok(())
    }

    /// The entry at `key` once it exists, or `None` after `timeout`.
    pub async fn wait(&self, key: &str, timeout: Duration) -> Option<Entry> {
        let mut changed = self.revision.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.state().store.get(key).cloned();
            if let Some(e) = found {
                // Shown once it cannot be lost.
                let durable = self.durable_at(e.mod_revision);
                return match tokio::time::timeout_at(deadline, durable).await {
                    Ok(Ok(())) => Some(e),
                    _ => None,
                };
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
        let mut after = after;
        loop {
            // Only events already in the journal: a watcher never sees one that a new
            // master attempt would not have.
            let durable = *changed.borrow_and_update();
            let mut events = self.state().store.events_since(range, after)?;
            events.retain(|e| e.revision <= durable);
            if !events.is_empty() {
                return Ok(events);
            }
            // Nothing of ours up to `durable`: the next look starts there, so a quiet
            // range costs each revision its own events, not the whole history again.
            after = after.max(durable);
            if changed.changed().await.is_err() {
                return Ok(vec![]);
            }
        }
    }

    pub fn revision(&self) -> Revision {
        self.state().store.revision()
    }

    /// The entry at `key` as applied, perhaps not yet durable: for the master's own
    /// checks (a heartbeat's revision), never for an answer to a client.
    pub fn peek(&self, key: &str) -> Option<Entry> {
        self.state().store.get(key).cloned()
    }

    /// Closes the journal once what was queued is durable; later writes fail. For the
    /// end of the application, so its file is left whole rather than open.
    pub async fn close(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.broken
            .lock()
            .expect("poisoned")
            .get_or_insert("the application is ending".into());
        if self.journal.send(Write::Close(tx)).is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }
}

/// A transaction applied to the store, with its journal write under way.
pub struct Applied {
    result: TxnResult,
    durable: Option<oneshot::Receiver<Result<(), String>>>,
    /// The store's revision when it was applied.
    read_at: Revision,
}

impl Applied {
    /// The result, once what the transaction wrote, or read, is in the journal.
    pub async fn durable(self, service: &KvService) -> Result<TxnResult, String> {
        match self.durable {
            Some(rx) => service.settle(rx, self.result.revision).await?,
            None => service.durable_at(self.read_at).await?,
        }
        Ok(self.result)
    }
}

/// `call`'s result, or an error naming `what` once `within` has passed.
async fn bounded(
    what: &str,
    within: Duration,
    call: BoxFuture<'_, Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(within, call)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the journal's {what} had no answer within {} s",
                within.as_secs_f64()
            ))
        })
}

/// Carries out queued writes in order, appending every run of changes in one batch and
/// acknowledging each once it is durable.
async fn write_in_order(
    mut sink: Box<dyn JournalSink>,
    within: Duration,
    mut pending: mpsc::UnboundedReceiver<Write>,
    unwritten: Arc<AtomicUsize>,
) {
    while let Some(first) = pending.recv().await {
        let mut queued = vec![first];
        while let Ok(more) = pending.try_recv() {
            queued.push(more);
        }
        let mut records = vec![];
        let mut acks = vec![];
        let mut closing = None;
        for write in queued {
            match write {
                Write::Append(bytes, ack) => {
                    records.extend(bytes);
                    acks.push(ack);
                }
                // The snapshot holds every change queued before it: it stands in for
                // their records, and if it cannot be written, they are appended instead.
                Write::Replace(snapshot) => {
                    match bounded("snapshot", within, sink.replace(snapshot)).await {
                        Ok(()) => {
                            records.clear();
                            acknowledge(&mut acks, Ok(()), &unwritten);
                        }
                        Err(e) => warn!(error = %e, "cannot compact the key-value journal"),
                    }
                }
                Write::Close(ack) => {
                    closing = Some(ack);
                    break;
                }
            }
        }
        if !acks.is_empty() {
            let result = bounded("append", within, sink.append(records)).await;
            if let Err(e) = &result {
                error!(error = %e, "cannot append to the key-value journal");
            }
            acknowledge(&mut acks, result, &unwritten);
        }
        if let Some(ack) = closing {
            let _ = ack.send(bounded("close", within, sink.close()).await);
            return;
        }
    }
}

fn acknowledge(
    acks: &mut Vec<oneshot::Sender<Result<(), String>>>,
    result: Result<(), String>,
    unwritten: &AtomicUsize,
) {
    unwritten.fetch_sub(acks.len(), Ordering::Relaxed);
    for ack in acks.drain(..) {
        let _ = ack.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::journal::replay;
    use crate::kv::store::Op;

    fn put(key: String, value: Vec<u8>) -> Txn {
        Txn::ops(vec![Op::Put {
            key,
            value,
            owner: None,
            previous: false,
        }])
    }

    /// An empty store over a new in-memory journal, compacted from `at_least` bytes.
    fn fresh(at_least: u64) -> (MemoryJournal, Arc<KvService>) {
        let journal = MemoryJournal::default();
        let store = Store::new(100);
        journal
            .0
            .lock()
            .unwrap()
            .extend(journal::snapshot_of(&store));
        let service = KvService::with_compaction(store, Box::new(journal.clone()), at_least);
        (journal, service)
    }

    /// Records what the writer did with the journal, in order.
    #[derive(Clone, Default)]
    struct Calls(Arc<Mutex<Vec<&'static str>>>);

    impl JournalSink for Calls {
        fn append(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            self.0.lock().unwrap().push("append");
            Box::pin(async { Ok(()) })
        }
        fn replace(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            self.0.lock().unwrap().push("replace");
            Box::pin(async { Ok(()) })
        }
        fn close(&mut self) -> BoxFuture<'_, Result<(), String>> {
            self.0.lock().unwrap().push("close");
            Box::pin(async { Ok(()) })
        }
    }

    /// A journal whose appends (after the first `free` ones) wait until released.
    #[derive(Clone)]
    struct Gated(Arc<tokio::sync::Semaphore>);

    impl JournalSink for Gated {
        fn append(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            let gate = self.0.clone();
            Box::pin(async move {
                gate.acquire().await.expect("gate open").forget();
                Ok(())
            })
        }
        fn replace(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn the_journal_is_idle_only_when_every_change_is_acknowledged() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let service = KvService::new(Store::new(100), Box::new(Gated(gate.clone())));
        assert!(service.journal_idle());
        let first = service.begin(&put("a".into(), vec![1])).unwrap();
        let second = service.begin(&put("b".into(), vec![2])).unwrap();
        assert!(!service.journal_idle(), "two changes wait on the journal");
        gate.add_permits(2);
        first.durable(&service).await.unwrap();
        second.durable(&service).await.unwrap();
        assert!(service.journal_idle());
    }

    #[tokio::test]
    async fn readers_see_only_what_is_in_the_journal() {
        let gate = Arc::new(tokio::sync::Semaphore::new(1));
        let service = KvService::new(Store::new(100), Box::new(Gated(gate.clone())));
        service.txn(&put("a".into(), vec![1])).await.unwrap();
        // The second put is applied but its append waits at the gate.
        let pending = service.begin(&put("a".into(), vec![2])).unwrap();
        let get = Txn::ops(vec![Op::Get(KeyRange::Key("a".into()))]);
        let read = service.begin(&get).unwrap().durable(&service);
        let waited = service.wait("a", Duration::from_secs(5));
        let key_a = KeyRange::Key("a".into());
        let watched = service.next_events(&key_a, 1);
        tokio::pin!(read, waited, watched);
        let not_yet = tokio::time::timeout(Duration::from_millis(100), &mut read).await;
        assert!(
            not_yet.is_err(),
            "a read answered before the write it saw was durable"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut watched)
                .await
                .is_err(),
            "a watcher saw an event not yet in the journal"
        );
        gate.add_permits(1);
        assert_eq!(pending.durable(&service).await.unwrap().revision, 2);
        let r = read.await.unwrap();
        assert!(
            matches!(&r.results[0], crate::kv::store::OpResult::Entries(e) if e[0].1.value == [2])
        );
        assert_eq!(waited.await.unwrap().value, [2]);
        assert_eq!(watched.await.unwrap()[0].revision, 2);
    }

    #[tokio::test]
    async fn closing_writes_what_was_queued_then_takes_no_more_writes() {
        let calls = Calls::default();
        let service = KvService::new(Store::new(100), Box::new(calls.clone()));
        let queued = service.begin(&put("a".into(), vec![1])).unwrap();
        service.close().await.unwrap();
        assert_eq!(queued.durable(&service).await.unwrap().revision, 1);
        assert_eq!(*calls.0.lock().unwrap(), ["append", "close"]);
        let refused = service.txn(&put("b".into(), vec![2])).await.unwrap_err();
        assert!(refused.contains("ending"), "{refused}");
    }

    #[tokio::test]
    async fn a_long_history_is_compacted_and_replays_to_the_same_store() {
        let (journal, service) = fresh(4096);
        let mut longest = 0;
        for i in 0..2000u32 {
            // ten keys, rewritten over and over: history grows, the state does not
            let r = service
                .txn(&put(format!("k/{}", i % 10), i.to_be_bytes().to_vec()))
                .await;
            assert_eq!(r.unwrap().revision, i as u64 + 1);
            longest = longest.max(journal.0.lock().unwrap().len());
        }
        assert!(
            longest < 8192,
            "the journal stayed small: {longest} bytes at most"
        );
        let bytes = journal.0.lock().unwrap().clone();
        let replayed = replay(&bytes, 100).unwrap();
        assert_eq!(replayed.store.revision(), 2000);
        assert_eq!(replayed.store.snapshot(), service.state().store.snapshot());
    }

    #[tokio::test]
    async fn a_watcher_on_a_quiet_range_gets_the_first_event_in_it_after_many_elsewhere() {
        let (_journal, service) = fresh(1 << 20);
        let watcher = {
            let s = service.clone();
            tokio::spawn(async move { s.next_events(&KeyRange::Prefix("q/".into()), 0).await })
        };
        for i in 0..50u32 {
            service
                .txn(&put(format!("busy/{i}"), vec![1]))
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
        service.txn(&put("q/1".into(), vec![2])).await.unwrap();
        let events = tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .expect("the watcher woke")
            .unwrap()
            .unwrap();
        let seen: Vec<_> = events
            .iter()
            .map(|e| (e.revision, e.key.as_str()))
            .collect();
        assert_eq!(seen, [(51, "q/1")]);
    }

    /// A journal that never answers: a NameNode or DataNode that stopped.
    struct Silent;

    impl JournalSink for Silent {
        fn append(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(futures::future::pending())
        }
        fn replace(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(futures::future::pending())
        }
        fn close(&mut self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test]
    async fn a_journal_that_never_answers_breaks_the_store_and_its_close_within_bounds() {
        let within = Duration::from_millis(200);
        let service = KvService::with_limits(Store::new(100), Box::new(Silent), 1 << 20, within);
        let started = std::time::Instant::now();
        let err = service.txn(&put("a".into(), vec![1])).await.unwrap_err();
        assert!(err.contains("append had no answer within 0.2 s"), "{err}");
        assert!(started.elapsed() < within * 5, "{:?}", started.elapsed());
        // Later writes are refused at once; the close fails within its own bound.
        let err = service.txn(&put("b".into(), vec![2])).await.unwrap_err();
        assert!(err.contains("takes no writes"), "{err}");
        let started = std::time::Instant::now();
        let err = service.close().await.unwrap_err();
        assert!(err.contains("close had no answer"), "{err}");
        assert!(started.elapsed() < within * 5, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn concurrent_writers_land_in_the_journal_in_revision_order() {
        let (journal, service) = fresh(2048);
        let mut tasks = vec![];
        for w in 0..8u32 {
            let s = service.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100u32 {
                    s.txn(&put(format!("w{w}/{}", i % 3), vec![i as u8]))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // replay refuses a journal whose revisions go back
        let bytes = journal.0.lock().unwrap().clone();
        let replayed = replay(&bytes, 100).unwrap();
        assert_eq!(replayed.store.revision(), 800);
        assert_eq!(replayed.store.snapshot(), service.state().store.snapshot());
    }
}
