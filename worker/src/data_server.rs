//! Serves this worker's task results to its peers. A request names `(task, bucket)`
//! pairs; the reply is one frame per pair holding the encoded result, or an empty frame
//! when this worker does not hold it.

use crate::store::ResultStore;
use spindle_io::net::{accept_auth, decode_msg, read_frame, write_frame};
use spindle_job::wire::TaskId;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

pub type FetchRequest = Vec<(TaskId, u32)>;

pub async fn serve(listener: TcpListener, secret: Arc<str>, store: Arc<ResultStore>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let secret = secret.clone();
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &secret, &store).await {
                warn!(%peer, error = %e, "data request failed");
            }
        });
    }
}

async fn handle(
    mut stream: TcpStream,
    secret: &str,
    store: &ResultStore,
) -> Result<(), spindle_io::IoError> {
    stream.set_nodelay(true)?;
    accept_auth(&mut stream, secret).await?;
    while let Some(body) = read_frame(&mut stream).await? {
        let request: FetchRequest = decode_msg(&body)?;
        for (task, bucket) in request {
            let data = store.get(task, bucket)?;
            write_frame(&mut stream, data.as_deref().unwrap_or(&[])).await?;
        }
    }
    Ok(())
}
