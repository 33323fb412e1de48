//! Fuzzes NAT-PMP response decoding: any datagram a router (or anyone on the LAN) sends must
//! give a response or an error, never a panic.
#![no_main]

use iptincan::net::natpmp::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Response::decode(data);
});
