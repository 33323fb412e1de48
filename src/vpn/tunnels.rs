//! The server's WireGuard peers and every decision about their packets, sans-IO: which peer a
//! datagram belongs to, what to send back, what goes into the TUN device, and where a packet
//! read from the TUN device goes. Byte counters, the bandwidth cap and the handshake clock are
//! kept per peer. No sockets, no device: the data path (`datapath`) moves the bytes.
//!
//! Each peer is one `boringtun::noise::Tunn`. A handshake initiation is matched to a peer by
//! the static key inside it (decrypted with the server's key); every later message by its
//! receiver index, whose upper 24 bits are the peer's slot here. A peer that is not (or no
//! longer) in the table gets no answer, so a revoked peer's handshakes fail and its session
//! ends at once. A decrypted packet must come from the peer's own address (the only address
//! its `AllowedIPs` holds on the server side); IPv6 is not routed.

use super::keys;
use crate::ratelimit::{Rate, TokenBucket};
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest WireGuard datagram handled (an MTU-sized packet plus 32 bytes of overhead fits).
pub const MAX_DATAGRAM: usize = 65_535;
/// Handshake initiations per second before the server answers with cookies.
const HANDSHAKES_PER_SECOND: u64 = 100;
/// How much traffic a capped peer may burst, in seconds at its cap.
const BURST_SECONDS: f64 = 0.25;
/// The smallest burst, in kilobits (a few full-size packets).
const MIN_BURST_KILOBITS: f64 = 128.0;

/// One peer as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The store's id.
    pub id: i64,
    /// Its WireGuard public key.
    pub public_key: [u8; 32],
    /// Its tunnel address.
    pub address: Ipv4Addr,
    /// Its own cap (kbit/s each way); `None` follows the server-wide cap, 0 is unlimited.
    pub max_bandwidth_kbps: Option<u32>,
}

/// What the data path sees of a peer right now.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerCounters {
    /// The store's id.
    pub id: i64,
    /// Where its last authenticated datagram came from.
    pub endpoint: Option<SocketAddr>,
    /// Bytes of IP packets received from it through the tunnel.
    pub rx_bytes: u64,
    /// Bytes of IP packets sent to it through the tunnel.
    pub tx_bytes: u64,
    /// Time since its last completed handshake.
    pub since_handshake: Option<Duration>,
    /// Packets dropped because it was over its cap.
    pub over_cap_drops: u64,
    /// The cap in force, kbit/s each way (0 = unlimited).
    pub effective_kbps: u32,
}

/// Counters of datagrams that were not accepted, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpnDrops {
    /// Not a well-formed WireGuard message, or failed its MAC or decryption.
    pub invalid: u64,
    /// From a key or session the server does not know (e.g. a revoked peer).
    pub unknown_peer: u64,
    /// A decrypted packet whose source is not the peer's address, or not IPv4.
    pub wrong_source: u64,
    /// A packet from the TUN device for an address no peer has, or no peer endpoint yet.
    pub no_route: u64,
    /// Over a peer's bandwidth cap.
    pub over_cap: u64,
}

/// Byte buffers kept for reuse: filled one after another and emptied with [`Buffers::clear`],
/// so that a steady flow allocates nothing per packet. Each keeps `headroom` spare bytes in
/// front of what it holds (where the TUN device's virtio-net header is written).
#[derive(Debug, Default)]
pub struct Buffers {
    slots: Vec<Vec<u8>>,
    filled: usize,
    headroom: usize,
}

impl Buffers {
    /// No buffers yet; each will keep `headroom` bytes in front.
    pub fn with_headroom(headroom: usize) -> Buffers {
        Buffers { slots: Vec::new(), filled: 0, headroom }
    }

    /// Appends a copy of `bytes`, in a buffer of an earlier round when there is one.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.filled == self.slots.len() {
            self.slots.push(Vec::with_capacity(self.headroom + bytes.len()));
        }
        let slot = &mut self.slots[self.filled];
        slot.clear();
        slot.resize(self.headroom, 0);
        slot.extend_from_slice(bytes);
        self.filled += 1;
    }

    /// How many are filled.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// What the `index`th filled one holds (without its headroom).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.slots[..self.filled].get(index)?.get(self.headroom..)
    }

    /// What the filled ones hold (without their headroom), in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.slots[..self.filled].iter().map(|slot| &slot[self.headroom..])
    }

    /// The filled buffers themselves, headroom included (a writer may grow them).
    pub fn filled_mut(&mut self) -> &mut [Vec<u8>] {
        &mut self.slots[..self.filled]
    }

    /// The spare bytes in front of each buffer's contents.
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// Empties them all (their memory is kept for the next round).
    pub fn clear(&mut self) {
        self.filled = 0;
    }
}

/// Where the data path must put bytes; filled by [`Tunnels`] and emptied by the caller.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Where each datagram of `network` goes.
    pub network_to: Vec<SocketAddr>,
    /// Datagrams for the UDP socket.
    pub network: Buffers,
    /// IP packets for the TUN device.
    pub tun: Buffers,
}

impl Outbox {
    /// Empty, with `tun_headroom` spare bytes in front of each packet for the TUN device.
    pub fn with_tun_headroom(tun_headroom: usize) -> Outbox {
        Outbox { tun: Buffers::with_headroom(tun_headroom), ..Outbox::default() }
    }

    /// Adds `datagram` for `to`.
    pub fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.network_to.push(to);
        self.network.push(datagram);
    }

    /// The datagrams for the network with their destinations.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.network_to.iter().copied().zip(self.network.iter())
    }

    /// Forgets the datagrams (once sent).
    pub fn clear_network(&mut self) {
        self.network_to.clear();
        self.network.clear();
    }
}

struct Peer {
    spec: PeerSpec,
    tunn: Tunn,
    endpoint: Option<SocketAddr>,
    rx_bytes: u64,
    tx_bytes: u64,
    over_cap_drops: u64,
    cap: Option<Rate>,
    upload: Option<TokenBucket>,
    download: Option<TokenBucket>,
}

impl Peer {
    fn effective_kbps(&self, global_kbps: u32) -> u32 {
        self.spec.max_bandwidth_kbps.unwrap_or(global_kbps)
    }

    /// Sets the cap (kbit/s; 0 = none) and refills both buckets.
    fn set_cap(&mut self, kbps: u32, now: Instant) {
        self.cap = (kbps > 0).then(|| {
            let kbps = f64::from(kbps);
            Rate::with_capacity((kbps * BURST_SECONDS).max(MIN_BURST_KILOBITS), Duration::from_secs_f64(1.0 / kbps))
        });
        self.upload = self.cap.as_ref().map(|rate| TokenBucket::full(rate, now));
        self.download = self.upload;
    }

    /// Whether a packet of `len` bytes fits the cap in one direction (`upload`: from the peer).
    fn within_cap(&mut self, upload: bool, len: usize, now: Instant) -> bool {
        let (Some(rate), Some(bucket)) =
            (self.cap.as_ref(), if upload { &mut self.upload } else { &mut self.download })
        else {
            return true;
        };
        let fits = bucket.take_amount(rate, len as f64 * 8.0 / 1000.0, now);
        if !fits {
            self.over_cap_drops += 1;
        }
        fits
    }
}

/// Every peer of the running VPN.
pub struct Tunnels {
    secret: StaticSecret,
    public: PublicKey,
    handshake_limiter: Arc<RateLimiter>,
    peers: HashMap<u32, Peer>,
    by_key: HashMap<[u8; 32], u32>,
    by_address: HashMap<Ipv4Addr, u32>,
    next_slot: u32,
    global_kbps: u32,
    drops: VpnDrops,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnels")
            .field("public", &keys::encode(self.public.as_bytes()))
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Tunnels {
    /// No peers yet; `global_kbps` is the cap of peers without their own (0 = unlimited).
    pub fn new(secret: StaticSecret, global_kbps: u32) -> Tunnels {
        let public = PublicKey::from(&secret);
        Tunnels {
            handshake_limiter: Arc::new(RateLimiter::new(&public, HANDSHAKES_PER_SECOND)),
            secret,
            public,
            peers: HashMap::new(),
            by_key: HashMap::new(),
            by_address: HashMap::new(),
            next_slot: 1,
            global_kbps,
            drops: VpnDrops::default(),
            scratch: vec![0u8; MAX_DATAGRAM],
        }
    }

    /// The server's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// Makes the table hold exactly `specs`: new peers are added, gone ones removed at once
    /// (their sessions end), changed caps applied. A peer whose key or address changed starts
    /// over with a new session.
    pub fn sync(&mut self, specs: &[PeerSpec], global_kbps: u32, now: Instant) {
        let global_changed = global_kbps != self.global_kbps;
        self.global_kbps = global_kbps;
        let stale: Vec<u32> = self
            .peers
            .iter()
            .filter(|(_, peer)| {
                !specs.iter().any(|spec| {
                    spec.id == peer.spec.id
                        && spec.public_key == peer.spec.public_key
                        && spec.address == peer.spec.address
                })
            })
            .map(|(slot, _)| *slot)
            .collect();
        for slot in stale {
            self.remove_slot(slot);
        }
        for spec in specs {
            match self.by_key.get(&spec.public_key).and_then(|slot| self.peers.get_mut(slot)) {
                Some(peer) => {
                    if global_changed || peer.spec.max_bandwidth_kbps != spec.max_bandwidth_kbps {
                        peer.spec.max_bandwidth_kbps = spec.max_bandwidth_kbps;
                        let kbps = peer.effective_kbps(global_kbps);
                        peer.set_cap(kbps, now);
                    }
                }
                None => self.insert(spec.clone(), now),
            }
        }
    }

    fn insert(&mut self, spec: PeerSpec, now: Instant) {
        if self.by_address.contains_key(&spec.address) {
            tracing::warn!(peer = spec.id, address = %spec.address, "two VPN peers share an address; the later is ignored");
            return;
        }
        let slot = self.next_slot;
        // Slots fill the upper 24 bits of session indices.
        self.next_slot = (self.next_slot % 0x00ff_ffff) + 1;
        let tunn = Tunn::new(
            self.secret.clone(),
            PublicKey::from(spec.public_key),
            None,
            None,
            slot,
            Some(self.handshake_limiter.clone()),
        );
        let mut peer = Peer {
            tunn,
            endpoint: None,
            rx_bytes: 0,
            tx_bytes: 0,
            over_cap_drops: 0,
            cap: None,
            upload: None,
            download: None,
            spec,
        };
        let kbps = peer.effective_kbps(self.global_kbps);
        peer.set_cap(kbps, now);
        self.by_key.insert(peer.spec.public_key, slot);
        self.by_address.insert(peer.spec.address, slot);
        self.peers.insert(slot, peer);
    }

    fn remove_slot(&mut self, slot: u32) {
        if let Some(peer) = self.peers.remove(&slot) {
            self.by_key.remove(&peer.spec.public_key);
            self.by_address.remove(&peer.spec.address);
        }
    }

    /// Counters of every peer.
    pub fn counters(&self) -> Vec<PeerCounters> {
        self.peers
            .values()
            .map(|peer| {
                let (since_handshake, ..) = peer.tunn.stats();
                PeerCounters {
                    id: peer.spec.id,
                    endpoint: peer.endpoint,
                    rx_bytes: peer.rx_bytes,
                    tx_bytes: peer.tx_bytes,
                    since_handshake,
                    over_cap_drops: peer.over_cap_drops,
                    effective_kbps: peer.effective_kbps(self.global_kbps),
                }
            })
            .collect()
    }

    /// What was dropped so far.
    pub fn drops(&self) -> &VpnDrops {
        &self.drops
    }

    /// Handles one WireGuard datagram from `from`.
    pub fn from_network(&mut self, from: SocketAddr, datagram: &[u8], now: Instant, out: &mut Outbox) {
        let mut cookie = [0u8; 64];
        let packet = match self.handshake_limiter.verify_packet(Some(from.ip()), datagram, &mut cookie) {
            Ok(packet) => packet,
            Err(TunnResult::WriteToNetwork(reply)) => return out.send(from, reply),
            Err(_) => {
                self.drops.invalid += 1;
                return;
            }
        };
        let slot = match packet {
            Packet::HandshakeInit(ref init) => parse_handshake_anon(&self.secret, &self.public, init)
                .ok()
                .and_then(|half| self.by_key.get(&half.peer_static_public).copied()),
            Packet::HandshakeResponse(ref response) => Some(response.receiver_idx >> 8),
            Packet::PacketCookieReply(ref reply) => Some(reply.receiver_idx >> 8),
            Packet::PacketData(ref data) => Some(data.receiver_idx >> 8),
        };
        let Some(peer) = slot.and_then(|slot| self.peers.get_mut(&slot)) else {
            self.drops.unknown_peer += 1;
            return;
        };
        let mut result = peer.tunn.decapsulate(Some(from.ip()), datagram, &mut self.scratch);
        loop {
            match result {
                TunnResult::Done => {
                    peer.endpoint = Some(from);
                    return;
                }
                TunnResult::Err(err) => {
                    tracing::debug!(error = ?err, "a VPN datagram was refused");
                    self.drops.invalid += 1;
                    return;
                }
                TunnResult::WriteToNetwork(reply) => {
                    peer.endpoint = Some(from);
                    out.send(from, reply);
                    // Packets queued during the handshake follow it.
                    result = peer.tunn.decapsulate(None, &[], &mut self.scratch);
                }
                TunnResult::WriteToTunnelV4(inner, source) => {
                    peer.endpoint = Some(from);
                    if source != peer.spec.address {
                        self.drops.wrong_source += 1;
                    } else if peer.within_cap(true, inner.len(), now) {
                        peer.rx_bytes += inner.len() as u64;
                        out.tun.push(inner);
                    } else {
                        self.drops.over_cap += 1;
                    }
                    return;
                }
                TunnResult::WriteToTunnelV6(..) => {
                    peer.endpoint = Some(from);
                    self.drops.wrong_source += 1;
                    return;
                }
            }
        }
    }

    /// Handles one IP packet read from the TUN device: seals it for the peer it is addressed to.
    pub fn from_tun(&mut self, packet: &[u8], now: Instant, out: &mut Outbox) {
        let peer = match Tunn::dst_address(packet) {
            Some(IpAddr::V4(destination)) => {
                self.by_address.get(&destination).and_then(|slot| self.peers.get_mut(slot))
            }
            _ => None,
        };
        let Some(peer) = peer else {
            self.drops.no_route += 1;
            return;
        };
        if !peer.within_cap(false, packet.len(), now) {
            self.drops.over_cap += 1;
            return;
        }
        match peer.tunn.encapsulate(packet, &mut self.scratch) {
            TunnResult::WriteToNetwork(sealed) => match peer.endpoint {
                Some(endpoint) => {
                    peer.tx_bytes += packet.len() as u64;
                    out.send(endpoint, sealed);
                }
                None => self.drops.no_route += 1,
            },
            TunnResult::Err(err) => {
                tracing::debug!(error = ?err, "could not seal a VPN packet");
                self.drops.no_route += 1;
            }
            // Queued until a handshake completes (the server never initiates without an endpoint).
            _ => {}
        }
    }

    /// Runs every peer's timers (keepalives, rekeying, session expiry); call a few times a second.
    pub fn tick(&mut self, out: &mut Outbox) {
        self.handshake_limiter.reset_count();
        for peer in self.peers.values_mut() {
            if let TunnResult::WriteToNetwork(packet) = peer.tunn.update_timers(&mut self.scratch) {
                if let Some(endpoint) = peer.endpoint {
                    out.send(endpoint, packet);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 2);

    fn phone_endpoint() -> SocketAddr {
        "192.0.2.7:51820".parse().expect("addr")
    }

    /// A server table with one peer, and that peer's own Tunn (the phone).
    fn server_and_phone(cap_kbps: Option<u32>) -> (Tunnels, Tunn, PeerSpec) {
        let server_secret = keys::generate();
        let phone_secret = keys::generate();
        let spec = PeerSpec {
            id: 7,
            public_key: keys::public_of(&phone_secret),
            address: PHONE_ADDR,
            max_bandwidth_kbps: cap_kbps,
        };
        let mut server = Tunnels::new(server_secret.clone(), 0);
        server.sync(std::slice::from_ref(&spec), 0, Instant::now());
        let phone = Tunn::new(phone_secret, PublicKey::from(&server_secret), None, None, 99, None);
        (server, phone, spec)
    }

    /// A minimal IPv4 header + payload from `source` to `destination`.
    fn ipv4_packet(source: Ipv4Addr, destination: Ipv4Addr, payload_len: usize) -> Vec<u8> {
        let total = 20 + payload_len;
        let mut packet = vec![0u8; total];
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        packet[8] = 64;
        packet[9] = 17;
        packet[12..16].copy_from_slice(&source.octets());
        packet[16..20].copy_from_slice(&destination.octets());
        packet
    }

    /// The phone sends `packet`; returns what the server does with the datagrams.
    fn phone_sends(server: &mut Tunnels, phone: &mut Tunn, packet: &[u8], now: Instant) -> Outbox {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut out = Outbox::default();
        let datagram = match phone.encapsulate(packet, &mut buf) {
            TunnResult::WriteToNetwork(datagram) => datagram.to_vec(),
            other => panic!("phone could not send: {other:?}"),
        };
        server.from_network(phone_endpoint(), &datagram, now, &mut out);
        out
    }

    /// Runs the handshake: phone initiates, server answers, phone confirms with a keepalive.
    fn handshake(server: &mut Tunnels, phone: &mut Tunn) {
        let now = Instant::now();
        let out = phone_sends(server, phone, &ipv4_packet(PHONE_ADDR, Ipv4Addr::new(1, 1, 1, 1), 10), now);
        assert_eq!(out.network.len(), 1, "the server answers the handshake");
        let (to, response) = out.datagrams().next().expect("one");
        assert_eq!(to, phone_endpoint());
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut result = phone.decapsulate(None, response, &mut buf);
        let mut out = Outbox::default();
        while let TunnResult::WriteToNetwork(datagram) = result {
            server.from_network(phone_endpoint(), datagram, now, &mut out);
            result = phone.decapsulate(None, &[], &mut buf);
        }
        assert_eq!(out.tun.len(), 1, "the packet queued during the handshake reaches the TUN device");
    }

    #[test]
    fn buffers_keep_their_headroom_and_are_reused_round_after_round() {
        let mut buffers = Buffers::with_headroom(10);
        buffers.push(b"first");
        buffers.push(b"second");
        assert_eq!(buffers.iter().collect::<Vec<_>>(), vec![&b"first"[..], &b"second"[..]]);
        assert_eq!(buffers.filled_mut()[1].len(), 10 + 6, "the headroom is in front");
        let memory = buffers.filled_mut()[0].as_ptr();
        buffers.clear();
        assert!(buffers.is_empty());
        buffers.push(b"third");
        assert_eq!(buffers.iter().collect::<Vec<_>>(), vec![&b"third"[..]]);
        assert_eq!(buffers.filled_mut()[0].as_ptr(), memory, "the first round's buffer is reused");
    }

    #[test]
    fn a_known_peer_handshakes_and_its_packets_go_both_ways() {
        let (mut server, mut phone, _) = server_and_phone(None);
        handshake(&mut server, &mut phone);
        let now = Instant::now();
        let up = ipv4_packet(PHONE_ADDR, Ipv4Addr::new(198, 18, 0, 2), 1000);
        let out = phone_sends(&mut server, &mut phone, &up, now);
        assert_eq!(out.tun.iter().collect::<Vec<_>>(), vec![&up[..]], "decrypted into the TUN device unchanged");

        let down = ipv4_packet(Ipv4Addr::new(198, 18, 0, 2), PHONE_ADDR, 500);
        let mut out = Outbox::default();
        server.from_tun(&down, now, &mut out);
        assert_eq!(out.network.len(), 1);
        let (to, sealed) = out.datagrams().next().expect("one");
        assert_eq!(to, phone_endpoint(), "sent to where the phone was last seen");
        let mut buf = vec![0u8; MAX_DATAGRAM];
        match phone.decapsulate(None, sealed, &mut buf) {
            TunnResult::WriteToTunnelV4(packet, _) => assert_eq!(packet, &down[..]),
            other => panic!("phone could not open it: {other:?}"),
        }
        let counters = server.counters();
        assert_eq!(counters[0].rx_bytes, (up.len() + 30) as u64, "the queued packet and this one");
        assert_eq!(counters[0].tx_bytes, down.len() as u64);
        assert!(counters[0].since_handshake.is_some());
    }

    #[test]
    fn a_removed_peer_gets_no_answer_and_its_session_ends() {
        let (mut server, mut phone, _) = server_and_phone(None);
        handshake(&mut server, &mut phone);
        server.sync(&[], 0, Instant::now());
        let out = phone_sends(
            &mut server,
            &mut phone,
            &ipv4_packet(PHONE_ADDR, Ipv4Addr::new(1, 1, 1, 1), 100),
            Instant::now(),
        );
        assert!(out.tun.is_empty() && out.network.is_empty(), "the old session is gone");
        assert_eq!(server.drops().unknown_peer, 1);

        let mut fresh = Tunn::new(keys::generate(), PublicKey::from(server.public_key()), None, None, 5, None);
        let out = phone_sends(&mut server, &mut fresh, &[], Instant::now());
        assert!(out.network.is_empty(), "a handshake from an unknown key is not answered");
        assert_eq!(server.drops().unknown_peer, 2);
    }

    #[test]
    fn spoofed_sources_garbage_and_unroutable_packets_are_dropped_and_counted() {
        let (mut server, mut phone, _) = server_and_phone(None);
        handshake(&mut server, &mut phone);
        let now = Instant::now();
        let spoofed = ipv4_packet(Ipv4Addr::new(10, 8, 0, 3), Ipv4Addr::new(1, 1, 1, 1), 10);
        assert!(phone_sends(&mut server, &mut phone, &spoofed, now).tun.is_empty());
        assert_eq!(server.drops().wrong_source, 1);

        let mut out = Outbox::default();
        for garbage in [&b"\x01\x00\x00\x00short"[..], &[4, 0, 0, 0, 9, 9, 9, 9][..], &[0u8; 200][..]] {
            server.from_network(phone_endpoint(), garbage, now, &mut out);
        }
        assert!(out.network.is_empty() && out.tun.is_empty());
        assert_eq!(server.drops().invalid + server.drops().unknown_peer, 3);

        server.from_tun(&ipv4_packet(Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(10, 8, 0, 9), 10), now, &mut out);
        server.from_tun(&[0x60; 10], now, &mut out);
        assert!(out.network.is_empty());
        assert_eq!(server.drops().no_route, 2);
    }

    #[test]
    fn a_capped_peer_is_held_to_its_rate_each_way() {
        // 800 kbit/s = 100 kB/s; the burst is 0.25 s of it (25 kB).
        let (mut server, mut phone, _) = server_and_phone(Some(800));
        handshake(&mut server, &mut phone);
        let start = Instant::now();
        let packet = ipv4_packet(PHONE_ADDR, Ipv4Addr::new(198, 18, 0, 2), 980);
        let mut delivered = 0usize;
        // Offer 1 MB over one simulated second.
        for step in 0..1000u64 {
            let now = start + Duration::from_millis(step);
            delivered += phone_sends(&mut server, &mut phone, &packet, now).tun.len() * packet.len();
        }
        assert!((100_000..=130_000).contains(&delivered), "{delivered} bytes passed in one second");
        assert!(server.counters()[0].over_cap_drops > 800);

        let mut down_delivered = 0usize;
        let down = ipv4_packet(Ipv4Addr::new(198, 18, 0, 2), PHONE_ADDR, 980);
        for step in 0..1000u64 {
            let mut out = Outbox::default();
            server.from_tun(&down, start + Duration::from_millis(2000 + step), &mut out);
            down_delivered += out.network.len() * down.len();
        }
        assert!((100_000..=130_000).contains(&down_delivered), "{down_delivered} bytes sent in one second");

        let (mut open, mut open_phone, mut open_spec) = server_and_phone(Some(800));
        open_spec.max_bandwidth_kbps = Some(0);
        open.sync(std::slice::from_ref(&open_spec), 0, start);
        handshake(&mut open, &mut open_phone);
        let passed: usize = (0..200).map(|_| phone_sends(&mut open, &mut open_phone, &packet, start).tun.len()).sum();
        assert_eq!(passed, 200, "0 lifts the cap");
    }
}
