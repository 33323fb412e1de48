//! The health probe: `GET /api/health` on a server's REST port, over HTTPS pinned to the
//! server's own certificate (or plain HTTP when TLS is off).
//!
//! `itc-server health` (the Docker image's HEALTHCHECK) and the updater's trial run use it to
//! ask a server, typically on this machine, whether it is up and which version it runs.

use crate::config::{Config, DataDir};
use crate::tls::{Fingerprint, PinningVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest a probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a health answer that is read.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// Nothing answered in time, or the connection failed.
    #[error("no answer from {addr}: {reason}")]
    Unreachable {
        /// Where.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// Something answered, but not with a health report.
    #[error("{addr} did not answer with a health report: {reason}")]
    BadAnswer {
        /// Where.
        addr: SocketAddr,
        /// What was wrong.
        reason: String,
    },
    /// The server's certificate could not be read.
    #[error("cannot read the server's certificate: {0}")]
    Certificate(String),
}

/// What `GET /api/health` reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HealthReport {
    /// `ok` when the server is up.
    pub status: String,
    /// The version it runs.
    pub version: String,
    /// Seconds since it started.
    pub uptime_seconds: u64,
}

/// Where to probe a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The REST address.
    pub addr: SocketAddr,
    /// The certificate to expect (`None`: plain HTTP).
    pub fingerprint: Option<Fingerprint>,
}

impl Target {
    /// The server configured in `config` on this machine: its REST port on loopback (or on
    /// `server.bind_address` when that is a specific address), with the fingerprint of its
    /// certificate file when TLS is on.
    pub fn local(config: &Config, data_dir: &DataDir) -> Result<Target, HealthError> {
        let ip = match config.server.bind_address.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() && ip.is_ipv6() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            Ok(ip) if !ip.is_unspecified() => ip,
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let fingerprint = if config.tls.enabled {
            let path = data_dir.resolve(&config.tls.cert_path);
            let der = CertificateDer::pem_file_iter(&path)
                .map_err(|err| HealthError::Certificate(format!("{}: {err}", path.display())))?
                .next()
                .and_then(Result::ok)
                .ok_or_else(|| HealthError::Certificate(format!("{}: no certificate in it", path.display())))?;
            Some(crate::tls::fingerprint(&der))
        } else {
            None
        };
        Ok(Target { addr: SocketAddr::new(ip, config.server.rest_port), fingerprint })
    }
}

/// Asks `target` for its health, within [`PROBE_TIMEOUT`].
pub async fn probe(target: Target) -> Result<HealthReport, HealthError> {
    let addr = target.addr;
    let unreachable = |reason: String| HealthError::Unreachable { addr, reason };
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|err| unreachable(err.to_string()))?;
        match target.fingerprint {
            Some(fingerprint) => {
                let config = PinningVerifier::new(Some(fingerprint))
                    .client_config()
                    .map_err(|err| unreachable(err.to_string()))?;
                let name =
                    rustls::pki_types::ServerName::try_from("localhost").map_err(|err| unreachable(err.to_string()))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|err| unreachable(format!("TLS: {err}")))?;
                get_health(tls, addr).await
            }
            None => get_health(tcp, addr).await,
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange).await.map_err(|_| unreachable("timed out".into()))?
}

async fn get_health(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    addr: SocketAddr,
) -> Result<HealthReport, HealthError> {
    let bad = |reason: String| HealthError::BadAnswer { addr, reason };
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|err| HealthError::Unreachable { addr, reason: err.to_string() })?;
    let mut response = Vec::new();
    // A TLS peer that closes without close_notify still delivered the whole answer.
    let read = (&mut stream).take(MAX_RESPONSE).read_to_end(&mut response).await;
    match read {
        Err(err) if response.is_empty() => return Err(HealthError::Unreachable { addr, reason: err.to_string() }),
        _ => {}
    }
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| bad("not an HTTP response".into()))?;
    let status_line = head.lines().next().unwrap_or_default();
    if !status_line.starts_with("HTTP/1.1 200") {
        return Err(bad(status_line.to_string()));
    }
    serde_json::from_str(body).map_err(|err| bad(err.to_string()))
}
