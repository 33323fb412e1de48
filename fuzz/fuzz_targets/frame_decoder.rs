//! Fuzzes the control-frame decoder and the client-frame parser with arbitrary bytes, fed in
//! arbitrary chunks: it must never panic, never return a frame over the limit, and never loop.
#![no_main]

use bytes::BytesMut;
use iptincan::proto::{decode_frame, parse_payload, ClientFrame, ServerFrame, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decode_frame(&mut buf) {
                Ok(Some(payload)) => {
                    assert!(!payload.is_empty() && payload.len() <= MAX_FRAME_LEN);
                    let _ = parse_payload::<ClientFrame>(&payload);
                    let _ = parse_payload::<ServerFrame>(&payload);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
