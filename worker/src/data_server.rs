//! Serves this worker's task results to its peers. A request names `(task, bucket)`
//! pairs; the reply is one frame per pair holding the encoded result, or an empty frame
//! when this worker does not hold it.

use crate::store::ResultStore;
use spindle_io::net::{decode_msg, read_frame, serve_authenticated, write_frame, Role};
use spindle_job::wire::TaskId;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

pub type FetchRequest = Vec<(TaskId, u32)>;

pub async fn serve(listener: TcpListener, secret: Arc<str>, store: Arc<ResultStore>) {
    serve_authenticated(
        listener,
        secret,
        Role::Data,
        "data request failed",
        move |stream| handle(stream, store.clone()),
    )
    .await
}

async fn handle(mut stream: TcpStream, store: Arc<ResultStore>) -> Result<(), spindle_io::IoError> {
    while let Some(body) = read_frame(&mut stream).await? {
        let request: FetchRequest = decode_msg(&body)?;
        for (task, bucket) in request {
            let data = store.get(task, bucket)?;
            write_frame(&mut stream, data.as_deref().unwrap_or(&[])).await?;
        }
    }
    Ok(())
}
