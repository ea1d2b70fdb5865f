use super::*;
use crate::net::{accept_auth, connect_auth, read_frame, write_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "the-application-secret";

/// The two ends' sessions of one encrypted connection, without a socket.
fn pair(wire: Wire) -> (Session, Session) {
    let (server, client) = ([7u8; 32], [9u8; 32]);
    (
        Session::new(wire, SECRET, Role::Data, &server, &client, true),
        Session::new(wire, SECRET, Role::Data, &server, &client, false),
    )
}

/// What `session` puts on the wire for `frames`.
async fn sealed_bytes(session: Session, frames: &[&[u8]]) -> Vec<u8> {
    let (_, mut w) = session.seal(tokio::io::empty(), Vec::new());
    for f in frames {
        write_frame(&mut w, f).await.unwrap();
    }
    w.inner
}

/// The frames `session` reads from `wire`, or the first error.
async fn opened_frames(session: Session, wire: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
    let (mut r, _) = session.seal(wire, tokio::io::sink());
    let mut frames = vec![];
    loop {
        match read_frame(&mut r).await {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return Ok(frames),
            Err(crate::IoError::Io(e)) => return Err(e),
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    }
}

fn marked(len: usize) -> Vec<u8> {
    b"SECRET-ROW;".iter().copied().cycle().take(len).collect()
}

#[tokio::test]
async fn frames_of_every_size_cross_sealed_and_nothing_is_readable_on_the_wire() {
    let big = marked(3 * RECORD + 123);
    let frames: Vec<&[u8]> = vec![b"", b"x", &big[..RECORD], &big, b"last"];
    let (server, client) = pair(Wire::Encrypted);
    let wire = sealed_bytes(client, &frames).await;
    assert!(
        !wire.windows(11).any(|w| w == b"SECRET-ROW;"),
        "plain bytes on the wire"
    );
    let got = opened_frames(server, &wire).await.unwrap();
    let want: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_authenticated_only_session_passes_bytes_unchanged() {
    let (server, client) = pair(Wire::Authenticated);
    let wire = sealed_bytes(client, &[b"SECRET-ROW;"]).await;
    assert_eq!(wire, [&[0, 0, 0, 11][..], b"SECRET-ROW;"].concat());
    assert_eq!(
        opened_frames(server, &wire).await.unwrap(),
        vec![b"SECRET-ROW;".to_vec()]
    );
}

#[tokio::test]
async fn plain_frames_of_every_size_arrive_whole_however_the_bytes_are_cut() {
    let big = marked(3 * READ_AHEAD + 7);
    let frames: Vec<&[u8]> = vec![
        b"",
        b"x",
        &big[..READ_AHEAD - 3],
        &big[..READ_AHEAD],
        &big,
        b"last",
    ];
    let want: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    let (server, client) = pair(Wire::Authenticated);
    let wire = sealed_bytes(client, &frames).await;
    // all at once: the read-ahead holds several frames
    assert_eq!(opened_frames(server, &wire).await.unwrap(), want);
    // seven bytes at a time: every frame is cut, headers too
    let (mut near, far) = tokio::io::duplex(7);
    let writing = tokio::spawn(async move { near.write_all(&wire).await });
    let (server, _) = pair(Wire::Authenticated);
    let (mut r, _) = server.seal(far, tokio::io::sink());
    let mut got = vec![];
    while let Some(f) = read_frame(&mut r).await.unwrap() {
        got.push(f);
    }
    writing.await.unwrap().unwrap();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_flipped_bit_anywhere_in_a_record_is_refused() {
    let (_, client) = pair(Wire::Encrypted);
    let wire = sealed_bytes(client, &[&marked(100)]).await;
    for at in [HEADER, HEADER + 50, wire.len() - 1] {
        let mut bad = wire.clone();
        bad[at] ^= 1;
        let (server, _) = pair(Wire::Encrypted);
        let e = opened_frames(server, &bad).await.unwrap_err();
        assert!(e.to_string().contains("failed authentication"), "{e}");
    }
}

#[tokio::test]
async fn records_replayed_reordered_or_read_with_the_other_directions_key_are_refused() {
    let (_, client) = pair(Wire::Encrypted);
    let one = sealed_bytes(client, &[b"first"]).await;
    let (_, client) = pair(Wire::Encrypted);
    let two = sealed_bytes(client, &[b"first", b"second"]).await;
    let second = &two[one.len()..];
    // The second record alone, as if the first were dropped; the first twice.
    for wire in [second.to_vec(), [&one[..], &one[..]].concat()] {
        let (server, _) = pair(Wire::Encrypted);
        assert!(opened_frames(server, &wire).await.is_err());
    }
    // A client reading its own words back (a reflection) cannot open them.
    let (_, client) = pair(Wire::Encrypted);
    let (_, reader) = pair(Wire::Encrypted);
    let wire = sealed_bytes(client, &[b"hello"]).await;
    assert!(opened_frames(reader, &wire).await.is_err());
}

/// All `session` reads from `wire`, byte by byte as a stream.
async fn read_all(session: Session, wire: &[u8]) -> std::io::Result<Vec<u8>> {
    let (mut r, _) = session.seal(wire, tokio::io::sink());
    let mut all = vec![];
    r.read_to_end(&mut all).await.map(|_| all)
}

#[tokio::test]
async fn an_end_between_records_is_clean_and_inside_one_is_an_error() {
    let (_, client) = pair(Wire::Encrypted);
    let wire = sealed_bytes(client, &[b"whole"]).await;
    let (server, _) = pair(Wire::Encrypted);
    assert_eq!(read_all(server, &wire).await.unwrap(), b"\0\0\0\x05whole");
    for cut in [1, 3, wire.len() - 3] {
        let (server, _) = pair(Wire::Encrypted);
        let e = read_all(server, &wire[..cut]).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "cut at {cut}");
    }
    let (server, _) = pair(Wire::Encrypted);
    let e = read_all(server, &[0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("impossible length"), "{e}");
}

#[tokio::test]
async fn both_ends_of_a_real_handshake_talk_both_ways_encrypted() {
    let (a, b) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut a = a;
        let s = accept_auth(&mut a, SECRET, Role::Kv, Wire::Encrypted)
            .await
            .unwrap();
        assert_eq!(s.wire(), Wire::Encrypted);
        let (r, w) = tokio::io::split(a);
        let (mut r, mut w) = s.seal(r, w);
        while let Some(f) = read_frame(&mut r).await.unwrap() {
            write_frame(&mut w, &[&f[..], b"!"].concat()).await.unwrap();
        }
    });
    let mut b = b;
    let s = connect_auth(&mut b, SECRET, Role::Kv).await.unwrap();
    assert_eq!(s.wire(), Wire::Encrypted, "the client follows the server");
    let (r, w) = tokio::io::split(b);
    let (mut r, mut w) = s.seal(r, w);
    let big = marked(200_000);
    for msg in [&b"ping"[..], &big] {
        write_frame(&mut w, msg).await.unwrap();
        let back = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!(back, [msg, b"!"].concat());
    }
    w.shutdown().await.unwrap();
    drop(w);
    drop(r);
    server.await.unwrap();
}

#[tokio::test]
async fn a_wire_byte_changed_on_the_way_fails_both_sides() {
    // Someone between the two turns the server's "encrypted" into "in the clear".
    let (mut server_end, mut to_server) = tokio::io::duplex(1024);
    let (mut to_client, mut client_end) = tokio::io::duplex(1024);
    let server = tokio::spawn(async move {
        accept_auth(&mut server_end, SECRET, Role::Master, Wire::Encrypted).await
    });
    let client =
        tokio::spawn(async move { connect_auth(&mut client_end, SECRET, Role::Master).await });
    let mut hello = [0u8; 33];
    to_server.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello[32], Wire::Encrypted.byte());
    hello[32] = Wire::Authenticated.byte();
    to_client.write_all(&hello).await.unwrap();
    let mut answer = [0u8; 64];
    to_client.read_exact(&mut answer).await.unwrap();
    to_server.write_all(&answer).await.unwrap();
    let served = server.await.unwrap();
    assert!(served.is_err(), "the server took a downgraded client");
    drop(to_server);
    drop(to_client);
    assert!(
        client.await.unwrap().is_err(),
        "the client went on in the clear"
    );
}
