//! Media on UDP 3785: voice, video, screen share (and later VPN) packets.
//!
//! [`packet`] is the sans-IO packet format (header, hop-by-hop ChaCha20-Poly1305, inner media
//! header) and [`replay`] the anti-replay window. The socket task here classifies every
//! datagram and counts why it was dropped; media sessions, and with them the relay that
//! forwards packets to the other members of a voice channel, are not created yet (issue 3), so
//! for now every well-formed packet is dropped as `UnknownSession`.

pub mod packet;
pub mod replay;

use packet::{DropCounts, DropReason, Header};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Receives and classifies datagrams until `cancel`.
pub async fn run(socket: UdpSocket, cancel: CancellationToken) {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM + 1];
    let mut drops = DropCounts::default();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            received = socket.recv_from(&mut buf) => {
                if let Ok((len, _from)) = received {
                    let reason = match Header::peek(&buf[..len]) {
                        Err(reason) => reason,
                        Ok(_) => DropReason::UnknownSession,
                    };
                    drops.count(reason);
                }
            }
        }
    }
    tracing::debug!(dropped = drops.total(), "media socket closed");
}
