//! Media on UDP 3785: voice, video and screen share packets, beside the VPN's WireGuard ones.
//!
//! [`packet`] is the sans-IO packet format (header, hop-by-hop ChaCha20-Poly1305, inner media
//! header), [`replay`] the anti-replay window, and [`relay`] the sans-IO forwarding decisions.
//! The socket loop here only moves datagrams between the socket and the relay, after handing
//! WireGuard datagrams (type 1..4 then three zero bytes; a media packet's second byte is never
//! 0) to the VPN ([`crate::vpn::Inlet`], in one batch per turn). It runs on a thread of its
//! own, so forwarding never waits behind the control connections' tasks, and [`io`] takes a
//! turn's datagrams from the kernel and hands the copies of what arrived back to it in a
//! system call each.

pub(crate) mod io;
pub mod packet;
pub mod relay;
pub mod replay;

use relay::{Outgoing, Participant, Relay, TalkingChange};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often silence is checked for talking indicators; also the longest the loop takes to
/// notice `cancel`.
const TALKING_TICK: Duration = Duration::from_millis(100);

/// Receives datagrams until `cancel`, lets the relay decide, sends what it says, and every
/// [`TALKING_TICK`] reports who started and stopped talking on `talking` (dropped when the
/// receiver lags).
pub async fn run<T: Participant + Send + 'static>(
    socket: UdpSocket,
    relay: Arc<Mutex<Relay<T>>>,
    talking: mpsc::Sender<TalkingChange>,
    mut vpn: crate::vpn::Inlet,
    cancel: CancellationToken,
) {
    let socket = match socket.into_std() {
        Ok(socket) => socket,
        Err(err) => {
            tracing::error!("media: cannot take over the UDP socket: {err}");
            return;
        }
    };
    if let Err(err) = io::prepare(&socket, TALKING_TICK) {
        tracing::error!("media: cannot set up the UDP socket: {err}");
        return;
    }
    let relay_loop =
        tokio::task::spawn_blocking(move || forward_until_cancelled(&socket, &relay, &talking, &mut vpn, &cancel));
    if let Err(err) = relay_loop.await {
        tracing::error!("media: the relay loop ended abnormally: {err}");
    }
}

/// The relay's thread: datagrams in, their copies out, and the talking tick in between.
fn forward_until_cancelled<T: Participant>(
    socket: &std::net::UdpSocket,
    relay: &Mutex<Relay<T>>,
    talking: &mpsc::Sender<TalkingChange>,
    vpn: &mut crate::vpn::Inlet,
    cancel: &CancellationToken,
) {
    let mut receiver = io::BatchReceiver::new();
    let mut outgoing = Outgoing::default();
    let mut sender = io::BatchSender::new();
    let mut next_tick = Instant::now() + TALKING_TICK;
    while !cancel.is_cancelled() {
        let readable = io::wait_readable(socket, TALKING_TICK);
        let now = Instant::now();
        if now >= next_tick {
            // Only the tick scans every member; the per-datagram path stays O(recipients).
            next_tick = now + TALKING_TICK;
            let changes = relay.lock().unwrap_or_else(|p| p.into_inner()).talking_changes(now);
            for change in changes {
                let _ = talking.try_send(change);
            }
        }
        if !readable {
            continue;
        }
        // Nothing waiting (a wake-up without a datagram) or an error about one peer: next turn.
        if receiver.receive(socket).is_err() {
            continue;
        }
        receiver.each(|from, datagram| {
            if !vpn.offer(from, datagram) {
                relay.lock().unwrap_or_else(|p| p.into_inner()).handle(from, datagram, now, &mut outgoing);
            }
        });
        vpn.flush();
        sender.send_all(socket, &mut outgoing);
    }
}
