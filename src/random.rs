//! The operating system's secure random source (through ring), for keys, tokens and salts.

/// `N` bytes from the operating system's secure random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        unreachable!("the operating system's random source failed");
    }
    bytes
}
