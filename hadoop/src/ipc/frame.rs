//! Hadoop IPC framing: the connection preamble, length-prefixed packets of
//! varint-delimited protobufs, and the reserved call ids.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::proto::common::{
    rpc_request_header_proto::OperationProto, RpcKindProto, RpcRequestHeaderProto,
    RpcResponseHeaderProto,
};

/// Call id of a server's "authentication failed" message (also fatal setup errors).
pub const AUTH_FAILED_CALL_ID: i32 = -1;
/// Call id of the connection context.
pub const CONNECTION_CONTEXT_CALL_ID: i32 = -3;
/// Call id of every SASL message.
pub const SASL_CALL_ID: i32 = -33;

/// IPC version spoken by Hadoop 2 and 3.
const IPC_VERSION: u8 = 9;
/// Auth byte for SIMPLE (no SASL exchange).
pub const AUTH_NONE: u8 = 0;
/// Auth byte announcing a SASL exchange (-33 as a signed byte).
pub const AUTH_SASL: u8 = 0xDF;

/// A server answer frame is refused above this size, so a garbage length cannot make us
/// allocate gigabytes (Hadoop's own default limit is 128 MiB for requests).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The seven bytes opening every connection.
pub fn preamble(auth: u8) -> [u8; 7] {
    [b'h', b'r', b'p', b'c', IPC_VERSION, 0, auth]
}

/// Header for a call, a SASL message or the connection context. `retry` is -1 for the
/// out-of-band messages and 0 for normal calls.
pub fn request_header(call_id: i32, client_id: &[u8], retry: i32) -> RpcRequestHeaderProto {
    RpcRequestHeaderProto {
        rpc_kind: RpcKindProto::RpcProtocolBuffer as i32,
        rpc_op: OperationProto::RpcFinalPacket as i32,
        call_id,
        client_id: client_id.to_vec(),
        retry_count: Some(retry),
        state_id: None,
    }
}

/// Encodes a packet: 4-byte big-endian length, then each message varint-delimited.
pub fn encode_packet(messages: &[&(dyn MessageRef + Sync)]) -> Bytes {
    let body: usize = messages.iter().map(|m| m.delimited_len()).sum();
    let mut buf = BytesMut::with_capacity(4 + body);
    buf.put_u32(body as u32);
    for m in messages {
        m.encode_delimited_into(&mut buf);
    }
    buf.freeze()
}

/// Object-safe view of a prost message, so a packet can mix message types.
pub trait MessageRef {
    fn delimited_len(&self) -> usize;
    fn encode_delimited_into(&self, buf: &mut BytesMut);
}

impl<M: Message> MessageRef for M {
    fn delimited_len(&self) -> usize {
        let len = self.encoded_len();
        prost::length_delimiter_len(len) + len
    }
    fn encode_delimited_into(&self, buf: &mut BytesMut) {
        // BytesMut grows on demand, so encoding cannot run out of room.
        self.encode_length_delimited(buf)
            .expect("BytesMut grows as needed");
    }
}

/// Reads one length-prefixed packet; `Ok(None)` on a clean end of stream.
pub async fn read_packet<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(Some(Bytes::from(body)))
}

/// Splits a response packet into its header and the rest (the delimited response
/// message on success; nothing on error).
pub fn split_response(
    mut body: Bytes,
) -> Result<(RpcResponseHeaderProto, Bytes), prost::DecodeError> {
    let header = RpcResponseHeaderProto::decode_length_delimited(&mut body)?;
    Ok((header, body))
}

/// Decodes the varint-delimited message that follows a response header.
pub fn decode_body<M: Message + Default>(mut rest: Bytes) -> Result<M, prost::DecodeError> {
    if !rest.has_remaining() {
        // An empty message may be sent as nothing at all.
        return Ok(M::default());
    }
    M::decode_length_delimited(&mut rest)
}

/// The response header's call id as the signed id the client used (-33 and -1 arrive
/// as large unsigned values).
pub fn response_call_id(header: &RpcResponseHeaderProto) -> i32 {
    header.call_id as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_always_carries_kind_and_op_and_zigzag_call_id() {
        let h = request_header(0, &[], -1);
        let bytes = h.encode_to_vec();
        // rpcKind=2, rpcOp=0 present even though 0 is the default.
        assert_eq!(&bytes[..4], &[0x08, 0x02, 0x10, 0x00]);
        // callId 0 (sint32), clientId empty, retryCount -1 zigzag = 1.
        assert_eq!(&bytes[4..], &[0x18, 0x00, 0x22, 0x00, 0x28, 0x01]);
        let sasl = request_header(SASL_CALL_ID, &[], -1).encode_to_vec();
        // -33 zigzag-encoded is 65.
        assert_eq!(&sasl[4..6], &[0x18, 65]);
    }

    #[test]
    fn packet_round_trips() {
        let h = request_header(7, &[1; 16], 0);
        let packet = encode_packet(&[&h, &h]);
        let len = u32::from_be_bytes(packet[..4].try_into().unwrap()) as usize;
        assert_eq!(len, packet.len() - 4);
        let mut body = packet.slice(4..);
        let a = RpcRequestHeaderProto::decode_length_delimited(&mut body).unwrap();
        let b = RpcRequestHeaderProto::decode_length_delimited(&mut body).unwrap();
        assert_eq!(a, h);
        assert_eq!(b, h);
    }

    #[test]
    fn negative_call_ids_map_back() {
        let h = RpcResponseHeaderProto {
            call_id: (-33i32) as u32,
            ..Default::default()
        };
        assert_eq!(response_call_id(&h), SASL_CALL_ID);
    }

    #[tokio::test]
    async fn read_packet_reports_clean_eof() {
        let mut empty: &[u8] = &[];
        assert!(read_packet(&mut empty).await.unwrap().is_none());
        let mut one: &[u8] = &[0, 0, 0, 2, 9, 9];
        assert_eq!(
            read_packet(&mut one).await.unwrap().unwrap().as_ref(),
            &[9, 9]
        );
    }
}
