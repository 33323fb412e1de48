//! Media on UDP 3785: voice, video, screen share (and later VPN) packets.
//!
//! [`packet`] is the sans-IO packet format (header, hop-by-hop ChaCha20-Poly1305, inner media
//! header), [`replay`] the anti-replay window, and [`relay`] the sans-IO forwarding decisions.
//! The socket task here only moves datagrams between the socket and the relay.

pub mod packet;
pub mod relay;
pub mod replay;

use relay::Relay;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Receives datagrams until `cancel`, lets the relay decide, and sends what it says.
pub async fn run(socket: UdpSocket, relay: Arc<Mutex<Relay>>, cancel: CancellationToken) {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM + 1];
    let mut outgoing = Vec::new();
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => break,
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, from)) = received else { continue };
        relay.lock().unwrap_or_else(|p| p.into_inner()).handle(from, &mut buf[..len], &mut outgoing);
        for (to, datagram) in outgoing.drain(..) {
            let _ = socket.send_to(&datagram, to).await;
        }
    }
}
