//! The relay's decisions, sans-IO: which media sessions exist, which voice channel each is in,
//! where each is reachable, and for every received datagram what to send to whom.
//!
//! A session's address is learnt from an authenticated keepalive (and may change that way, for
//! NAT rebinding); media from any other address is dropped. A media packet is opened with the
//! sender's hop-by-hop key, stamped with the sender's session id as its source, and sealed
//! again for each other reachable, undeafened member of the same channel (video only to those
//! watching that stream); a muted member's voice goes nowhere. Forwarded media also drives the talking indicators (time passed in). The payload after the
//! inner media header is forwarded untouched; with the end-to-end layer it is an SFrame frame
//! the relay cannot read.
//!
//! Each session has a packet budget ([`PACKET_RATE`], and [`VOICE_RATE`] for voice) so that a
//! flooding member costs the relay little: once over budget, its packets are dropped before
//! decryption and before any fan-out. Only packets that open take from the budget, so nobody
//! can spend another session's budget with forged packets.

use super::packet::{DropCounts, DropReason, Header, Kind, MediaHeader, Session, StreamKind};
use crate::ratelimit::{Rate, TokenBucket};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Every packet of a session: bursts of up to 1,200 (a 1 MiB video keyframe is about 950
/// fragments), 4,000 a second sustained.
pub const PACKET_RATE: Rate = Rate::new(1200, Duration::from_micros(250));
/// Voice packets of a session: bursts of up to 100, 200 a second sustained (Opus sends 50,
/// or 100 with 10 ms frames).
pub const VOICE_RATE: Rate = Rate::new(100, Duration::from_millis(5));

#[derive(Debug)]
struct Member {
    crypto: Session,
    /// What is left of [`PACKET_RATE`].
    budget: TokenBucket,
    /// What is left of [`VOICE_RATE`].
    voice_budget: TokenBucket,
    channel: i64,
    addr: Option<SocketAddr>,
    deafened: bool,
    muted: bool,
    /// When this member's media was last forwarded, while they count as talking.
    talking_since_last: Option<Instant>,
    /// The video streams this member has started.
    sending_video: HashSet<StreamKind>,
    /// The (source session, stream) pairs of video this member wants.
    watching: HashSet<(u32, StreamKind)>,
}

/// The call already has its maximum of video senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this call already has its maximum of {0} video senders")]
pub struct VideoFull(pub usize);

/// A member started or stopped talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalkingChange {
    /// The member's media session.
    pub session: u32,
    /// Talking now or not.
    pub talking: bool,
}

/// Silence after which a member no longer counts as talking.
pub const TALKING_HOLD: Duration = Duration::from_millis(300);

/// Every media session of one server.
#[derive(Debug, Default)]
pub struct Relay {
    members: HashMap<u32, Member>,
    drops: DropCounts,
    forwarded: u64,
    talking_changes: Vec<TalkingChange>,
}

/// Datagrams to send: (destination, bytes).
pub type Outgoing = Vec<(SocketAddr, Vec<u8>)>;

impl Relay {
    /// Adds a session in `channel`, keyed with `key` (the server's side of it), at `now`.
    pub fn add(&mut self, id: u32, key: &[u8; 32], channel: i64, now: Instant) {
        let crypto = Session::new(id, key, super::packet::Direction::ToClient);
        let member = Member {
            crypto,
            budget: TokenBucket::full(&PACKET_RATE, now),
            voice_budget: TokenBucket::full(&VOICE_RATE, now),
            channel,
            addr: None,
            deafened: false,
            muted: false,
            talking_since_last: None,
            sending_video: HashSet::new(),
            watching: HashSet::new(),
        };
        self.members.insert(id, member);
    }

    /// Removes a session; its packets are dropped as unknown from now on.
    pub fn remove(&mut self, id: u32) {
        self.members.remove(&id);
    }

    /// Whether a session id is taken.
    pub fn contains(&self, id: u32) -> bool {
        self.members.contains_key(&id)
    }

    /// Stops (or resumes) forwarding to a session.
    pub fn set_deafened(&mut self, id: u32, deafened: bool) {
        if let Some(member) = self.members.get_mut(&id) {
            member.deafened = deafened;
        }
    }

    /// Stops (or resumes) forwarding from a session (self-mute or server mute).
    pub fn set_muted(&mut self, id: u32, muted: bool) {
        if let Some(member) = self.members.get_mut(&id) {
            member.muted = muted;
        }
    }

    /// Lets a session send a video stream, unless `max_senders` other members of its channel
    /// already send video.
    pub fn start_video(&mut self, id: u32, stream: StreamKind, max_senders: usize) -> Result<(), VideoFull> {
        let Some(channel) = self.members.get(&id).map(|member| member.channel) else { return Ok(()) };
        let others = self
            .members
            .iter()
            .filter(|(other, member)| **other != id && member.channel == channel && !member.sending_video.is_empty())
            .count();
        let already = self.members.get(&id).is_some_and(|member| !member.sending_video.is_empty());
        if !already && others >= max_senders {
            return Err(VideoFull(max_senders));
        }
        if let Some(member) = self.members.get_mut(&id) {
            member.sending_video.insert(stream);
        }
        Ok(())
    }

    /// Stops a session's video stream.
    pub fn stop_video(&mut self, id: u32, stream: StreamKind) {
        if let Some(member) = self.members.get_mut(&id) {
            member.sending_video.remove(&stream);
        }
    }

    /// Starts (or stops) forwarding `source`'s `stream` video to `id`.
    pub fn watch(&mut self, id: u32, source: u32, stream: StreamKind, watching: bool) {
        if let Some(member) = self.members.get_mut(&id) {
            if watching {
                member.watching.insert((source, stream));
            } else {
                member.watching.remove(&(source, stream));
            }
        }
    }

    /// Drops so far, per reason.
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    /// Packets forwarded so far (one per recipient).
    pub fn forwarded(&self) -> u64 {
        self.forwarded
    }

    /// Handles one datagram from `from` received at `now`, appending what to send to `out`.
    pub fn handle(&mut self, from: SocketAddr, datagram: &mut [u8], now: Instant, out: &mut Outgoing) {
        if let Err(reason) = self.route(from, datagram, now, out) {
            self.drops.count(reason);
        }
    }

    /// Who started talking since the last call, and who has been silent for [`TALKING_HOLD`]
    /// by `now`.
    pub fn talking_changes(&mut self, now: Instant) -> Vec<TalkingChange> {
        for (id, member) in self.members.iter_mut() {
            if member.talking_since_last.is_some_and(|last| now.saturating_duration_since(last) >= TALKING_HOLD) {
                member.talking_since_last = None;
                self.talking_changes.push(TalkingChange { session: *id, talking: false });
            }
        }
        std::mem::take(&mut self.talking_changes)
    }

    fn route(
        &mut self,
        from: SocketAddr,
        datagram: &mut [u8],
        now: Instant,
        out: &mut Outgoing,
    ) -> Result<(), DropReason> {
        let header = Header::peek(datagram)?;
        let sender = self.members.get_mut(&header.session).ok_or(DropReason::UnknownSession)?;
        let registered_here = sender.addr == Some(from);
        if header.kind == Kind::Media && !registered_here {
            return Err(DropReason::WrongAddress);
        }
        sender.budget.check(&PACKET_RATE, now).map_err(|_| DropReason::OverRate)?;
        let (header, plaintext) = sender.crypto.open(datagram)?;
        sender.budget.consume(&PACKET_RATE, now);
        match header.kind {
            Kind::Keepalive => {
                sender.addr = Some(from);
                let mut reply = Vec::with_capacity(64);
                sender.crypto.seal(Kind::Keepalive, &[], &mut reply)?;
                out.push((from, reply));
            }
            Kind::Media => {
                let (media, payload) = MediaHeader::decode(plaintext)?;
                let video = media.stream != StreamKind::Voice;
                if video && !sender.sending_video.contains(&media.stream) {
                    return Err(DropReason::VideoNotStarted);
                }
                if !video {
                    sender.voice_budget.check(&VOICE_RATE, now).map_err(|_| DropReason::OverRate)?;
                    sender.voice_budget.consume(&VOICE_RATE, now);
                }
                if !video && sender.muted {
                    return Ok(());
                }
                if !video && sender.talking_since_last.replace(now).is_none() {
                    self.talking_changes.push(TalkingChange { session: header.session, talking: true });
                }
                let mut inner = Vec::with_capacity(plaintext.len());
                MediaHeader { source: header.session, ..media }.encode(payload, &mut inner);
                let channel = sender.channel;
                for (id, member) in self.members.iter_mut() {
                    if *id == header.session || member.channel != channel || member.deafened {
                        continue;
                    }
                    if video && !member.watching.contains(&(header.session, media.stream)) {
                        continue;
                    }
                    let Some(addr) = member.addr else { continue };
                    let mut wire = Vec::with_capacity(inner.len() + 32);
                    member.crypto.seal(Kind::Media, &inner, &mut wire)?;
                    out.push((addr, wire));
                    self.forwarded += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{Direction, StreamKind};
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A client end: its session and address.
    struct Peer {
        crypto: Session,
        addr: SocketAddr,
    }

    impl Peer {
        fn join(relay: &mut Relay, id: u32, channel: i64, port: u16) -> Peer {
            let key = [id as u8; 32];
            relay.add(id, &key, channel, Instant::now());
            let mut peer = Peer { crypto: Session::new(id, &key, Direction::ToServer), addr: addr(port) };
            let mut wire = Vec::new();
            peer.crypto.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
            let mut out = Vec::new();
            relay.handle(peer.addr, &mut wire, Instant::now(), &mut out);
            assert_eq!(out.len(), 1, "keepalive answered");
            let (to, mut reply) = out.remove(0);
            assert_eq!(to, peer.addr);
            assert_eq!(peer.crypto.open(&mut reply).expect("opens").0.kind, Kind::Keepalive);
            peer
        }

        fn media(&mut self, payload: &[u8]) -> Vec<u8> {
            self.stream(StreamKind::Voice, payload)
        }

        fn stream(&mut self, stream: StreamKind, payload: &[u8]) -> Vec<u8> {
            let header = MediaHeader { source: 0, stream, flags: 0, frame: 1, fragment: 0, fragments: 1 };
            let mut inner = Vec::new();
            header.encode(payload, &mut inner);
            let mut wire = Vec::new();
            self.crypto.seal(Kind::Media, &inner, &mut wire).expect("seals");
            wire
        }
    }

    #[test]
    fn media_reaches_the_other_members_of_the_channel_only() {
        let mut relay = Relay::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let mut bob = Peer::join(&mut relay, 2, 10, 5002);
        let _cat = Peer::join(&mut relay, 3, 10, 5003);
        let _eve = Peer::join(&mut relay, 4, 11, 5004);
        relay.set_deafened(3, true);
        let mut muted = Peer::join(&mut relay, 5, 10, 5005);
        relay.set_muted(5, true);
        let mut out = Vec::new();
        relay.handle(muted.addr, &mut muted.media(b"shh"), Instant::now(), &mut out);
        assert!(out.is_empty(), "a muted member's media goes nowhere");
        relay.set_muted(5, false);
        relay.handle(muted.addr, &mut muted.media(b"back"), Instant::now(), &mut out);
        assert_eq!(out.len(), 2, "unmuted: ann and bob (cat is deafened)");
        relay.remove(5);

        out.clear();
        relay.handle(ann.addr, &mut ann.media(b"hello"), Instant::now(), &mut out);
        assert_eq!(out.len(), 1, "only bob: cat is deafened, eve elsewhere, ann is the sender");
        let (to, mut wire) = out.remove(0);
        assert_eq!(to, bob.addr);
        assert!(!wire.windows(5).any(|w| w == b"hello"), "sealed again for bob");
        let (_, plaintext) = bob.crypto.open(&mut wire).expect("bob opens it");
        let (media, payload) = MediaHeader::decode(plaintext).expect("media header");
        assert_eq!((media.source, payload), (1, &b"hello"[..]));
        assert_eq!(relay.forwarded(), 3);
    }

    #[test]
    fn drops_are_counted_by_reason() {
        let mut relay = Relay::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let _bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut out = Vec::new();

        let packet = ann.media(b"x");
        relay.handle(ann.addr, &mut packet.clone(), Instant::now(), &mut out);
        relay.handle(ann.addr, &mut packet.clone(), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::Replayed), 1);

        relay.handle(addr(6666), &mut ann.media(b"x"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::WrongAddress), 1, "media from an unregistered address");

        let mut forged = ann.media(b"x");
        let last = forged.len() - 1;
        forged[last] ^= 1;
        relay.handle(ann.addr, &mut forged, Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::BadTag), 1);

        relay.handle(ann.addr, &mut [1u8; 10], Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::Truncated), 1);

        let mut stranger = Session::new(99, &[9; 32], Direction::ToServer);
        let mut wire = Vec::new();
        stranger.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
        relay.handle(ann.addr, &mut wire, Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::UnknownSession), 1);

        relay.remove(1);
        relay.handle(ann.addr, &mut ann.media(b"x"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::UnknownSession), 2, "a removed session is unknown");
        assert_eq!(relay.drops().total(), 6);
        assert_eq!(relay.forwarded(), 1, "only the first, genuine packet went through");
    }

    #[test]
    fn a_flooding_session_is_held_to_its_budget_and_others_keep_talking() {
        let mut relay = Relay::default();
        let start = Instant::now();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let _bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut cat = Peer::join(&mut relay, 3, 11, 5003);
        let _dan = Peer::join(&mut relay, 4, 11, 5004);
        let mut out = Vec::new();

        // Forged packets with ann's session id and address do not spend her budget.
        let mut forger = Session::new(1, &[0x42; 32], Direction::ToServer);
        forger.seal(Kind::Keepalive, &[], &mut Vec::new()).expect("seals"); // number 0 is ann's, taken
        for _ in 0..5000 {
            let mut wire = Vec::new();
            forger.seal(Kind::Media, b"forged", &mut wire).expect("seals");
            relay.handle(ann.addr, &mut wire, start, &mut out);
        }
        assert_eq!(relay.drops().get(DropReason::BadTag), 5000);
        relay.handle(ann.addr, &mut ann.media(b"real"), start, &mut out);
        assert_eq!(out.len(), 1, "ann's own voice still goes through");

        out.clear();
        for _ in 0..1000 {
            relay.handle(ann.addr, &mut ann.media(b"flood"), start, &mut out);
        }
        let burst = VOICE_RATE.capacity() as usize - 1;
        assert_eq!(out.len(), burst, "the rest of the voice burst, then nothing");
        assert_eq!(relay.drops().get(DropReason::OverRate), 1000 - burst as u64);

        out.clear();
        relay.handle(cat.addr, &mut cat.media(b"meanwhile"), start, &mut out);
        assert_eq!(out.len(), 1, "another pair is not affected");
        let later = start + Duration::from_millis(50);
        out.clear();
        relay.handle(ann.addr, &mut ann.media(b"again"), later, &mut out);
        assert_eq!(out.len(), 1, "the budget refills with time");
    }

    #[test]
    fn talking_starts_with_forwarded_media_and_ends_after_the_hold() {
        let mut relay = Relay::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let _bob = Peer::join(&mut relay, 2, 10, 5002);
        let start = Instant::now();
        let mut out = Vec::new();
        assert!(relay.talking_changes(start).is_empty());
        relay.handle(ann.addr, &mut ann.media(b"a"), start, &mut out);
        relay.handle(ann.addr, &mut ann.media(b"b"), start + Duration::from_millis(20), &mut out);
        assert_eq!(relay.talking_changes(start), vec![TalkingChange { session: 1, talking: true }]);
        assert!(relay.talking_changes(start + Duration::from_millis(200)).is_empty(), "still within the hold");
        let later = start + Duration::from_millis(20) + TALKING_HOLD;
        assert_eq!(relay.talking_changes(later), vec![TalkingChange { session: 1, talking: false }]);
        relay.set_muted(1, true);
        relay.handle(ann.addr, &mut ann.media(b"c"), later, &mut out);
        assert!(relay.talking_changes(later).is_empty(), "muted media is not talking");
    }

    #[test]
    fn video_goes_only_to_subscribers_and_senders_are_capped() {
        let mut relay = Relay::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let bob = Peer::join(&mut relay, 2, 10, 5002);
        let _cat = Peer::join(&mut relay, 3, 10, 5003);
        let mut out = Vec::new();
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Camera, b"frame"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::VideoNotStarted), 1, "video needs start_video");
        relay.start_video(1, StreamKind::Camera, 8).expect("room");
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Camera, b"frame"), Instant::now(), &mut out);
        assert!(out.is_empty(), "nobody watches yet");
        relay.watch(2, 1, StreamKind::Camera, true);
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Camera, b"frame"), Instant::now(), &mut out);
        assert_eq!(out.iter().map(|(to, _)| *to).collect::<Vec<_>>(), [bob.addr], "only the subscriber");
        out.clear();
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Screen, b"screen"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::VideoNotStarted), 2, "each stream is started on its own");
        relay.handle(ann.addr, &mut ann.media(b"voice"), Instant::now(), &mut out);
        assert_eq!(out.len(), 2, "voice still reaches everyone");
        assert_eq!(relay.start_video(2, StreamKind::Screen, 1), Err(VideoFull(1)), "one sender allowed");
        relay.start_video(1, StreamKind::Screen, 1).expect("a sender may add a second stream");
        relay.stop_video(1, StreamKind::Camera);
        relay.stop_video(1, StreamKind::Screen);
        relay.start_video(2, StreamKind::Screen, 1).expect("room again");
    }

    #[test]
    fn an_authenticated_keepalive_moves_the_session_to_a_new_address() {
        let mut relay = Relay::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let mut bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut out = Vec::new();
        ann.addr = addr(7001);
        let mut wire = Vec::new();
        ann.crypto.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
        relay.handle(ann.addr, &mut wire, Instant::now(), &mut out);
        out.clear();
        relay.handle(bob.addr, &mut bob.media(b"hi"), Instant::now(), &mut out);
        assert_eq!(out.first().map(|(to, _)| *to), Some(addr(7001)));
    }
}
