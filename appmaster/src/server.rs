//! The master's endpoint for workers: authenticated connections carrying batched
//! messages both ways. Each connection gets a reader task feeding the driver's event
//! channel and a writer task draining that worker's outbox.

use spindle_io::net::{decode_msg, encode_msg, read_frame, serve_authenticated, write_frame, Role};
use spindle_job::wire::{ToMaster, ToWorker, WorkerId};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::debug;

pub(crate) enum ServerEvent {
    Joined {
        worker: WorkerId,
        host: String,
        data_addr: String,
        slots: u32,
        outbox: mpsc::UnboundedSender<Vec<ToWorker>>,
    },
    Message(WorkerId, ToMaster),
    Left(WorkerId),
}

pub(crate) async fn serve(
    listener: TcpListener,
    secret: Arc<str>,
    events: mpsc::UnboundedSender<ServerEvent>,
) {
    serve_authenticated(
        listener,
        secret,
        Role::Master,
        "worker connection failed",
        move |stream| handle(stream, events.clone()),
    )
    .await
}

async fn handle(
    stream: TcpStream,
    events: mpsc::UnboundedSender<ServerEvent>,
) -> Result<(), spindle_io::IoError> {
    let (mut reader, mut writer) = stream.into_split();
    let first = read_frame(&mut reader)
        .await?
        .ok_or_else(|| spindle_io::IoError::Protocol("closed before hello".into()))?;
    let mut msgs: Vec<ToMaster> = decode_msg(&first)?;
    let worker = match msgs.first() {
        Some(ToMaster::Hello {
            worker,
            host,
            data_addr,
            slots,
            ..
        }) => {
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<ToWorker>>();
            let _ = events.send(ServerEvent::Joined {
                worker: *worker,
                host: host.clone(),
                data_addr: data_addr.clone(),
                slots: *slots,
                outbox: tx,
            });
            tokio::spawn(async move {
                while let Some(mut batch) = rx.recv().await {
                    while let Ok(more) = rx.try_recv() {
                        batch.extend(more);
                    }
                    let Ok(body) = encode_msg(&batch) else { break };
                    if write_frame(&mut writer, &body).await.is_err() {
                        break;
                    }
                }
            });
            *worker
        }
        _ => {
            return Err(spindle_io::IoError::Protocol(
                "first message was not hello".into(),
            ))
        }
    };
    msgs.remove(0);
    for m in msgs {
        let _ = events.send(ServerEvent::Message(worker, m));
    }
    loop {
        match read_frame(&mut reader).await {
            Ok(Some(body)) => {
                let batch: Vec<ToMaster> = decode_msg(&body)?;
                for m in batch {
                    let _ = events.send(ServerEvent::Message(worker, m));
                }
            }
            Ok(None) | Err(_) => {
                debug!(worker, "worker connection closed");
                let _ = events.send(ServerEvent::Left(worker));
                return Ok(());
            }
        }
    }
}
