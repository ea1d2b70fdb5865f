//! The master's endpoint for workers: authenticated connections carrying batched
//! messages both ways. Each connection gets a reader task feeding the driver's event
//! channel and a writer task draining that worker's outbox. Whatever ends a connection
//! (a close, a malformed frame, silence past the timeout) is reported as the worker
//! leaving, so the driver always learns of it.

use spindle_io::channel::{Channel, ChannelReader, ChannelWriter, Wire};
use spindle_io::net::{
    decode_msg, encode_msg, read_frame_within, serve_authenticated, within, write_frame, Role,
};
use spindle_io::IoError;
use spindle_job::wire::{ToMaster, ToWorker, WorkerId};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

pub(crate) enum ServerEvent {
    Joined {
        worker: WorkerId,
        host: String,
        data_addr: String,
        slots: u32,
        outbox: mpsc::UnboundedSender<Vec<ToWorker>>,
    },
    Message(WorkerId, ToMaster),
    Left(WorkerId, String),
}

/// How often the master writes to an idle worker, and how long it waits for a word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    pub interval: Duration,
    pub timeout: Duration,
}

pub(crate) async fn serve(
    listener: TcpListener,
    secret: Arc<str>,
    wire: Wire,
    liveness: Liveness,
    events: mpsc::UnboundedSender<ServerEvent>,
) {
    serve_authenticated(
        listener,
        secret,
        Role::Master,
        wire,
        "worker connection failed",
        move |stream| handle(stream, liveness, events.clone()),
    )
    .await
}

async fn handle(
    stream: Channel,
    liveness: Liveness,
    events: mpsc::UnboundedSender<ServerEvent>,
) -> Result<(), IoError> {
    let (mut reader, writer) = stream.into_split();
    let first = read_frame_within(&mut reader, liveness.timeout)
        .await?
        .ok_or_else(|| IoError::Protocol("closed before hello".into()))?;
    let mut msgs: Vec<ToMaster> = decode_msg(&first)?;
    let Some(ToMaster::Hello {
        worker,
        host,
        data_addr,
        slots,
        ..
    }) = msgs.first().cloned()
    else {
        return Err(IoError::Protocol("first message was not hello".into()));
    };
    let (tx, rx) = mpsc::unbounded_channel::<Vec<ToWorker>>();
    let _ = events.send(ServerEvent::Joined {
        worker,
        host,
        data_addr,
        slots,
        outbox: tx,
    });
    tokio::spawn(write_batches(
        writer,
        rx,
        liveness.interval,
        liveness.timeout,
    ));
    msgs.remove(0);
    for m in msgs {
        let _ = events.send(ServerEvent::Message(worker, m));
    }
    let why = read_batches(&mut reader, worker, liveness.timeout, &events).await;
    debug!(worker, %why, "worker connection ended");
    let _ = events.send(ServerEvent::Left(worker, why));
    Ok(())
}

/// Forwards the worker's messages until the connection ends; returns why it ended.
async fn read_batches(
    reader: &mut ChannelReader,
    worker: WorkerId,
    timeout: Duration,
    events: &mpsc::UnboundedSender<ServerEvent>,
) -> String {
    loop {
        let body = match read_frame_within(reader, timeout).await {
            Ok(Some(body)) => body,
            Ok(None) => return "connection to worker closed".into(),
            Err(e) => return format!("connection to worker failed: {e}"),
        };
        match decode_msg::<Vec<ToMaster>>(&body) {
            Ok(batch) => {
                for m in batch {
                    let _ = events.send(ServerEvent::Message(worker, m));
                }
            }
            Err(e) => {
                warn!(worker, error = %e, "malformed message from worker");
                return format!("sent a malformed message ({e})");
            }
        }
    }
}

/// Sends the driver's batches as they come, and an empty batch when idle for
/// `interval`, so the worker knows the master is alive.
async fn write_batches(
    mut writer: ChannelWriter,
    mut rx: mpsc::UnboundedReceiver<Vec<ToWorker>>,
    interval: Duration,
    timeout: Duration,
) {
    loop {
        let batch = match tokio::time::timeout(interval, rx.recv()).await {
            Ok(Some(mut batch)) => {
                while let Ok(more) = rx.try_recv() {
                    batch.extend(more);
                }
                batch
            }
            Ok(None) => return,
            Err(_) => vec![],
        };
        let Ok(body) = encode_msg(&batch) else { return };
        // A worker that stops reading is lost by its silence; its writer ends too.
        if within(timeout, write_frame(&mut writer, &body))
            .await
            .is_err()
        {
            return;
        }
    }
}
