//! The bytes of the DataNode's write protocol: the `WRITE_BLOCK` request, data packets
//! with their CRC32C checksums, and the acks that come back. No I/O happens here.

use crate::proto::hdfs as pb;
use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;

/// `DataTransferProtocol.DATA_TRANSFER_VERSION` of every Hadoop 2 and 3 DataNode.
const DATA_TRANSFER_VERSION: u16 = 28;
const OP_WRITE_BLOCK: u8 = 80;

/// Bytes covered by one checksum: Hadoop's default (`dfs.bytes-per-checksum`).
pub const BYTES_PER_CHECKSUM: usize = 512;
/// Data carried by one packet: 126 chunks, what fits Hadoop's 64 KiB packets.
pub const MAX_PACKET_DATA: usize = 126 * BYTES_PER_CHECKSUM;
/// The sequence number of a heartbeat packet, which keeps an idle pipeline open.
pub const HEARTBEAT_SEQNO: i64 = -1;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The request that opens a block's pipeline: version, op code, then the delimited op.
pub fn write_block_request(op: &pb::OpWriteBlockProto) -> Bytes {
    let mut out = BytesMut::with_capacity(3 + op.encoded_len() + 5);
    out.put_u16(DATA_TRANSFER_VERSION);
    out.put_u8(OP_WRITE_BLOCK);
    op.encode_length_delimited(&mut out)
        .expect("a BytesMut grows as needed");
    out.freeze()
}

/// One packet: `data` (at most [`MAX_PACKET_DATA`]) written at `offset` of the block.
/// Laid out as the DataNode reads it: payload length (itself, checksums and data), header
/// length, the header, one big-endian CRC32C per 512-byte chunk, then the data.
pub fn packet(offset: u64, seqno: i64, data: &[u8], last_in_block: bool) -> Bytes {
    debug_assert!(data.len() <= MAX_PACKET_DATA);
    let header = pb::PacketHeaderProto {
        offset_in_block: Some(offset as i64),
        seqno: Some(seqno),
        last_packet_in_block: Some(last_in_block),
        data_len: Some(data.len() as i32),
        // Left out when false, as Hadoop's own client does (older DataNodes reject it).
        sync_block: None,
    };
    let chunks = data.len().div_ceil(BYTES_PER_CHECKSUM);
    let payload = 4 + 4 * chunks + data.len();
    let mut out = BytesMut::with_capacity(6 + header.encoded_len() + payload);
    out.put_u32(payload as u32);
    out.put_u16(header.encoded_len() as u16);
    header.encode(&mut out).expect("a BytesMut grows as needed");
    for chunk in data.chunks(BYTES_PER_CHECKSUM) {
        out.put_u32(CRC32C.checksum(chunk));
    }
    out.put_slice(data);
    out.freeze()
}

/// The status every DataNode of the pipeline reported in `ack`: `reply`, or the low four
/// bits of each `flag` where a DataNode sent only those.
pub fn ack_statuses(ack: &pb::PipelineAckProto) -> Vec<pb::Status> {
    if !ack.reply.is_empty() {
        return ack
            .reply
            .iter()
            .map(|&s| pb::Status::try_from(s).unwrap_or(pb::Status::Error))
            .collect();
    }
    ack.flag
        .iter()
        .map(|&f| pb::Status::try_from((f & 0x0f) as i32).unwrap_or(pb::Status::Error))
        .collect()
}

/// A varint-prefixed message's length, once `buf` holds the whole prefix.
pub fn delimited_len(buf: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    for (i, &b) in buf.iter().enumerate().take(5) {
        len |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Some((i + 1, len));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_laid_out_as_the_datanode_reads_it() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let p = packet(1024, 7, &data, false);
        let payload = u32::from_be_bytes(p[0..4].try_into().unwrap()) as usize;
        assert_eq!(payload, 4 + 2 * 4 + 1000, "two chunks: 512 and 488 bytes");
        let hlen = u16::from_be_bytes(p[4..6].try_into().unwrap()) as usize;
        let header = pb::PacketHeaderProto::decode(&p[6..6 + hlen]).unwrap();
        assert_eq!(header.offset_in_block, Some(1024));
        assert_eq!(header.seqno, Some(7));
        assert_eq!(header.data_len, Some(1000));
        assert_eq!(header.last_packet_in_block, Some(false));
        let sums = &p[6 + hlen..6 + hlen + 8];
        assert_eq!(sums[0..4], CRC32C.checksum(&data[..512]).to_be_bytes());
        assert_eq!(sums[4..8], CRC32C.checksum(&data[512..]).to_be_bytes());
        assert_eq!(&p[6 + hlen + 8..], &data[..]);
        assert_eq!(p.len(), 4 + 2 + hlen + payload - 4);
    }

    #[test]
    fn crc32c_is_the_castagnoli_polynomial() {
        // RFC 3720's check value.
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn an_empty_packet_carries_no_checksum() {
        let p = packet(0, HEARTBEAT_SEQNO, &[], false);
        assert_eq!(u32::from_be_bytes(p[0..4].try_into().unwrap()), 4);
    }

    #[test]
    fn ack_statuses_come_from_replies_or_flags() {
        let replies = pb::PipelineAckProto {
            seqno: Some(3),
            reply: vec![pb::Status::Success as i32, pb::Status::ErrorChecksum as i32],
            ..Default::default()
        };
        assert_eq!(
            ack_statuses(&replies),
            [pb::Status::Success, pb::Status::ErrorChecksum]
        );
        let flags = pb::PipelineAckProto {
            seqno: Some(3),
            flag: vec![0x10, 0x01],
            ..Default::default()
        };
        assert_eq!(
            ack_statuses(&flags),
            [pb::Status::Success, pb::Status::Error]
        );
    }

    #[test]
    fn the_write_request_starts_with_version_and_op() {
        let r = write_block_request(&pb::OpWriteBlockProto::default());
        assert_eq!(&r[..3], &[0, 28, 80]);
        assert_eq!(delimited_len(&r[3..]), Some((1, 0)));
        assert_eq!(delimited_len(&[0x96, 0x01]), Some((2, 150)));
        assert_eq!(delimited_len(&[0x96]), None);
    }
}
