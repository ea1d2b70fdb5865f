//! Connection behaviour against a scripted fake server on 127.0.0.1: out-of-order
//! replies, remote errors as data, and every waiting call failing on disconnect.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::frame::{encode_packet, read_packet, CONNECTION_CONTEXT_CALL_ID};
use super::{Auth, Connection, ConnectionOptions};
use crate::proto::common::{
    rpc_response_header_proto::RpcStatusProto, IpcConnectionContextProto, RequestHeaderProto,
    RpcRequestHeaderProto, RpcResponseHeaderProto,
};
use crate::proto::yarn::ApplicationIdProto;
use crate::Error;

const PROTOCOL: &str = "test.Protocol";

struct Call {
    id: i32,
    method: String,
    body: ApplicationIdProto,
}

async fn read_call(s: &mut TcpStream) -> Option<Call> {
    let mut p: Bytes = read_packet(s).await.unwrap()?;
    let h = RpcRequestHeaderProto::decode_length_delimited(&mut p).unwrap();
    let rh = RequestHeaderProto::decode_length_delimited(&mut p).unwrap();
    assert_eq!(rh.declaring_class_protocol_name, PROTOCOL);
    assert_eq!(rh.client_protocol_version, 1);
    assert_eq!(h.client_id.len(), 16);
    assert_eq!(h.retry_count, Some(0));
    Some(Call {
        id: h.call_id,
        method: rh.method_name,
        body: ApplicationIdProto::decode_length_delimited(&mut p).unwrap(),
    })
}

async fn reply(s: &mut TcpStream, call: &Call) {
    let packet = if call.method == "boom" {
        let h = RpcResponseHeaderProto {
            call_id: call.id as u32,
            status: RpcStatusProto::Error as i32,
            exception_class_name: Some("java.io.FileNotFoundException".into()),
            error_msg: Some("no such thing\n\tat Foo.bar".into()),
            ..Default::default()
        };
        encode_packet(&[&h])
    } else {
        let h = RpcResponseHeaderProto {
            call_id: call.id as u32,
            status: RpcStatusProto::Success as i32,
            ..Default::default()
        };
        encode_packet(&[&h, &call.body])
    };
    s.write_all(&packet).await.unwrap();
}

/// Accepts one client, checks the preamble and context, answers the first three calls
/// in reverse order, then reads a fourth call and hangs up without answering.
async fn fake_server(listener: TcpListener) {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut preamble = [0u8; 7];
    s.read_exact(&mut preamble).await.unwrap();
    assert_eq!(&preamble, b"hrpc\x09\x00\x00");
    let mut ctx = read_packet(&mut s).await.unwrap().unwrap();
    let h = RpcRequestHeaderProto::decode_length_delimited(&mut ctx).unwrap();
    assert_eq!(h.call_id, CONNECTION_CONTEXT_CALL_ID);
    let c = IpcConnectionContextProto::decode_length_delimited(&mut ctx).unwrap();
    assert_eq!(c.protocol.as_deref(), Some(PROTOCOL));
    assert_eq!(
        c.user_info.unwrap().effective_user.as_deref(),
        Some("alice")
    );

    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(read_call(&mut s).await.unwrap());
    }
    for call in calls.iter().rev() {
        reply(&mut s, call).await;
    }
    let _unanswered = read_call(&mut s).await.unwrap();
    drop(s);
}

fn options() -> ConnectionOptions {
    ConnectionOptions {
        protocol: PROTOCOL.into(),
        auth: Auth::Simple {
            user: "alice".into(),
            real_user: None,
        },
        protection: Default::default(),
        connect_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(2),
    }
}

fn app(id: i32) -> ApplicationIdProto {
    ApplicationIdProto {
        id: Some(id),
        cluster_timestamp: Some(42),
    }
}

#[tokio::test]
async fn multiplexes_calls_and_fails_waiters_on_disconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(fake_server(listener));
    let conn = Connection::connect(&addr, options()).await.unwrap();

    let (r1, r2, r3) = (app(1), app(2), app(3));
    let (a, b, c) = tokio::join!(
        conn.call::<_, ApplicationIdProto>(PROTOCOL, "echo", &r1),
        conn.call::<_, ApplicationIdProto>(PROTOCOL, "boom", &r2),
        conn.call::<_, ApplicationIdProto>(PROTOCOL, "echo", &r3),
    );
    assert_eq!(a.unwrap(), app(1));
    assert_eq!(c.unwrap(), app(3));
    match b.unwrap_err() {
        Error::Remote {
            method, exception, ..
        } => {
            assert_eq!(method, "boom");
            assert_eq!(exception.simple_class(), "FileNotFoundException");
            assert_eq!(
                exception.to_string(),
                "java.io.FileNotFoundException: no such thing"
            );
        }
        other => panic!("expected a remote error, got {other}"),
    }
    assert!(!conn.is_closed());

    let err = conn
        .call::<_, ApplicationIdProto>(PROTOCOL, "echo", &app(4))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
    server.await.unwrap();
    assert!(conn.is_closed());
    let again = conn
        .call::<_, ApplicationIdProto>(PROTOCOL, "echo", &app(5))
        .await
        .unwrap_err();
    assert!(matches!(again, Error::ConnectionClosed { .. }), "{again}");
}

#[tokio::test]
async fn connect_refused_is_an_io_error_naming_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, options()).await.err().unwrap();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains(&addr));
}

/// Accepts one client and reads its calls without ever answering: a paused server.
async fn silent_server(listener: TcpListener) {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut preamble = [0u8; 7];
    s.read_exact(&mut preamble).await.unwrap();
    let _context = read_packet(&mut s).await.unwrap().unwrap();
    while read_call(&mut s).await.is_some() {}
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_call_at_its_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(silent_server(listener));
    let conn = Connection::connect(&addr, options()).await.unwrap();
    let started = std::time::Instant::now();
    let err = conn
        .call::<_, ApplicationIdProto>(PROTOCOL, "echo", &app(1))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("echo") && err.to_string().contains(&addr),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    drop(conn);
    server.await.unwrap();
}

/// Accepts one client, reads its preamble and context, then reads nothing more: a server
/// whose reader is stuck, so the client's writes back up.
async fn deaf_server(listener: TcpListener, hold: tokio::sync::oneshot::Receiver<()>) {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut preamble = [0u8; 7];
    s.read_exact(&mut preamble).await.unwrap();
    let _context = read_packet(&mut s).await.unwrap().unwrap();
    let _ = hold.await;
}

#[tokio::test]
async fn calls_stuck_behind_a_server_that_stopped_reading_fail_at_their_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (release, hold) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(deaf_server(listener, hold));
    let conn = Connection::connect(&addr, options()).await.unwrap();
    // 1 MiB each: far more than the socket buffers and the writer's queue hold, so most
    // calls wait to be sent at all.
    let big = RequestHeaderProto {
        method_name: "x".repeat(1 << 20),
        declaring_class_protocol_name: PROTOCOL.into(),
        client_protocol_version: 1,
    };
    let conn = std::sync::Arc::new(conn);
    let big = std::sync::Arc::new(big);
    let started = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let (conn, big) = (conn.clone(), big.clone());
        calls.spawn(async move {
            conn.call::<_, ApplicationIdProto>(PROTOCOL, "big", big.as_ref())
                .await
        });
    }
    while let Some(result) = calls.join_next().await {
        let err = result.unwrap().unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
    let _ = release.send(());
    drop(conn);
    server.await.unwrap();
}
