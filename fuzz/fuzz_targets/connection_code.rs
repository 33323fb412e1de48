//! Fuzzes connection-code decoding: arbitrary text must give a code or an error, never a
//! panic; every code that decodes must encode back to a code that decodes to the same value.
#![no_main]

use iptincan::code::ConnectionCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(code) = ConnectionCode::decode(text) {
        let again = code.encode().expect("a decoded code re-encodes");
        assert_eq!(ConnectionCode::decode(&again), Ok(code));
    }
});
