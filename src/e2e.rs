//! End-to-end encryption of call media, on the participants' devices only; the server never
//! links this module into its paths and never holds any key made here.
//!
//! - Each device has an X25519 key pair ([`DeviceKey`]); the public half is published with
//!   `join_voice` and relayed to the other members.
//! - Each sender seals every media frame with SFrame (RFC 9605, AES-GCM-128/SHA-256) under its
//!   own random sender key ([`FrameSealer`]); the key id names the sender's media session and
//!   the key's epoch.
//! - The sender key reaches each other member wrapped with HPKE (RFC 9180, base mode,
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) for that member's device key;
//!   the associated data binds it to the channel, the sender's session and the key id, so the
//!   relay can neither read nor re-target it.
//! - A sender makes a new key whenever someone joins or leaves, so a member who left cannot
//!   read what follows, and one who joined cannot read what came before.
//! - [`safety_number`] turns the members' device keys into digits people can compare.

use crate::ids::{ChannelId, SessionId};
use crate::media::replay::ReplayWindow;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sframe::frame::{EncryptedFrame, MediaFrame, MonotonicCounter};
use sframe::header::KeyId;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;
use std::collections::HashMap;

type Kem = X25519HkdfSha256;
/// The SFrame cipher suite of every call.
pub(crate) const CIPHER_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
const WRAP_INFO: &[u8] = b"iptincan e2e sender key v1";

/// Why end-to-end protection failed; the frame or key is dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum E2eError {
    /// A public key, encapsulated key or ciphertext is not valid base64url of the right size.
    #[error("malformed key material")]
    Malformed,
    /// HPKE could not seal or open the wrapped key (wrong recipient, tampered, wrong context).
    #[error("the wrapped sender key does not open")]
    Unwrap,
    /// SFrame could not seal or open the frame (malformed, no key for its key id, tampered).
    #[error("frame protection failed: {0}")]
    Frame(String),
    /// The frame was opened before (a relay replaying it), or is too old to tell.
    #[error("replayed frame")]
    Replayed,
}

/// The random source HPKE wants, backed by the operating system's.
struct SystemRng;

impl hpke::rand_core::RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes(crate::random::random_bytes())
    }

    fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes(crate::random::random_bytes())
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(32) {
            let random: [u8; 32] = crate::random::random_bytes();
            chunk.copy_from_slice(&random[..chunk.len()]);
        }
    }
}

impl hpke::rand_core::CryptoRng for SystemRng {}

/// The key id of a sender's key: its media session and the key's epoch (fits 48 bits, so it
/// survives JSON numbers in every language).
pub fn key_id(sender_session: SessionId, epoch: u16) -> u64 {
    (u64::from(sender_session.get()) << 16) | u64::from(epoch)
}

/// The media session a key id belongs to.
pub fn key_sender(key_id: u64) -> SessionId {
    SessionId((key_id >> 16) as u32)
}

/// What a wrapped key is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyContext {
    /// The voice channel.
    pub channel_id: ChannelId,
    /// The key's id (sender session and epoch).
    pub key_id: u64,
}

impl KeyContext {
    fn bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.channel_id.get().to_be_bytes());
        out[8..].copy_from_slice(&self.key_id.to_be_bytes());
        out
    }
}

/// A sender key wrapped for one recipient: the HPKE encapsulated key and ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// base64url of the encapsulated key.
    pub enc: String,
    /// base64url of the sealed sender key.
    pub ciphertext: String,
}

/// This device's key pair.
pub struct DeviceKey {
    private: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey").field("public", &self.public_base64()).finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// A fresh random key pair.
    pub fn generate() -> DeviceKey {
        let seed: [u8; 32] = crate::random::random_bytes();
        let (private, public) = Kem::derive_keypair(&seed);
        DeviceKey { private, public }
    }

    /// The public key, base64url, as published.
    pub fn public_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public.to_bytes())
    }

    /// Opens a sender key wrapped for this device.
    pub fn unwrap(&self, wrapped: &WrappedKey, context: KeyContext) -> Result<[u8; 32], E2eError> {
        let enc = decode(&wrapped.enc)?;
        let ciphertext = decode(&wrapped.ciphertext)?;
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc).map_err(|_| E2eError::Malformed)?;
        let opened = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &self.private,
            &enc,
            WRAP_INFO,
            &ciphertext,
            &context.bytes(),
        )
        .map_err(|_| E2eError::Unwrap)?;
        opened.try_into().map_err(|_| E2eError::Unwrap)
    }
}

/// Wraps `sender_key` for the device whose public key is `recipient` (base64url).
pub fn wrap(recipient: &str, sender_key: &[u8; 32], context: KeyContext) -> Result<WrappedKey, E2eError> {
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(&decode(recipient)?).map_err(|_| E2eError::Malformed)?;
    let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &public,
        WRAP_INFO,
        sender_key,
        &context.bytes(),
        &mut SystemRng,
    )
    .map_err(|_| E2eError::Unwrap)?;
    Ok(WrappedKey { enc: URL_SAFE_NO_PAD.encode(enc.to_bytes()), ciphertext: URL_SAFE_NO_PAD.encode(ciphertext) })
}

fn decode(text: &str) -> Result<Vec<u8>, E2eError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| E2eError::Malformed)
}

fn frame_error(err: impl std::fmt::Display) -> E2eError {
    E2eError::Frame(err.to_string())
}

/// Seals this device's outgoing frames under its current sender key.
pub struct FrameSealer {
    key: EncryptionKey,
    secret: [u8; 32],
    key_id: u64,
    counter: MonotonicCounter,
}

impl std::fmt::Debug for FrameSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSealer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl FrameSealer {
    /// A new random sender key for `key_id`.
    pub fn generate(key_id: u64) -> Result<FrameSealer, E2eError> {
        let secret: [u8; 32] = crate::random::random_bytes();
        let key = EncryptionKey::derive_from(CIPHER_SUITE, key_id, secret).map_err(frame_error)?;
        Ok(FrameSealer { key, secret, key_id, counter: MonotonicCounter::default() })
    }

    /// The key id.
    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// The sender key, to wrap for the other members (never send it in the clear).
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// One sealed frame: SFrame header, ciphertext and tag.
    pub fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, E2eError> {
        let frame = MediaFrame::try_new(&mut self.counter, payload).map_err(frame_error)?;
        Ok(frame.encrypt(&self.key).map_err(frame_error)?.as_ref().to_vec())
    }
}

/// A frame opened end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The media session whose key sealed it.
    pub sender: SessionId,
    /// The frame.
    pub payload: Vec<u8>,
}

/// Opens other members' frames with the sender keys they shared, each frame at most once
/// (a replay window per key over SFrame's counter, so a relay cannot replay frames).
#[derive(Default)]
pub struct FrameOpener {
    keys: HashMap<KeyId, DecryptionKey>,
    seen: HashMap<KeyId, ReplayWindow>,
}

impl std::fmt::Debug for FrameOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameOpener").field("keys", &self.keys.len()).finish()
    }
}

impl FrameOpener {
    /// Installs a sender key; older keys of the same sender stay until [`FrameOpener::forget_sender`].
    pub fn install(&mut self, key_id: u64, secret: &[u8; 32]) -> Result<(), E2eError> {
        let key = DecryptionKey::derive_from(CIPHER_SUITE, key_id, secret).map_err(frame_error)?;
        self.keys.insert(key_id, key);
        self.seen.entry(key_id).or_default();
        Ok(())
    }

    /// Whether any key of `sender_session` is installed.
    pub fn has_sender(&self, sender_session: SessionId) -> bool {
        self.keys.keys().any(|id| key_sender(*id) == sender_session)
    }

    /// Drops every key of a sender who left.
    pub fn forget_sender(&mut self, sender_session: SessionId) {
        self.keys.retain(|id, _| key_sender(*id) != sender_session);
        self.seen.retain(|id, _| key_sender(*id) != sender_session);
    }

    /// Opens one sealed frame, once.
    pub fn open(&mut self, sealed: &[u8]) -> Result<Opened, E2eError> {
        let frame = EncryptedFrame::try_new(sealed).map_err(frame_error)?;
        let (key_id, counter) = (frame.header().key_id(), frame.header().counter());
        let window = self.seen.get(&key_id).ok_or_else(|| E2eError::Frame("no key for this sender yet".into()))?;
        window.check(counter).map_err(|_| E2eError::Replayed)?;
        let payload = frame.decrypt(&self.keys).map_err(frame_error)?.payload().to_vec();
        if let Some(window) = self.seen.get_mut(&key_id) {
            window.accept(counter);
        }
        Ok(Opened { sender: key_sender(key_id), payload })
    }
}

/// Digits that every member of a call sees alike when they all hold the same device keys:
/// SHA-256 over the sorted public keys, shown as six groups of five digits.
pub fn safety_number(public_keys: &[&str]) -> String {
    let mut sorted: Vec<&str> = public_keys.to_vec();
    sorted.sort_unstable();
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for key in sorted {
        context.update(key.as_bytes());
        context.update(b"\n");
    }
    let digest = context.finish();
    digest
        .as_ref()
        .chunks(5)
        .take(6)
        .map(|chunk| {
            let value = chunk.iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
            format!("{:05}", value % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_for_its_recipient_and_context() {
        let bob = DeviceKey::generate();
        let eve = DeviceKey::generate();
        let sealer = FrameSealer::generate(key_id(SessionId(7), 1)).expect("key");
        let context = KeyContext { channel_id: ChannelId(3), key_id: sealer.key_id() };
        let wrapped = wrap(&bob.public_base64(), sealer.secret(), context).expect("wraps");
        assert_eq!(bob.unwrap(&wrapped, context).expect("opens"), *sealer.secret());
        assert!(matches!(eve.unwrap(&wrapped, context), Err(E2eError::Unwrap)), "not for eve");
        let moved = KeyContext { channel_id: ChannelId(4), ..context };
        assert!(matches!(bob.unwrap(&wrapped, moved), Err(E2eError::Unwrap)), "bound to its channel");
        let mut tampered = wrapped.clone();
        tampered.ciphertext.replace_range(0..1, if tampered.ciphertext.starts_with('A') { "B" } else { "A" });
        assert!(bob.unwrap(&tampered, context).is_err());
        assert!(matches!(wrap("not base64!", sealer.secret(), context), Err(E2eError::Malformed)));
    }

    #[test]
    fn frames_open_with_the_shared_key_only() {
        let mut sealer = FrameSealer::generate(key_id(SessionId(7), 1)).expect("key");
        let marker = b"opus-frame-MARKER-3141";
        let sealed = sealer.seal(marker).expect("seals");
        assert!(!sealed.windows(marker.len()).any(|w| w == marker), "the relay sees no plaintext");
        let mut opener = FrameOpener::default();
        assert!(opener.open(&sealed).is_err(), "no key yet");
        opener.install(sealer.key_id(), sealer.secret()).expect("installs");
        assert!(opener.has_sender(SessionId(7)));
        let opened = opener.open(&sealed).expect("opens");
        assert_eq!((opened.sender, opened.payload.as_slice()), (SessionId(7), &marker[..]));
        assert!(matches!(opener.open(&sealed), Err(E2eError::Replayed)), "a replayed frame is refused");

        let mut rotated = FrameSealer::generate(key_id(SessionId(7), 2)).expect("key");
        assert!(opener.open(&rotated.seal(b"after rotation").expect("seals")).is_err(), "a new key needs sharing");
        opener.forget_sender(SessionId(7));
        assert!(!opener.has_sender(SessionId(7)));
        assert!(opener.open(&sealer.seal(b"y").expect("seals")).is_err(), "forgotten");
        let mut corrupted = sealer.seal(b"x").expect("seals");
        let last = corrupted.len() - 1;
        corrupted[last] ^= 1;
        opener.install(sealer.key_id(), sealer.secret()).expect("installs");
        assert!(opener.open(&corrupted).is_err());
    }

    #[test]
    fn key_ids_carry_the_sender() {
        assert_eq!(key_sender(key_id(SessionId(0xdead_beef), 9)), SessionId(0xdead_beef));
        assert!(key_id(SessionId(u32::MAX), u16::MAX) < (1 << 53));
    }

    #[test]
    fn safety_numbers_agree_regardless_of_order_and_change_with_any_key() {
        let keys = ["aaa", "bbb", "ccc"];
        let number = safety_number(&keys);
        assert_eq!(number, safety_number(&["ccc", "aaa", "bbb"]));
        assert_ne!(number, safety_number(&["aaa", "bbb", "ccd"]));
        assert_eq!(number.split(' ').count(), 6);
        assert!(number.split(' ').all(|group| group.len() == 5 && group.chars().all(|c| c.is_ascii_digit())));
    }
}
