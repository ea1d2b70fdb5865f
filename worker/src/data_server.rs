//! Serves this worker's task results to its peers. A request names `(task, bucket)`
//! pairs; the reply is one result per pair, streamed by [`crate::transfer`], saying so
//! when this worker does not hold it.

use crate::store::ResultStore;
use crate::transfer::send_result;
use spindle_io::channel::{Channel, Wire};
use spindle_io::net::{decode_msg, read_frame_within, serve_authenticated, Role};
use spindle_job::wire::TaskId;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub type FetchRequest = Vec<(TaskId, u32)>;

/// Serves until the process ends; a peer silent for `idle` is dropped.
pub async fn serve(
    listener: TcpListener,
    secret: Arc<str>,
    wire: Wire,
    store: Arc<ResultStore>,
    idle: Duration,
) {
    serve_authenticated(
        listener,
        secret,
        Role::Data,
        wire,
        "data request failed",
        move |stream| handle(stream, store.clone(), idle),
    )
    .await
}

async fn handle(
    mut stream: Channel,
    store: Arc<ResultStore>,
    idle: Duration,
) -> Result<(), spindle_io::IoError> {
    while let Some(body) = read_frame_within(&mut stream, idle).await? {
        let request: FetchRequest = decode_msg(&body)?;
        for (task, bucket) in request {
            let data = store.get(task, bucket)?;
            send_result(&mut stream, data.as_deref(), idle).await?;
        }
    }
    Ok(())
}
