//! Certificate pinning: the TLS handshake that checks the fingerprint from a connection code or
//! the [`KnownHosts`] file, and pins on first use.

use super::{ClientError, Target};
use crate::tls::{format_fingerprint, hex_fingerprint, parse_hex_fingerprint, Fingerprint, PinningVerifier};
use std::path::PathBuf;
use tokio::net::TcpStream;

/// A file of `host:port sha256-hex` lines: the fingerprints pinned on first use.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    /// Uses the file at `path` (created when something is first pinned).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KnownHosts { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn error(&self, source: std::io::Error) -> ClientError {
        ClientError::KnownHosts { path: self.path.display().to_string(), source }
    }

    fn entries(&self) -> Result<Vec<(String, Fingerprint)>, ClientError> {
        let Some(text) = crate::private_file::read_if_present(&self.path).map_err(|e| self.error(e))? else {
            return Ok(Vec::new());
        };
        Ok(text
            .lines()
            .filter_map(|line| {
                let (authority, hex) = line.trim().split_once(' ')?;
                Some((authority.to_string(), parse_hex_fingerprint(hex)?))
            })
            .collect())
    }

    /// The pinned fingerprint of `authority`.
    pub fn get(&self, authority: &str) -> Result<Option<Fingerprint>, ClientError> {
        Ok(self.entries()?.into_iter().find(|(a, _)| a == authority).map(|(_, f)| f))
    }

    /// Pins `fingerprint` for `authority`, replacing an older pin.
    pub fn pin(&self, authority: &str, fingerprint: &Fingerprint) -> Result<(), ClientError> {
        let mut entries = self.entries()?;
        entries.retain(|(a, _)| a != authority);
        entries.push((authority.to_string(), *fingerprint));
        let text: String = entries.iter().map(|(a, f)| format!("{a} {}\n", hex_fingerprint(f))).collect();
        crate::private_file::write(&self.path, text.as_bytes()).map_err(|e| self.error(e))
    }
}

pub(super) async fn tls_handshake(
    target: &Target,
    known_hosts: Option<&KnownHosts>,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let authority = target.authority();
    let code_pin = match target {
        Target::Code(code) => code.fingerprint,
        Target::Address { .. } => None,
    };
    let (expected, pinned_by) = match (code_pin, known_hosts) {
        (Some(pin), _) => (Some(pin), "in the connection code".to_string()),
        (None, Some(known)) => (known.get(&authority)?, format!("pinned on first use in {}", known.path().display())),
        (None, None) => (None, String::new()),
    };
    let verifier = PinningVerifier::new(expected);
    let config = verifier
        .client_config()
        .map_err(|err| ClientError::Tls { addr: authority.clone(), reason: err.to_string() })?;
    let name = rustls::pki_types::ServerName::try_from(target.host().to_string())
        .map_err(|_| ClientError::BadTarget(target.host().to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match connector.connect(name, tcp).await {
        Ok(stream) => {
            if let (None, Some(known), Some(seen)) = (expected, known_hosts, verifier.seen()) {
                known.pin(&authority, &seen)?;
            }
            Ok(stream)
        }
        Err(err) => match (expected, verifier.seen()) {
            (Some(expected), Some(presented)) if expected != presented => Err(ClientError::FingerprintMismatch {
                advice: if code_pin.is_some() {
                    "The code may be out of date, or someone may be intercepting the connection.".into()
                } else {
                    format!(
                        "If the server was reinstalled, remove its line ({authority}) from {}.",
                        known_hosts.map(|k| k.path().display().to_string()).unwrap_or_default()
                    )
                },
                pinned_by,
                expected: format_fingerprint(&expected),
                presented: format_fingerprint(&presented),
            }),
            _ => Err(ClientError::Tls { addr: authority, reason: err.to_string() }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_pin_and_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let known = KnownHosts::new(dir.path().join("sub/known_hosts"));
        assert_eq!(known.get("h:1").expect("reads"), None);
        known.pin("h:1", &[1; 32]).expect("writes");
        known.pin("h:2", &[2; 32]).expect("writes");
        known.pin("h:1", &[3; 32]).expect("writes");
        assert_eq!(known.get("h:1").expect("reads"), Some([3; 32]));
        assert_eq!(known.get("h:2").expect("reads"), Some([2; 32]));
    }
}
