//! Media on UDP 3785: voice, video and screen share packets, beside the VPN's WireGuard ones.
//!
//! [`packet`] is the sans-IO packet format (header, hop-by-hop ChaCha20-Poly1305, inner media
//! header), [`replay`] the anti-replay window, and [`relay`] the sans-IO forwarding decisions.
//! The socket task here only moves datagrams between the socket and the relay, after handing
//! WireGuard datagrams (type 1..4 then three zero bytes; a media packet's second byte is never
//! 0) to the VPN ([`crate::vpn::Inlet`]).

pub mod packet;
pub mod relay;
pub mod replay;

use relay::{Relay, TalkingChange};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often silence is checked for talking indicators.
const TALKING_TICK: Duration = Duration::from_millis(100);

/// Receives datagrams until `cancel`, lets the relay decide, sends what it says, and every
/// [`TALKING_TICK`] reports who started and stopped talking on `talking` (dropped when the
/// receiver lags).
pub async fn run(
    socket: UdpSocket,
    relay: Arc<Mutex<Relay>>,
    talking: mpsc::Sender<TalkingChange>,
    vpn: crate::vpn::Inlet,
    cancel: CancellationToken,
) {
    // Room for full-size WireGuard datagrams; a media datagram over its limit still shows as such.
    let mut buf = vec![0u8; (packet::MAX_DATAGRAM + 1).max(crate::vpn::tunnels::MAX_DATAGRAM)];
    let mut outgoing = Vec::new();
    let mut tick = tokio::time::interval(TALKING_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                // Only the tick scans every member; the per-datagram path stays O(recipients).
                let changes = relay.lock().unwrap_or_else(|p| p.into_inner()).talking_changes(Instant::now());
                for change in changes {
                    let _ = talking.try_send(change);
                }
                continue;
            }
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, from)) = received else { continue };
        if vpn.offer(from, &buf[..len]) {
            continue;
        }
        relay.lock().unwrap_or_else(|p| p.into_inner()).handle(from, &mut buf[..len], Instant::now(), &mut outgoing);
        for (to, datagram) in outgoing.drain(..) {
            let _ = socket.send_to(&datagram, to).await;
        }
    }
}
