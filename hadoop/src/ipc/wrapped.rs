//! The byte stream after a SASL exchange that chose integrity or privacy: each chunk of
//! outgoing packets travels wrapped inside a SASL `WRAP` message (call id -33), and
//! incoming `WRAP` messages unwrap to a stream of ordinary length-prefixed packets.

use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncRead;

use super::frame::{
    decode_body, encode_packet, read_packet, request_header, response_call_id, split_response,
    MAX_FRAME, SASL_CALL_ID,
};
use crate::proto::common::{rpc_sasl_proto::SaslState, RpcSaslProto};
use crate::sasl::SecurityLayer;

/// One layer serves the reader and the writer task of a connection: GSS-API contexts
/// must not be used by two threads at once.
pub type SharedLayer = Arc<Mutex<Box<dyn SecurityLayer>>>;

fn lock(layer: &SharedLayer) -> std::sync::MutexGuard<'_, Box<dyn SecurityLayer>> {
    // A panic inside wrap/unwrap leaves nothing half-updated that matters here: the
    // connection fails on the next mismatch anyway.
    layer.lock().unwrap_or_else(|p| p.into_inner())
}

/// `plain` (whole packets) as SASL WRAP packets, cut at the peer's buffer limit.
pub fn wrap(layer: &SharedLayer, plain: &[u8]) -> Result<Vec<u8>, String> {
    let mut layer = lock(layer);
    let limit = layer.max_plain().max(1);
    let header = request_header(SASL_CALL_ID, &[], -1);
    let mut out = Vec::with_capacity(plain.len() + 64);
    for chunk in plain.chunks(limit) {
        let msg = RpcSaslProto {
            state: SaslState::Wrap as i32,
            token: Some(layer.wrap(chunk)?),
            ..Default::default()
        };
        out.extend_from_slice(&encode_packet(&[&header, &msg]));
    }
    Ok(out)
}

/// Reads response packets, unwrapping them first when a layer is in force.
pub struct PacketReader<R> {
    inner: R,
    layer: Option<SharedLayer>,
    plain: BytesMut,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, layer: Option<SharedLayer>) -> Self {
        Self {
            inner,
            layer,
            plain: BytesMut::new(),
        }
    }

    /// The next packet's body; `Ok(None)` on a clean end of stream.
    pub async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        let Some(layer) = self.layer.clone() else {
            return read_packet(&mut self.inner).await;
        };
        loop {
            if let Some(packet) = self.take_packet()? {
                return Ok(Some(packet));
            }
            let Some(outer) = read_packet(&mut self.inner).await? else {
                if self.plain.is_empty() {
                    return Ok(None);
                }
                return Err(invalid("connection ended inside a wrapped packet"));
            };
            let (header, rest) = split_response(outer.clone())
                .map_err(|e| invalid(format!("undecodable wrapped header: {e}")))?;
            if response_call_id(&header) != SASL_CALL_ID {
                // Not wrapped: the server failed before wrapping (a fatal error).
                return Ok(Some(outer));
            }
            let msg: RpcSaslProto =
                decode_body(rest).map_err(|e| invalid(format!("undecodable WRAP: {e}")))?;
            if msg.state != SaslState::Wrap as i32 {
                return Err(invalid(format!(
                    "SASL state {} after the handshake",
                    msg.state
                )));
            }
            let plain = lock(&layer)
                .unwrap(msg.token.as_deref().unwrap_or_default())
                .map_err(invalid)?;
            self.plain.extend_from_slice(&plain);
        }
    }

    /// A whole packet from the unwrapped bytes, if they hold one.
    fn take_packet(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.plain.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.plain[0], self.plain[1], self.plain[2], self.plain[3]])
            as usize;
        if len > MAX_FRAME {
            return Err(invalid(format!(
                "frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"
            )));
        }
        if self.plain.len() < 4 + len {
            return Ok(None);
        }
        self.plain.advance(4);
        Ok(Some(self.plain.split_to(len).freeze()))
    }
}

fn invalid(detail: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, detail.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy layer (XOR, a 2-byte limit) that shows chunking and reassembly.
    struct Xor;

    impl SecurityLayer for Xor {
        fn max_plain(&self) -> usize {
            5
        }
        fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, String> {
            Ok(plain.iter().map(|b| b ^ 0x5a).collect())
        }
        fn unwrap(&mut self, wrapped: &[u8]) -> Result<Vec<u8>, String> {
            self.wrap(wrapped)
        }
    }

    #[tokio::test]
    async fn wrapped_packets_are_cut_at_the_limit_and_reassembled() {
        let layer: SharedLayer = Arc::new(Mutex::new(Box::new(Xor)));
        // Two plain packets: [0,0,0,3, 1,2,3] and [0,0,0,4, 4,5,6,7].
        let plain = [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 4, 4, 5, 6, 7];
        let wire = wrap(&layer, &plain).unwrap();
        // The wrapped stream is read as a server would send it back: a response header
        // with call id -33 instead of a request header. Rebuild it that way.
        let mut reply = Vec::new();
        let mut rest: &[u8] = &wire;
        let mut chunks = 0;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let mut body = Bytes::copy_from_slice(&rest[4..4 + len]);
            rest = &rest[4 + len..];
            let _req =
                crate::proto::common::RpcRequestHeaderProto::decode_length_delimited(&mut body)
                    .unwrap();
            let msg: RpcSaslProto = decode_body(body).unwrap();
            assert!(msg.token.as_ref().unwrap().len() <= 5);
            let header = crate::proto::common::RpcResponseHeaderProto {
                call_id: SASL_CALL_ID as u32,
                ..Default::default()
            };
            reply.extend_from_slice(&encode_packet(&[&header, &msg]));
            chunks += 1;
        }
        assert_eq!(chunks, 3);
        let mut reader = PacketReader::new(&reply[..], Some(layer));
        assert_eq!(reader.next().await.unwrap().unwrap().as_ref(), &[1, 2, 3]);
        assert_eq!(
            reader.next().await.unwrap().unwrap().as_ref(),
            &[4, 5, 6, 7]
        );
        assert!(reader.next().await.unwrap().is_none());
    }

    use prost::Message;
}
