//! Fuzzes the media packet parser and opener with arbitrary datagrams: no panic, no
//! plaintext from a packet that was not sealed with the session key.
#![no_main]

use iptincan::media::packet::{Direction, Header, MediaHeader, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Header::peek(data);
    let _ = MediaHeader::decode(data);
    let mut session = Session::new(1, &[3; 32], Direction::ToClient);
    let mut datagram = data.to_vec();
    assert!(session.open(&mut datagram).is_err(), "a packet without a valid tag was accepted");
});
