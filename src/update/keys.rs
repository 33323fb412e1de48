//! The public keys that release artifacts must be signed with.
//!
//! Every artifact in the release feed is a `.tar.gz` signed with zipsign (ed25519ph, the
//! signature bound to the artifact's file name). The updater accepts an artifact only if one of
//! [`verifying_keys`] validates it. The matching private key never enters this repository: it
//! lives with whoever builds releases (`scripts/package --sign KEYFILE`).

use base64::Engine as _;

/// IPTinCan's release public key (`installer/release-signing.pub`, raw 32 bytes).
pub(crate) const RELEASE_PUBLIC_KEY: [u8; 32] = *include_bytes!("../../installer/release-signing.pub");

/// The environment variable through which debug builds also accept a test key (base64 of the
/// 32-byte public key), so that tests can sign releases with a key they make. Release builds
/// ignore it.
pub const TEST_KEY_ENV: &str = "ITC_UPDATE_TEST_PUBLIC_KEY";

/// The keys an artifact may be signed with: the release key, and in debug builds the test key
/// from [`TEST_KEY_ENV`] when it is set and well-formed.
pub(crate) fn verifying_keys() -> Vec<[u8; 32]> {
    let mut keys = vec![RELEASE_PUBLIC_KEY];
    if cfg!(debug_assertions) {
        if let Some(key) = std::env::var(TEST_KEY_ENV).ok().and_then(|text| decode_key(&text)) {
            keys.push(key);
        }
    }
    keys
}

/// A base64 (standard alphabet) 32-byte public key.
fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_keys_must_be_32_bytes_of_base64() {
        assert_eq!(decode_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), Some([0; 32]));
        assert_eq!(decode_key("AAAA"), None);
        assert_eq!(decode_key("not base64!"), None);
    }
}
