//! The VPN's data path: three tasks that move bytes between the WireGuard datagrams handed
//! over by the media socket task (batches on a bounded queue, so a busy tunnel never stalls
//! voice), the
//! TUN device, the UDP socket (a second handle on the media socket, so replies leave from
//! port 3785) and the [`Tunnels`] table that decides. Each stops on `cancel`; the device and
//! NAT rules go when the last of them ends.

use super::inlet::Outlet;
use super::system::NatRules;
use super::tun_io::{self, TunReader, TunWriter};
use super::tunnels::{Outbox, Tunnels};
use super::udp_io::UdpSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// How often the peers' timers run (boringtun's timers have a 250 ms resolution need).
const TIMER_TICK: Duration = Duration::from_millis(250);
/// Reads taken from the TUN device at once (one lock for all of them).
const BATCH: usize = 64;
/// Most batches of datagrams from the network decrypted into one write to the TUN device.
const BATCHES_PER_WRITE: usize = 4;

/// What the data path holds on to while it runs; dropped after the last task ends.
pub struct Resources {
    /// The TUN device (the kernel removes it when it is closed).
    pub device: tun_rs::AsyncDevice,
    /// The NAT table, deleted on drop.
    pub nat: NatRules,
}

/// Starts the three tasks on `tasks`.
pub fn spawn(
    inbox: Outlet,
    socket: UdpSocket,
    resources: Resources,
    tunnels: Arc<Mutex<Tunnels>>,
    tasks: &tokio_util::task::TaskTracker,
    cancel: CancellationToken,
) {
    let socket = Arc::new(socket);
    let resources = Arc::new(resources);
    tasks.spawn(network_to_tun(inbox, socket.clone(), resources.clone(), tunnels.clone(), cancel.clone()));
    tasks.spawn(tun_to_network(socket.clone(), resources.clone(), tunnels.clone(), cancel.clone()));
    tasks.spawn(timers(socket, resources, tunnels, cancel));
}

fn lock(tunnels: &Mutex<Tunnels>) -> std::sync::MutexGuard<'_, Tunnels> {
    tunnels.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn network_to_tun(
    mut inbox: Outlet,
    socket: Arc<UdpSocket>,
    resources: Arc<Resources>,
    tunnels: Arc<Mutex<Tunnels>>,
    cancel: CancellationToken,
) {
    let mut outbox = Outbox::with_tun_headroom(tun_io::HEADROOM);
    let mut writer = TunWriter::default();
    let mut sender = UdpSender::default();
    loop {
        let batch = tokio::select! {
            _ = cancel.cancelled() => break,
            batch = inbox.recv() => batch,
        };
        let Some(first) = batch else { break };
        {
            let mut table = lock(&tunnels);
            let now = Instant::now();
            // Batches that queued up meanwhile join this one's write to the device (more to coalesce).
            let mut batch = first;
            for taken in 1.. {
                for (from, datagram) in batch.iter() {
                    table.from_network(from, datagram, now, &mut outbox);
                }
                inbox.give_back(batch);
                let Some(next) = (taken < BATCHES_PER_WRITE).then(|| inbox.try_recv()).flatten() else { break };
                batch = next;
            }
        }
        writer.send(&resources.device, &mut outbox.tun).await;
        sender.send_all(&socket, &mut outbox).await;
    }
}

async fn tun_to_network(
    socket: Arc<UdpSocket>,
    resources: Arc<Resources>,
    tunnels: Arc<Mutex<Tunnels>>,
    cancel: CancellationToken,
) {
    let mut reader = TunReader::new();
    let mut outbox = Outbox::default();
    let mut sender = UdpSender::default();
    loop {
        let read = tokio::select! {
            _ = cancel.cancelled() => break,
            read = reader.recv(&resources.device) => read,
        };
        match read {
            Ok(()) => {}
            Err(err) if tun_io::concerns_one_packet(&err) => {
                tracing::debug!(error = %err, "a malformed packet from the VPN device was dropped");
                continue;
            }
            Err(err) => {
                tracing::warn!(error = %err, "the VPN device failed; the VPN stops");
                break;
            }
        }
        {
            let mut table = lock(&tunnels);
            let now = Instant::now();
            // With whatever else is already waiting, under the same lock.
            reader.visit_waiting(&resources.device, BATCH, |packet| table.from_tun(packet, now, &mut outbox));
        }
        sender.send_all(&socket, &mut outbox).await;
    }
}

async fn timers(
    socket: Arc<UdpSocket>,
    _resources: Arc<Resources>,
    tunnels: Arc<Mutex<Tunnels>>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(TIMER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut outbox = Outbox::default();
    let mut sender = UdpSender::default();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        lock(&tunnels).tick(&mut outbox);
        sender.send_all(&socket, &mut outbox).await;
    }
}
