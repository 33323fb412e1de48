//! Fuzzes connection-code and invite decoding, in text and `itc://join/` link form: arbitrary
//! text must give a code or an error, never a panic; every code that decodes must encode back
//! to a code that decodes to the same value, and an invite's link must decode to the invite.
#![no_main]

use iptincan::code::{decode_code_or_invite, ConnectionCode, Invite, LINK_PREFIX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(code) = ConnectionCode::decode(text) {
        let again = code.encode().expect("a decoded code re-encodes");
        assert_eq!(ConnectionCode::decode(&again), Ok(code));
    }
    if let Ok(invite) = Invite::decode(text) {
        let link = invite.link().expect("a decoded invite makes a link");
        assert_eq!(Invite::decode(&link), Ok(invite));
    }
    let _ = decode_code_or_invite(text);
    let _ = decode_code_or_invite(&format!("{LINK_PREFIX}{text}"));
});
