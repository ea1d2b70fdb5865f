//! The key-value store's endpoint: connections authenticated for [`Role::Kv`], one
//! request per frame, answered in order; a watch streams events until the client goes.

use super::service::KvService;
use super::wire::{KvReply, KvRequest};
use spindle_io::net::{
    decode_msg, encode_msg, read_frame_within, serve_authenticated, write_frame, Role,
};
use spindle_io::IoError;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// A client silent this long between requests is dropped.
const IDLE: Duration = Duration::from_secs(3600);
/// The longest `wait` served.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

pub async fn serve(listener: TcpListener, secret: Arc<str>, service: Arc<KvService>) {
    serve_authenticated(
        listener,
        secret,
        Role::Kv,
        "key-value client failed",
        move |s| handle(s, service.clone()),
    )
    .await
}

async fn handle(mut stream: TcpStream, service: Arc<KvService>) -> Result<(), IoError> {
    while let Some(body) = read_frame_within(&mut stream, IDLE).await? {
        let reply = match decode_msg::<KvRequest>(&body)? {
            KvRequest::Txn(txn) => match service.txn(&txn).await {
                Ok(r) => KvReply::Txn(r),
                Err(e) => KvReply::Error(e),
            },
            KvRequest::Wait { key, timeout_ms } => {
                let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
                KvReply::Waited(service.wait(&key, timeout).await)
            }
            KvRequest::Watch { range, after } => {
                return watch(stream, &service, range, after).await
            }
        };
        write_frame(&mut stream, &encode_msg(&reply)?).await?;
    }
    Ok(())
}

async fn watch(
    mut stream: TcpStream,
    service: &KvService,
    range: super::store::KeyRange,
    mut after: u64,
) -> Result<(), IoError> {
    let (mut reader, mut writer) = stream.split();
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
        write_frame(&mut writer, &encode_msg(&reply)?).await?;
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
        tokio::spawn(serve(listener, Arc::from(SECRET), service.clone()));
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
