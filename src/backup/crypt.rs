//! Passphrase encryption of a backup archive: Argon2id turns the passphrase into a key, and
//! XChaCha20-Poly1305 seals the archive in 64 KiB chunks with the STREAM construction
//! (Hoang, Reyhanitabar, Rogaway and Vizár; RustCrypto's `aead::stream`, big-endian 32-bit
//! counter plus a last-chunk flag in each nonce), so that a changed, reordered, dropped or cut
//! chunk fails to open. No cryptography is made up here: this module only frames the file.
//!
//! File layout: a header ([`HEADER_LEN`] bytes: magic, version, the Argon2id parameters, salt,
//! STREAM nonce prefix and a passphrase check value), then the sealed chunks. The whole header
//! is the associated data of every chunk. The Argon2id output is 64 bytes: the first half is the
//! key, the second half is stored as the check value, which tells a wrong passphrase apart from
//! a damaged archive without weakening the key.

use super::{BackupError, Passphrase};
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use std::io::{self, Read, Write};

/// The first bytes of an encrypted archive.
pub(crate) const MAGIC: &[u8; 8] = b"ITCBKENC";
/// The encryption format this code writes and reads.
const VERSION: u8 = 1;
/// Plaintext bytes per chunk.
const CHUNK: usize = 64 * 1024;
/// Poly1305 tag bytes per chunk.
const TAG: usize = 16;
const SALT_LEN: usize = 16;
/// XChaCha20's 24-byte nonce less STREAM's 5 bytes of counter and flag.
const NONCE_PREFIX_LEN: usize = 19;
const CHECK_LEN: usize = 32;
/// Magic, version, three u32 Argon2id parameters, salt, nonce prefix, check value.
pub const HEADER_LEN: usize = 8 + 1 + 12 + SALT_LEN + NONCE_PREFIX_LEN + CHECK_LEN;
/// Argon2id cost for new archives: 64 MiB, 3 passes, 1 lane.
const NEW_PARAMS: KdfParams = KdfParams { memory_kib: 64 * 1024, passes: 3, lanes: 1 };
/// Most memory an archive may ask Argon2id to use (1 GiB), so a crafted header cannot exhaust it.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
struct KdfParams {
    memory_kib: u32,
    passes: u32,
    lanes: u32,
}

/// The key and the check value derived from a passphrase.
fn derive(passphrase: &Passphrase, salt: &[u8], params: KdfParams) -> Result<([u8; 32], [u8; CHECK_LEN]), String> {
    let argon_params =
        argon2::Params::new(params.memory_kib, params.passes, params.lanes, Some(64)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
    let mut output = [0u8; 64];
    argon.hash_password_into(passphrase.expose().as_bytes(), salt, &mut output).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    let mut check = [0u8; CHECK_LEN];
    key.copy_from_slice(&output[..32]);
    check.copy_from_slice(&output[32..]);
    Ok((key, check))
}

/// A chunk that does not open: the archive was changed or cut short.
#[derive(Debug, thiserror::Error)]
#[error("the encrypted data has been changed or cut short")]
pub(crate) struct Tampered;

/// Encrypts everything written to it; [`EncryptingWriter::finish`] seals the last chunk.
pub(crate) struct EncryptingWriter<W: Write> {
    inner: W,
    stream: Option<EncryptorBE32<XChaCha20Poly1305>>,
    header: Vec<u8>,
    pending: Vec<u8>,
}

impl<W: Write> EncryptingWriter<W> {
    /// Derives a key from `passphrase` with a fresh salt and writes the header to `inner`.
    pub fn new(mut inner: W, passphrase: &Passphrase) -> Result<Self, BackupError> {
        let salt: [u8; SALT_LEN] = crate::random::random_bytes();
        let nonce: [u8; NONCE_PREFIX_LEN] = crate::random::random_bytes();
        let (key, check) = derive(passphrase, &salt, NEW_PARAMS).map_err(BackupError::Encryption)?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(VERSION);
        for value in [NEW_PARAMS.memory_kib, NEW_PARAMS.passes, NEW_PARAMS.lanes] {
            header.extend_from_slice(&value.to_le_bytes());
        }
        header.extend_from_slice(&salt);
        header.extend_from_slice(&nonce);
        header.extend_from_slice(&check);
        inner.write_all(&header).map_err(|source| BackupError::io("the archive", source))?;
        let stream = EncryptorBE32::from_aead(XChaCha20Poly1305::new(&key.into()), nonce.as_slice().into());
        Ok(EncryptingWriter { inner, stream: Some(stream), header, pending: Vec::with_capacity(CHUNK + 1) })
    }

    /// Seals what is left as the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let stream = self.stream.take().ok_or_else(|| io::Error::other("already finished"))?;
        let sealed = stream
            .encrypt_last(Payload { msg: &self.pending, aad: &self.header })
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.inner.write_all(&sealed)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        // A full chunk is sealed as "not last" only once more data follows it.
        while self.pending.len() > CHUNK {
            let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("already finished"))?;
            let sealed = stream
                .encrypt_next(Payload { msg: &self.pending[..CHUNK], aad: &self.header })
                .map_err(|_| io::Error::other("encryption failed"))?;
            self.inner.write_all(&sealed)?;
            self.pending.drain(..CHUNK);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts an archive written by [`EncryptingWriter`]; a chunk that does not open is an
/// [`io::ErrorKind::InvalidData`] error wrapping [`Tampered`].
pub(crate) struct DecryptingReader<R: Read> {
    inner: R,
    stream: Option<DecryptorBE32<XChaCha20Poly1305>>,
    header: Vec<u8>,
    sealed: Vec<u8>,
    plain: Vec<u8>,
    position: usize,
    tampered: bool,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads the header from `inner` (positioned at the magic) and derives the key.
    pub fn open(mut inner: R, passphrase: &Passphrase) -> Result<Self, BackupError> {
        let mut header = vec![0u8; HEADER_LEN];
        inner.read_exact(&mut header).map_err(|_| BackupError::Damaged("the encryption header is cut short".into()))?;
        if &header[..8] != MAGIC {
            return Err(BackupError::NotABackup("no encryption header".into()));
        }
        if header[8] != VERSION {
            return Err(BackupError::NewerFormat { what: format!("encryption version {}", header[8]) });
        }
        let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let params = KdfParams { memory_kib: word(9), passes: word(13), lanes: word(17) };
        if params.memory_kib > MAX_MEMORY_KIB || params.passes > 64 || params.lanes > 64 {
            return Err(BackupError::Damaged("the encryption header asks for an unreasonable key derivation".into()));
        }
        let salt = &header[21..21 + SALT_LEN];
        let nonce = &header[21 + SALT_LEN..21 + SALT_LEN + NONCE_PREFIX_LEN];
        let stored_check = &header[HEADER_LEN - CHECK_LEN..];
        let (key, check) = derive(passphrase, salt, params).map_err(BackupError::Damaged)?;
        if check.as_slice() != stored_check {
            return Err(BackupError::WrongPassphrase);
        }
        let stream = DecryptorBE32::from_aead(XChaCha20Poly1305::new(&key.into()), nonce.into());
        Ok(DecryptingReader {
            inner,
            stream: Some(stream),
            header,
            sealed: Vec::with_capacity(CHUNK + TAG + 1),
            plain: Vec::new(),
            position: 0,
            tampered: false,
        })
    }

    /// Whether a chunk failed to open.
    pub fn tampered(&self) -> bool {
        self.tampered
    }

    /// Opens the next chunk into `plain`; false at the end of the stream.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let Some(stream) = self.stream.as_mut() else { return Ok(false) };
        // Read one byte past a full chunk: only then is it known not to be the last one.
        let mut buffer = [0u8; 8192];
        while self.sealed.len() <= CHUNK + TAG {
            let want = (CHUNK + TAG + 1 - self.sealed.len()).min(buffer.len());
            let read = self.inner.read(&mut buffer[..want])?;
            if read == 0 {
                break;
            }
            self.sealed.extend_from_slice(&buffer[..read]);
        }
        let opened = if self.sealed.len() > CHUNK + TAG {
            let opened = stream.decrypt_next(Payload { msg: &self.sealed[..CHUNK + TAG], aad: &self.header });
            self.sealed.drain(..CHUNK + TAG);
            opened
        } else {
            let last =
                self.stream.take().map(|stream| stream.decrypt_last(Payload { msg: &self.sealed, aad: &self.header }));
            self.sealed.clear();
            last.unwrap_or(Err(chacha20poly1305::aead::Error))
        };
        match opened {
            Ok(plain) => {
                self.plain = plain;
                self.position = 0;
                Ok(true)
            }
            Err(_) => {
                self.tampered = true;
                self.stream = None;
                Err(io::Error::new(io::ErrorKind::InvalidData, Tampered))
            }
        }
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.plain.len() {
            if self.tampered {
                return Err(io::Error::new(io::ErrorKind::InvalidData, Tampered));
            }
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let count = out.len().min(self.plain.len() - self.position);
        out[..count].copy_from_slice(&self.plain[self.position..self.position + count]);
        self.position += count;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(data: &[u8], passphrase: &str) -> Vec<u8> {
        let mut writer = EncryptingWriter::new(Vec::new(), &Passphrase::new(passphrase)).expect("header");
        for piece in data.chunks(10_000) {
            writer.write_all(piece).expect("writes");
        }
        writer.finish().expect("finishes")
    }

    fn open(sealed: &[u8], passphrase: &str) -> Result<Vec<u8>, String> {
        let mut reader = DecryptingReader::open(sealed, &Passphrase::new(passphrase)).map_err(|e| e.to_string())?;
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).map_err(|e| e.to_string())?;
        Ok(plain)
    }

    #[test]
    fn round_trips_at_every_chunk_boundary() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&data, "correct horse");
            assert_eq!(open(&sealed, "correct horse").expect("opens"), data, "length {len}");
        }
    }

    #[test]
    fn wrong_passphrase_changed_and_cut_archives_are_told_apart() {
        let data = vec![7u8; 2 * CHUNK + 100];
        let sealed = seal(&data, "correct horse");
        assert_eq!(open(&sealed, "wrong horse").expect_err("refused"), BackupError::WrongPassphrase.to_string());
        let mut changed = sealed.clone();
        changed[HEADER_LEN + CHUNK + 40] ^= 1;
        assert!(open(&changed, "correct horse").expect_err("refused").contains("changed or cut short"));
        // Cut at a chunk boundary: the last-chunk flag is missing.
        let cut = &sealed[..HEADER_LEN + 2 * (CHUNK + TAG)];
        assert!(open(cut, "correct horse").expect_err("refused").contains("changed or cut short"));
        let mut header_changed = sealed.clone();
        header_changed[9] ^= 1; // the Argon2id memory cost
        assert!(open(&header_changed, "correct horse").is_err());
    }
}
