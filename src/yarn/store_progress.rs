//! What a running job's master says of its progress in the application's key-value store
//! (a stage job's rows and bytes, a query job's stages and rows out), shown by `spindle
//! submit --wait` beside YARN's percentage, which for a query says 0 until it ends.

use spindle_appmaster::kv::client::KvClient;
use spindle_appmaster::kv::store::KeyRange;
use spindle_appmaster::progress::PROGRESS_KEY;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// How long finding the master and proving the secret may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(3);
/// How long one read of the progress may take.
const READ_WITHIN: Duration = Duration::from_secs(2);
/// How soon a store out of reach is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// The application's store, reached when it can be; never in the way of following it.
pub(super) struct StoreProgress {
    app: String,
    client: Option<KvClient>,
    next_try: Instant,
}

impl StoreProgress {
    pub fn new(app: String) -> StoreProgress {
        StoreProgress {
            app,
            client: None,
            next_try: Instant::now(),
        }
    }

    /// The master's latest progress line, if the store can be reached and holds one.
    /// Bounded in time; a store out of reach is tried again only after [`RETRY_AFTER`].
    pub async fn latest(&mut self) -> Option<String> {
        if self.client.is_none() {
            if Instant::now() < self.next_try {
                return None;
            }
            self.next_try = Instant::now() + RETRY_AFTER;
            let connecting = crate::kv::client(&self.app);
            self.client = timeout(CONNECT_WITHIN, connecting).await.ok()?.ok();
        }
        let client = self.client.as_mut()?;
        let read = client.get(KeyRange::Key(PROGRESS_KEY.into()));
        match timeout(READ_WITHIN, read).await {
            Ok(Ok(entries)) => entries
                .into_iter()
                .next()
                .map(|(_, e)| String::from_utf8_lossy(&e.value).into_owned()),
            _ => {
                self.client = None;
                None
            }
        }
    }
}
