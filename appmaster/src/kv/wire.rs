//! What KV clients and the application master say to each other, one request per frame
//! on a connection authenticated for [`spindle_io::net::Role::Kv`].

use super::store::{Entry, Event, KeyRange, Revision, Txn, TxnResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KvRequest {
    Txn(Txn),
    /// Answers when `key` exists, or with `None` after `timeout_ms`.
    Wait {
        key: String,
        timeout_ms: u64,
    },
    /// Streams the events on `range` after revision `after`, in order, until the client
    /// goes; the connection serves nothing else from then on.
    Watch {
        range: KeyRange,
        after: Revision,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KvReply {
    Txn(TxnResult),
    Waited(Option<Entry>),
    Events(Vec<Event>),
    /// The watch started before the oldest revision remembered; read the keys afresh and
    /// watch from the current revision.
    Compacted {
        oldest: Revision,
        current: Revision,
    },
    Error(String),
}
