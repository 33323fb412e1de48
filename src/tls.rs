//! TLS: self-signed certificate generation (rcgen), loading PEM files, SHA-256 fingerprints,
//! and the client-side verifier that pins a server by its certificate's fingerprint.
//!
//! rustls with the ring provider only; no OpenSSL. This module owns no sockets.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A SHA-256 certificate fingerprint.
pub type Fingerprint = [u8; 32];

/// Why TLS material could not be made or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file is missing.
    #[error("{key}: file not found: {path}")]
    Missing {
        /// Config key that names the file.
        key: &'static str,
        /// The path.
        path: String,
    },
    /// A file could not be read or written.
    #[error("{key}: {path}: {source}")]
    Io {
        /// Config key that names the file.
        key: &'static str,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{key}: {path}: {reason}")]
    BadPem {
        /// Config key that names the file.
        key: &'static str,
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rcgen failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("tls: the certificate and key do not work together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider used everywhere.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 over a certificate's DER bytes.
pub fn fingerprint(cert_der: &[u8]) -> Fingerprint {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert_der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `AB:CD:…` form for people.
pub fn format_fingerprint(fingerprint: &Fingerprint) -> String {
    fingerprint.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Plain hex form for files.
pub fn hex_fingerprint(fingerprint: &Fingerprint) -> String {
    fingerprint.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`hex_fingerprint`] output.
pub fn parse_hex_fingerprint(text: &str) -> Option<Fingerprint> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Writes a new self-signed certificate and key (PEM) to the given paths.
pub(crate) fn generate_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let names = vec!["iptincan".to_string(), "localhost".to_string()];
    let certified = rcgen::generate_simple_self_signed(names)?;
    write_private(key_path, "tls.key_path", certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem()).map_err(|source| TlsError::Io {
        key: "tls.cert_path",
        path: cert_path.display().to_string(),
        source,
    })
}

fn write_private(path: &Path, key: &'static str, contents: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let io_err = |source| TlsError::Io { key, path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(contents).map_err(io_err)
}

/// A loaded certificate chain and key.
pub struct ServerIdentity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity").field("fingerprint", &format_fingerprint(&self.fingerprint())).finish()
    }
}

impl ServerIdentity {
    /// Reads the PEM files.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        for (key, path) in [("tls.cert_path", cert_path), ("tls.key_path", key_path)] {
            if !path.exists() {
                return Err(TlsError::Missing { key, path: path.display().to_string() });
            }
        }
        let bad_pem =
            |key, path: &Path, reason: String| TlsError::BadPem { key, path: path.display().to_string(), reason };
        let chain = CertificateDer::pem_file_iter(cert_path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|err| bad_pem("tls.cert_path", cert_path, err.to_string()))?;
        if chain.is_empty() {
            return Err(bad_pem("tls.cert_path", cert_path, "no certificate in the file".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|err| bad_pem("tls.key_path", key_path, format!("no usable private key ({err})")))?;
        Ok(ServerIdentity { chain, key })
    }

    /// The leaf certificate's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.chain[0])
    }

    /// A rustls server configuration serving this identity.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}

/// Client-side verifier: accepts exactly the certificate with the expected fingerprint, or,
/// with no expectation (first use), any certificate, remembering what it saw so the caller
/// can pin it. Handshake signatures are always verified.
#[derive(Debug)]
pub struct PinningVerifier {
    expected: Option<Fingerprint>,
    seen: Mutex<Option<Fingerprint>>,
    provider: Arc<CryptoProvider>,
}

impl PinningVerifier {
    /// A verifier expecting `expected`, or trusting on first use when `None`.
    pub fn new(expected: Option<Fingerprint>) -> Arc<Self> {
        Arc::new(PinningVerifier { expected, seen: Mutex::new(None), provider: provider() })
    }

    /// The fingerprint the server presented, once the handshake got that far.
    pub fn seen(&self) -> Option<Fingerprint> {
        *self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A rustls client configuration using this verifier.
    pub fn client_config(self: &Arc<Self>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        *self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(presented);
        match self.expected {
            Some(expected) if expected != presented => {
                Err(rustls::Error::General("server certificate fingerprint does not match the pinned one".into()))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_loadable_identity_with_stable_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        generate_self_signed(&cert, &key).expect("generates");
        let first = ServerIdentity::load(&cert, &key).expect("loads");
        let again = ServerIdentity::load(&cert, &key).expect("loads");
        assert_eq!(first.fingerprint(), again.fingerprint());
        first.server_config().expect("usable");
        let hex = hex_fingerprint(&first.fingerprint());
        assert_eq!(parse_hex_fingerprint(&hex), Some(first.fingerprint()));
        assert_eq!(format_fingerprint(&first.fingerprint()).len(), 32 * 3 - 1);
    }

    #[test]
    fn missing_and_garbage_files_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let err = ServerIdentity::load(&cert, &key).expect_err("missing");
        assert!(err.to_string().starts_with("tls.cert_path: file not found"), "{err}");
        std::fs::write(&cert, "garbage").expect("write");
        std::fs::write(&key, "garbage").expect("write");
        let err = ServerIdentity::load(&cert, &key).expect_err("garbage");
        assert!(err.to_string().starts_with("tls.cert_path"), "{err}");
    }
}
