//! The key-value store's endpoint: connections authenticated for [`Role::Kv`], one
//! request per frame, answered in order (a client may send many before reading); a watch
//! streams events until the client goes.

use super::service::KvService;
use super::store::Txn;
use super::wire::{KvReply, KvRequest};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use spindle_io::channel::{Channel, ChannelReader, ChannelWriter, Wire};
use spindle_io::net::{
    decode_msg, encode_msg, read_frame_within, serve_authenticated, within, write_frame, Role,
};
use spindle_io::spin::{spin_while, REQUEST_SPIN};
use spindle_io::IoError;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A client silent this long between requests is dropped.
const IDLE: Duration = Duration::from_secs(3600);
/// The longest `wait` served.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

pub async fn serve(listener: TcpListener, secret: Arc<str>, wire: Wire, service: Arc<KvService>) {
    serve_authenticated(
        listener,
        secret,
        Role::Kv,
        wire,
        "key-value client failed",
        move |s| handle(s, service.clone()),
    )
    .await
}

/// Requests in flight on one connection before it stops reading more.
const IN_FLIGHT: usize = 1024;

/// What the reading half hands over.
enum Incoming {
    Txn(Txn),
    Wait {
        key: String,
        timeout_ms: u64,
    },
    /// A watch: the connection serves it alone from here, so the reading half comes back.
    Watch(super::store::KeyRange, u64, Box<ChannelReader>),
}

/// How long one answer may take to go out: a client that stops reading (a stopped
/// process) would otherwise hold its connection's task and socket for good.
const SEND_WITHIN: Duration = Duration::from_secs(60);

async fn send<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    reply: &KvReply,
) -> Result<(), IoError> {
    within(SEND_WITHIN, write_frame(writer, &encode_msg(reply)?)).await
}

/// Serves requests as they come, without waiting for earlier answers: transactions are
/// applied in arrival order, and answers go back in that order, each once durable, so a
/// client that sends many puts at once has them committed in the same journal batch.
async fn handle(stream: Channel, service: Arc<KvService>) -> Result<(), IoError> {
    let (reader, mut writer) = stream.into_split();
    let (incoming, mut requests) = mpsc::channel(IN_FLIGHT);
    let reading = tokio::spawn(read_requests(reader, incoming, service.clone()));
    let mut answers: FuturesOrdered<BoxFuture<'static, KvReply>> = FuturesOrdered::new();
    let outcome = loop {
        tokio::select! {
            Some(reply) = answers.next(), if !answers.is_empty() => {
                send(&mut writer, &reply).await?;
            }
            next = requests.recv(), if answers.len() < IN_FLIGHT => match next {
                Some(Incoming::Txn(txn)) => answers.push_back(answer_txn(&service, txn)),
                Some(Incoming::Wait { key, timeout_ms }) => {
                    answers.push_back(answer_wait(&service, key, timeout_ms))
                }
                Some(Incoming::Watch(range, after, reader)) => break Some((range, after, reader)),
                None => break None,
            },
        }
    };
    while let Some(reply) = answers.next().await {
        send(&mut writer, &reply).await?;
    }
    match outcome {
        Some((range, after, reader)) => watch(*reader, writer, &service, range, after).await,
        None => reading.await.unwrap_or(Ok(())),
    }
}

/// Reads frames until the client goes, an error, or a watch.
async fn read_requests(
    mut reader: ChannelReader,
    incoming: mpsc::Sender<Incoming>,
    service: Arc<KvService>,
) -> Result<(), IoError> {
    let idle = || service.journal_idle();
    while let Some(body) =
        spin_while(read_frame_within(&mut reader, IDLE), REQUEST_SPIN, idle).await?
    {
        let next = match decode_msg::<KvRequest>(&body)? {
            KvRequest::Watch { range, after } => {
                let _ = incoming
                    .send(Incoming::Watch(range, after, Box::new(reader)))
                    .await;
                return Ok(());
            }
            KvRequest::Txn(txn) => Incoming::Txn(txn),
            KvRequest::Wait { key, timeout_ms } => Incoming::Wait { key, timeout_ms },
        };
        if incoming.send(next).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// A transaction's answer, once what it wrote or read is durable.
fn answer_txn(service: &Arc<KvService>, txn: Txn) -> BoxFuture<'static, KvReply> {
    let service = service.clone();
    match service.begin(&txn) {
        Ok(applied) => Box::pin(async move {
            match applied.durable(&service).await {
                Ok(r) => KvReply::Txn(r),
                Err(e) => KvReply::Error(e),
            }
        }),
        Err(e) => Box::pin(std::future::ready(KvReply::Error(e))),
    }
}

/// A wait's answer: the key once it exists, or nothing after the timeout.
fn answer_wait(
    service: &Arc<KvService>,
    key: String,
    timeout_ms: u64,
) -> BoxFuture<'static, KvReply> {
    let service = service.clone();
    Box::pin(async move {
        let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
        KvReply::Waited(service.wait(&key, timeout).await)
    })
}

async fn watch(
    mut reader: ChannelReader,
    mut writer: ChannelWriter,
    service: &KvService,
    range: super::store::KeyRange,
    mut after: u64,
) -> Result<(), IoError> {
    let mut gone = [0u8; 1];
    loop {
        let next = tokio::select! {
            // Anything from the client, or its end, stops the watch.
            _ = tokio::io::AsyncReadExt::read(&mut reader, &mut gone) => return Ok(()),
            next = service.next_events(&range, after) => next,
        };
        let reply = match next {
            Ok(events) if events.is_empty() => return Ok(()), // the store is shutting down
            Ok(events) => {
                after = events.last().map_or(after, |e| e.revision);
                KvReply::Events(events)
            }
            Err(c) => KvReply::Compacted {
                oldest: c.oldest,
                current: service.revision(),
            },
        };
        let done = matches!(reply, KvReply::Compacted { .. });
        send(&mut writer, &reply).await?;
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::client::KvClient;
    use crate::kv::journal::{replay, snapshot_of};
    use crate::kv::service::MemoryJournal;
    use crate::kv::store::{Condition, KeyRange, Op, Store, Txn};
    use std::time::Instant;

    const SECRET: &str = "app-secret";

    async fn start() -> (String, MemoryJournal, Arc<KvService>) {
        let journal = MemoryJournal::default();
        journal
            .0
            .lock()
            .unwrap()
            .extend(snapshot_of(&Store::new(100)));
        let service = KvService::new(Store::new(100), Box::new(journal.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(serve(
            listener,
            Arc::from(SECRET),
            Wire::Encrypted,
            service.clone(),
        ));
        (addr, journal, service)
    }

    #[tokio::test]
    async fn put_get_list_delete_and_a_transaction_over_the_wire() {
        let (addr, journal, _) = start().await;
        let mut c = KvClient::connect(&addr, SECRET).await.unwrap();
        assert_eq!(
            c.put("svc/a", b"10.0.0.1:80".to_vec(), None).await.unwrap(),
            1
        );
        c.put("svc/b", b"10.0.0.2:80".to_vec(), None).await.unwrap();
        c.put("other", vec![], None).await.unwrap();
        let got = c.get(KeyRange::Key("svc/a".into())).await.unwrap();
        assert_eq!(got[0].1.value, b"10.0.0.1:80");
        assert_eq!(
            c.list(KeyRange::Prefix("svc/".into())).await.unwrap(),
            ["svc/a", "svc/b"]
        );
        let lock = Txn {
            conditions: vec![Condition::Missing("svc/a".into())],
            on_success: vec![Op::Count(KeyRange::Prefix("".into()))],
            on_failure: vec![],
        };
        assert!(!c.txn(lock).await.unwrap().succeeded);
        assert_eq!(c.delete(KeyRange::Prefix("svc/".into())).await.unwrap(), 2);
        // every acknowledged change is in the journal, in order
        let bytes = journal.0.lock().unwrap().clone();
        let replayed = replay(&bytes, 100).unwrap();
        assert_eq!(replayed.store.revision(), 4);
        assert_eq!(replayed.store.len(), 1);
    }

    #[tokio::test]
    async fn wait_returns_when_the_key_is_put_and_times_out_otherwise() {
        let (addr, _, _) = start().await;
        let mut waiter = KvClient::connect(&addr, SECRET).await.unwrap();
        let started = Instant::now();
        let none = waiter
            .wait("nope", Duration::from_millis(300))
            .await
            .unwrap();
        assert!(none.is_none());
        assert!(started.elapsed() < Duration::from_secs(3));
        let waiting =
            tokio::spawn(
                async move { waiter.wait("ready", Duration::from_secs(30)).await.unwrap() },
            );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut putter = KvClient::connect(&addr, SECRET).await.unwrap();
        let put_at = Instant::now();
        putter.put("ready", b"yes".to_vec(), None).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiter wakes")
            .unwrap()
            .expect("with the value");
        assert_eq!(got.value, b"yes");
        assert!(put_at.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_watch_sees_puts_and_deletes_in_order_from_its_revision() {
        let (addr, _, _) = start().await;
        let mut c = KvClient::connect(&addr, SECRET).await.unwrap();
        c.put("w/1", b"a".to_vec(), None).await.unwrap(); // 1, before the watch
        let watcher = KvClient::connect(&addr, SECRET).await.unwrap();
        let mut w = watcher
            .watch(KeyRange::Prefix("w/".into()), 0)
            .await
            .unwrap();
        c.put("x", b"ignored".to_vec(), None).await.unwrap(); // 2
        c.put("w/2", b"b".to_vec(), None).await.unwrap(); // 3
        c.delete(KeyRange::Key("w/1".into())).await.unwrap(); // 4
        let mut seen = vec![];
        while seen.len() < 3 {
            for e in w.events(Duration::from_secs(5)).await.unwrap() {
                seen.push((e.revision, e.key, e.put.is_some()));
            }
        }
        assert_eq!(
            seen,
            [
                (1, "w/1".into(), true),
                (3, "w/2".into(), true),
                (4, "w/1".into(), false)
            ]
        );
    }

    /// A journal that takes 5 ms per append and counts them.
    #[derive(Clone, Default)]
    struct SlowJournal(Arc<std::sync::Mutex<usize>>);

    impl crate::kv::service::JournalSink for SlowJournal {
        fn append(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            *self.0.lock().unwrap() += 1;
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(())
            })
        }
        fn replace(&mut self, _: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn pipelined_puts_are_answered_in_order_and_share_journal_batches() {
        let journal = SlowJournal::default();
        let service = KvService::new(Store::new(100), Box::new(journal.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(serve(
            listener,
            Arc::from(SECRET),
            Wire::Authenticated,
            service.clone(),
        ));
        let mut c = KvClient::connect(&addr, SECRET).await.unwrap();
        let items: Vec<_> = (0..500)
            .map(|i| (format!("k/{i:03}"), vec![i as u8]))
            .collect();
        let started = Instant::now();
        assert_eq!(c.put_all(items, 64).await.unwrap(), 500);
        let appends = *journal.0.lock().unwrap();
        // One at a time, 500 appends of 5 ms would take 2.5 s.
        assert!(appends < 100, "{appends} journal appends for 500 puts");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let got = c.get(KeyRange::Prefix("k/".into())).await.unwrap();
        assert_eq!(got.len(), 500);
        assert_eq!(got[499].1.mod_revision, 500, "applied in the order sent");
        // The same connection can still turn into a watch.
        let mut w = c.watch(KeyRange::Prefix("k/".into()), 498).await.unwrap();
        let events = w.events(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.revision).collect::<Vec<_>>(),
            [499, 500]
        );
    }

    #[tokio::test]
    async fn a_client_without_the_secret_is_refused() {
        let (addr, _, service) = start().await;
        let started = Instant::now();
        let err = KvClient::connect(&addr, "a-guess")
            .await
            .err()
            .expect("refused");
        assert!(err.contains("secret"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(service.revision(), 0);
    }
}
