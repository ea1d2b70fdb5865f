//! A client of an application's key-value store, for the CLI and for containers.

use super::store::{Entry, Event, KeyRange, Op, OpResult, Revision, Txn, TxnResult};
use super::wire::{KvReply, KvRequest};
use spindle_io::channel::Channel;
use spindle_io::net::{
    connect_channel, decode_msg, encode_msg, read_frame_within, within, write_frame, Role,
};
use spindle_io::spin::{AdaptiveSpin, REPLY_SPIN};
use std::time::Duration;

/// How long a plain request may take, the journal write included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct KvClient {
    stream: Channel,
    replies: AdaptiveSpin,
}

impl KvClient {
    /// Connects to the store at `addr` (`host:port`) and proves `secret`; the store
    /// proves it back.
    pub async fn connect(addr: &str, secret: &str) -> Result<KvClient, String> {
        let stream = connect_channel(addr, secret, Role::Kv, REQUEST_TIMEOUT)
            .await
            .map_err(|e| format!("cannot reach the key-value store at {addr}: {e}"))?;
        Ok(KvClient {
            stream,
            replies: AdaptiveSpin::new(REPLY_SPIN),
        })
    }

    /// Sends `req`; a store that stops reading fails it after [`REQUEST_TIMEOUT`].
    async fn send(&mut self, req: &KvRequest) -> Result<(), String> {
        let body = encode_msg(req).map_err(|e| e.to_string())?;
        within(REQUEST_TIMEOUT, write_frame(&mut self.stream, &body))
            .await
            .map_err(|e| format!("sending to the key-value store: {e}"))
    }

    async fn request(&mut self, req: &KvRequest, within: Duration) -> Result<KvReply, String> {
        self.send(req).await?;
        self.reply(within).await
    }

    async fn reply(&mut self, within: Duration) -> Result<KvReply, String> {
        let frame = self
            .replies
            .wait(read_frame_within(&mut self.stream, within))
            .await
            .map_err(|e| format!("the key-value store: {e}"))?
            .ok_or("the key-value store closed the connection")?;
        match decode_msg(&frame).map_err(|e| e.to_string())? {
            KvReply::Error(e) => Err(e),
            reply => Ok(reply),
        }
    }

    pub async fn txn(&mut self, txn: Txn) -> Result<TxnResult, String> {
        match self.request(&KvRequest::Txn(txn), REQUEST_TIMEOUT).await? {
            KvReply::Txn(r) => Ok(r),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// The one answer of one operation.
    async fn op(&mut self, op: Op) -> Result<OpResult, String> {
        let mut r = self.txn(Txn::ops(vec![op])).await?;
        r.results.pop().ok_or_else(|| "no answer".to_string())
    }

    pub async fn get(&mut self, range: KeyRange) -> Result<Vec<(String, Entry)>, String> {
        match self.op(Op::Get(range)).await? {
            OpResult::Entries(e) => Ok(e),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    pub async fn list(&mut self, range: KeyRange) -> Result<Vec<String>, String> {
        match self.op(Op::List(range)).await? {
            OpResult::Keys(k) => Ok(k),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    pub async fn put(
        &mut self,
        key: &str,
        value: Vec<u8>,
        owner: Option<String>,
    ) -> Result<Revision, String> {
        let op = Op::Put {
            key: key.to_string(),
            value,
            owner,
            previous: false,
        };
        Ok(self.txn(Txn::ops(vec![op])).await?.revision)
    }

    /// Puts every `(key, value)` in order, keeping up to `window` requests on the wire
    /// at once, so that they share journal batches; returns the last revision.
    pub async fn put_all(
        &mut self,
        items: Vec<(String, Vec<u8>)>,
        window: usize,
    ) -> Result<Revision, String> {
        let window = window.max(1);
        let mut sent = 0;
        let mut answered = 0;
        let mut revision = 0;
        let total = items.len();
        let mut items = items.into_iter();
        while answered < total {
            while sent < total && sent - answered < window {
                let (key, value) = items.next().expect("counted");
                let op = Op::Put {
                    key,
                    value,
                    owner: None,
                    previous: false,
                };
                self.send(&KvRequest::Txn(Txn::ops(vec![op]))).await?;
                sent += 1;
            }
            match self.reply(REQUEST_TIMEOUT).await? {
                KvReply::Txn(r) => revision = r.revision,
                other => return Err(format!("unexpected answer {other:?}")),
            }
            answered += 1;
        }
        Ok(revision)
    }

    /// How many keys went.
    pub async fn delete(&mut self, range: KeyRange) -> Result<u64, String> {
        match self
            .op(Op::Delete {
                range,
                previous: false,
            })
            .await?
        {
            OpResult::Deleted(n, _) => Ok(n),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// The entry once `key` exists, or `None` after `timeout`.
    pub async fn wait(&mut self, key: &str, timeout: Duration) -> Result<Option<Entry>, String> {
        let req = KvRequest::Wait {
            key: key.to_string(),
            timeout_ms: timeout.as_millis() as u64,
        };
        match self.request(&req, timeout + REQUEST_TIMEOUT).await? {
            KvReply::Waited(e) => Ok(e),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// Starts watching `range` after revision `after`; read with [`KvClient::events`].
    pub async fn watch(mut self, range: KeyRange, after: Revision) -> Result<Watch, String> {
        self.send(&KvRequest::Watch { range, after }).await?;
        Ok(Watch { client: self })
    }
}

/// A watch in progress.
pub struct Watch {
    client: KvClient,
}

impl Watch {
    /// The next events, in order; an error once the store has forgotten some of them
    /// (the watcher must read the keys afresh) or cannot be reached.
    pub async fn events(&mut self, idle: Duration) -> Result<Vec<Event>, String> {
        match self.client.reply(idle).await? {
            KvReply::Events(e) => Ok(e),
            KvReply::Compacted { oldest, current } => Err(format!(
                "events before revision {oldest} are forgotten; read afresh at revision {current}"
            )),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }
}
