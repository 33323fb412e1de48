//! Test data that neither compresses nor deduplicates: pseudo-random bytes (xorshift, seeded),
//! written a MiB at a time. The file tests and `benches/files.rs` (through `#[path]`) share it.

use std::io::Write;
use std::path::Path;

/// Writes `size` pseudo-random bytes from `seed` to `path`; returns their SHA-256 in lowercase hex.
pub fn generate(path: &Path, size: u64, seed: u64) -> std::io::Result<String> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut state = seed | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        hash.update(&block[..n]);
        left -= n as u64;
    }
    file.flush()?;
    Ok(hash.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}
