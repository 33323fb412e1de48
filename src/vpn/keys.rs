//! WireGuard keys: X25519 key pairs from the operating system's random source, and their text
//! form (standard base64 of the 32 bytes, as `wg` and the official WireGuard apps write them).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use boringtun::x25519::{PublicKey, StaticSecret};

/// A key that is not 32 bytes of standard base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a WireGuard key is 44 characters of base64 (32 bytes), as `wg genkey` writes it")]
pub struct BadKey;

/// A fresh private key.
pub fn generate() -> StaticSecret {
    StaticSecret::from(crate::random::random_bytes::<32>())
}

/// The public key of `secret`.
pub fn public_of(secret: &StaticSecret) -> [u8; 32] {
    PublicKey::from(secret).to_bytes()
}

/// The text form of a key.
pub fn encode(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

/// A key from its text form.
pub fn decode(text: &str) -> Result<[u8; 32], BadKey> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| BadKey)?;
    bytes.try_into().map_err(|_| BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text_and_bad_text_is_refused() {
        let secret = generate();
        let public = public_of(&secret);
        let text = encode(&public);
        assert_eq!(text.len(), 44);
        assert_eq!(decode(&text), Ok(public));
        assert_ne!(public_of(&generate()), public, "fresh keys differ");
        assert_eq!(decode("not base64!"), Err(BadKey));
        assert_eq!(decode(&STANDARD.encode([1u8; 31])), Err(BadKey), "31 bytes");
    }
}
