//! Framing: a 4-byte big-endian length, then one JSON object; payload parsing and version
//! negotiation. Pure functions over byte buffers.
use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Protocol versions this build speaks, newest last.
pub const SUPPORTED_VERSIONS: &[u16] = &[1];
/// Largest payload (bytes after the length prefix) either side accepts.
pub const MAX_FRAME_LEN: usize = 256 * 1024;
/// Length of the frame header.
pub const HEADER_LEN: usize = 4;

/// A frame that could not be taken off the wire or understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A zero-length frame.
    #[error("empty frame")]
    Empty,
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Takes one complete frame's payload off the front of `buf`, if one is there.
///
/// Returns `Ok(None)` when more bytes are needed. An announced length over the limit is an
/// error at once, before the payload arrives, so a peer cannot make us buffer it.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len, max: MAX_FRAME_LEN });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if buf.len() < HEADER_LEN + len {
        buf.reserve(HEADER_LEN + len - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Serialises `message` into one length-prefixed frame.
pub fn encode_frame<T: Serialize>(message: &T) -> Bytes {
    let mut out = BytesMut::with_capacity(128);
    out.put_u32(0);
    let mut writer = out.writer();
    // Serialising our own types into memory cannot fail: every map key is a string.
    if let Err(err) = serde_json::to_writer(&mut writer, message) {
        unreachable!("protocol types always serialise: {err}");
    }
    let mut out = writer.into_inner();
    let len = (out.len() - HEADER_LEN) as u32;
    out[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

/// Parses a payload into a message of type `T`.
pub fn parse_payload<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(payload).map_err(|err| FrameError::Malformed(err.to_string()))
}

/// Picks the newest version both sides speak.
pub fn negotiate_version(client_versions: &[u16]) -> Option<u16> {
    SUPPORTED_VERSIONS.iter().rev().find(|v| client_versions.contains(v)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientFrame, Request};

    fn frame_bytes(payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.put_u32(payload.len() as u32);
        buf.put_slice(payload);
        buf
    }

    #[test]
    fn decodes_a_frame_split_at_every_byte() {
        let wire = encode_frame(&ClientFrame { id: 9, request: Request::Ping });
        for split in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..split]);
            assert_eq!(decode_frame(&mut buf), Ok(None), "split at {split}");
            buf.extend_from_slice(&wire[split..]);
            let payload = decode_frame(&mut buf).expect("valid").expect("complete");
            let frame: ClientFrame = parse_payload(&payload).expect("parses");
            assert_eq!(frame, ClientFrame { id: 9, request: Request::Ping });
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn decodes_back_to_back_frames() {
        let mut buf = BytesMut::new();
        for id in 0..3 {
            buf.extend_from_slice(&encode_frame(&ClientFrame { id, request: Request::Ping }));
        }
        for id in 0..3 {
            let payload = decode_frame(&mut buf).expect("valid").expect("complete");
            let frame: ClientFrame = parse_payload(&payload).expect("parses");
            assert_eq!(frame.id, id);
        }
        assert_eq!(decode_frame(&mut buf), Ok(None));
    }

    #[test]
    fn refuses_oversized_frame_before_its_payload_arrives() {
        let mut buf = BytesMut::new();
        buf.put_u32(MAX_FRAME_LEN as u32 + 1);
        assert_eq!(decode_frame(&mut buf), Err(FrameError::TooLarge { len: MAX_FRAME_LEN + 1, max: MAX_FRAME_LEN }));
        let mut at_limit = BytesMut::new();
        at_limit.put_u32(MAX_FRAME_LEN as u32);
        assert_eq!(decode_frame(&mut at_limit), Ok(None));
    }

    #[test]
    fn refuses_empty_frame() {
        let mut buf = frame_bytes(b"");
        assert_eq!(decode_frame(&mut buf), Err(FrameError::Empty));
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for payload in [
            &b"not json"[..],
            b"{}",
            b"{\"id\":1}",
            b"{\"id\":1,\"op\":\"no_such_op\"}",
            b"{\"id\":-1,\"op\":\"ping\"}",
            b"{\"id\":1,\"op\":\"login\",\"args\":{\"username\":5}}",
            b"[1,2,3]",
            b"\xff\xfe",
        ] {
            let result = parse_payload::<ClientFrame>(payload);
            assert!(matches!(result, Err(FrameError::Malformed(_))), "{payload:?} gave {result:?}");
        }
    }

    #[test]
    fn negotiates_the_newest_common_version() {
        assert_eq!(negotiate_version(&[1]), Some(1));
        assert_eq!(negotiate_version(&[0, 1, 7]), Some(1));
        assert_eq!(negotiate_version(&[2, 3]), None);
        assert_eq!(negotiate_version(&[]), None);
    }
}
