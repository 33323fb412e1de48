//! The UDP media socket (3785): voice, video, screen share and VPN packets.
//!
//! In this version the socket is bound (so the port is reserved and reachable) and every
//! datagram is counted and dropped; the encrypted relay is built on top of this task.

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Receives and drops datagrams until `cancel`.
pub async fn run(socket: UdpSocket, cancel: CancellationToken) {
    let mut buf = vec![0u8; 2048];
    let mut dropped: u64 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            received = socket.recv_from(&mut buf) => {
                if received.is_ok() {
                    dropped += 1;
                }
            }
        }
    }
    tracing::debug!(dropped, "media socket closed");
}
