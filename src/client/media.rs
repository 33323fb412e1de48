//! The client's UDP media link for one voice session: registers its address with an
//! authenticated keepalive, then sends and receives media packets sealed hop by hop with the
//! session key from `join_voice`.

use super::ClientError;
use crate::media::packet::{Direction, Kind, MediaHeader, Session, MAX_DATAGRAM};
use crate::proto::VoiceSession;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Keepalives sent while waiting for the server to answer the first one.
const REGISTER_ATTEMPTS: usize = 10;
/// Wait for each keepalive's answer.
const REGISTER_WAIT: Duration = Duration::from_millis(300);
/// Longest the link stays silent: NAT bindings commonly expire after 30 s or more.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// A registered UDP media link.
#[derive(Debug)]
pub struct MediaLink {
    socket: UdpSocket,
    crypto: Session,
    buf: Vec<u8>,
    wire: Vec<u8>,
    last_sent: tokio::time::Instant,
}

impl MediaLink {
    /// Opens the link to `host`'s media port and registers it.
    pub async fn open(host: &str, session: &VoiceSession) -> Result<MediaLink, ClientError> {
        let key: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&session.key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| ClientError::Protocol("the media key is not 32 bytes of base64url".into()))?;
        let addr = format!("{host}:{}", session.udp_port);
        let connect_err = |source| ClientError::Connect { addr: addr.clone(), source };
        let server = tokio::net::lookup_host((host, session.udp_port))
            .await
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| connect_err(std::io::Error::other("no address")))?;
        let local = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
        let socket = UdpSocket::bind(local).await.map_err(connect_err)?;
        socket.connect(server).await.map_err(connect_err)?;
        let crypto = Session::new(session.session_id.get(), &key, Direction::ToServer);
        let last_sent = tokio::time::Instant::now();
        let mut link = MediaLink { socket, crypto, buf: vec![0; MAX_DATAGRAM + 1], wire: Vec::new(), last_sent };
        for _ in 0..REGISTER_ATTEMPTS {
            link.keepalive().await?;
            if let Ok(Ok(Kind::Keepalive)) = tokio::time::timeout(REGISTER_WAIT, link.next_packet()).await {
                return Ok(link);
            }
        }
        Err(ClientError::Timeout(format!("the media port {addr} (UDP) to answer")))
    }

    /// Sends a keepalive (also re-registers the address after a NAT change).
    pub async fn keepalive(&mut self) -> Result<(), ClientError> {
        self.crypto.seal(Kind::Keepalive, &[], &mut self.wire).map_err(|err| ClientError::Protocol(err.to_string()))?;
        self.transmit().await
    }

    /// Sends one media fragment (`header.source` is filled in by the relay).
    pub async fn send(&mut self, header: MediaHeader, payload: &[u8]) -> Result<(), ClientError> {
        let mut plaintext = Vec::with_capacity(payload.len() + 16);
        header.encode(payload, &mut plaintext);
        self.crypto
            .seal(Kind::Media, &plaintext, &mut self.wire)
            .map_err(|err| ClientError::Protocol(err.to_string()))?;
        self.transmit().await
    }

    async fn transmit(&mut self) -> Result<(), ClientError> {
        self.socket.send(&self.wire).await.map_err(|err| ClientError::Closed(err.to_string()))?;
        self.last_sent = tokio::time::Instant::now();
        Ok(())
    }

    /// The next media fragment from another member; keepalive answers and packets that do not
    /// authenticate are skipped. While waiting it sends a keepalive whenever the link has been
    /// silent for [`KEEPALIVE_INTERVAL`], so the NAT binding stays open.
    pub async fn recv(&mut self) -> Result<(MediaHeader, Vec<u8>), ClientError> {
        loop {
            let due = self.last_sent + KEEPALIVE_INTERVAL;
            let kind = match tokio::time::timeout_at(due, self.next_packet()).await {
                Ok(kind) => kind?,
                Err(_) => {
                    self.keepalive().await?;
                    continue;
                }
            };
            if kind != Kind::Media {
                continue;
            }
            if let Ok((header, payload)) = MediaHeader::decode(&self.wire) {
                return Ok((header, payload.to_vec()));
            }
        }
    }

    /// Receives until one packet authenticates; leaves its plaintext in `self.wire`.
    async fn next_packet(&mut self) -> Result<Kind, ClientError> {
        loop {
            let len = self.socket.recv(&mut self.buf).await.map_err(|err| ClientError::Closed(err.to_string()))?;
            if let Ok((header, plaintext)) = self.crypto.open(&mut self.buf[..len]) {
                self.wire.clear();
                self.wire.extend_from_slice(plaintext);
                return Ok(header.kind);
            }
        }
    }
}
