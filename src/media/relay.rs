//! The relay's decisions, sans-IO: which media sessions exist, which voice channel each is in,
//! where each is reachable, and for every received datagram what to send to whom.
//!
//! Sessions are kept by channel: each channel's sessions side by side in one list, with an
//! index from session id to its place, so a packet's fan-out walks the members of its sender's
//! channel only, and seals its copies into one reused [`Outgoing`] buffer (nothing is
//! allocated per recipient). Each session carries its owner's record (`T`: the server's
//! membership), which the relay reads only through [`Participant`] (muted, deafened) and
//! otherwise keeps for the owner; the owner is the only caller of the methods that change
//! sessions, and the media thread of [`Relay::handle`] and [`Relay::talking_changes`].
//!
//! A session's address is learnt from an authenticated keepalive (and may change that way, for
//! NAT rebinding); media from any other address is dropped. A media packet is opened with the
//! sender's hop-by-hop key, stamped with the sender's session id as its source, and sealed
//! again for each other reachable, undeafened member of the same channel (video only to those
//! watching that stream); a muted member's voice goes nowhere. Forwarded media also drives the
//! talking indicators (time passed in). The payload after the inner media header is forwarded
//! untouched; with the end-to-end layer it is an SFrame frame the relay cannot read.
//!
//! Each session has a packet budget ([`PACKET_RATE`], and [`VOICE_RATE`] for voice) so that a
//! flooding member costs the relay little: once over budget, its packets are dropped before
//! decryption and before any fan-out. Only packets that open take from the budget, so nobody
//! can spend another session's budget with forged packets.

use super::packet::{DropCounts, DropReason, Header, Kind, MediaHeader, Session, StreamKind};
use crate::ids::{ChannelId, SessionId};
use crate::ratelimit::{Rate, TokenBucket};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Every packet of a session: bursts of up to 1,200 (a 1 MiB video keyframe is about 950
/// fragments), 4,000 a second sustained.
pub(crate) const PACKET_RATE: Rate = Rate::new(1200, Duration::from_micros(250));
/// Voice packets of a session: bursts of up to 100, 200 a second sustained (Opus sends 50,
/// or 100 with 10 ms frames).
pub(crate) const VOICE_RATE: Rate = Rate::new(100, Duration::from_millis(5));

/// What the relay reads of a session's owner record.
pub trait Participant {
    /// Whether this member's voice goes nowhere (self-mute or server mute; video still goes).
    fn muted(&self) -> bool;
    /// Whether nothing is forwarded to this member.
    fn deafened(&self) -> bool;
}

#[derive(Debug)]
struct Member<T> {
    id: SessionId,
    crypto: Session,
    /// What is left of [`PACKET_RATE`].
    budget: TokenBucket,
    /// What is left of [`VOICE_RATE`].
    voice_budget: TokenBucket,
    addr: Option<SocketAddr>,
    /// When this member's media was last forwarded, while they count as talking.
    talking_since_last: Option<Instant>,
    /// The video streams this member has started.
    sending_video: HashSet<StreamKind>,
    /// The (source session, stream) pairs of video this member wants.
    watching: HashSet<(SessionId, StreamKind)>,
    /// The owner's record of this session.
    record: T,
}

/// Where a session is kept: its channel, and its position in that channel's list.
#[derive(Debug, Clone, Copy)]
struct Place {
    channel: ChannelId,
    position: usize,
}

/// The call already has its maximum of video senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this call already has its maximum of {0} video senders")]
pub struct VideoFull(pub usize);

/// A member started or stopped talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalkingChange {
    /// The member's media session.
    pub session: SessionId,
    /// Talking now or not.
    pub talking: bool,
}

/// Silence after which a member no longer counts as talking.
pub(crate) const TALKING_HOLD: Duration = Duration::from_millis(300);

/// Every media session of one server, each with its owner's record `T`.
#[derive(Debug)]
pub struct Relay<T> {
    /// Where each session is kept.
    places: HashMap<SessionId, Place>,
    /// Each channel's sessions; a channel without sessions has no entry.
    channels: HashMap<ChannelId, Vec<Member<T>>>,
    drops: DropCounts,
    forwarded: u64,
    talking_changes: Vec<TalkingChange>,
    /// The inner header and payload being fanned out, reused from packet to packet.
    inner: Vec<u8>,
    /// Members looked at by fan-outs so far (the sender included).
    #[cfg(test)]
    visited: usize,
}

impl<T> Default for Relay<T> {
    fn default() -> Self {
        Relay {
            places: HashMap::new(),
            channels: HashMap::new(),
            drops: DropCounts::default(),
            forwarded: 0,
            talking_changes: Vec::new(),
            inner: Vec::new(),
            #[cfg(test)]
            visited: 0,
        }
    }
}

/// Datagrams to send, packed one after another into one buffer that is kept from burst to
/// burst: filling it allocates only while it grows to its largest burst.
#[derive(Debug, Default)]
pub struct Outgoing {
    bytes: Vec<u8>,
    datagrams: Vec<(SocketAddr, Range<usize>)>,
}

impl Outgoing {
    /// How many datagrams there are.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The `index`th datagram: its destination and bytes.
    pub fn get(&self, index: usize) -> Option<(SocketAddr, &[u8])> {
        let (to, range) = self.datagrams.get(index)?;
        Some((*to, self.bytes.get(range.clone())?))
    }

    /// Every datagram in order (the send path where there is no `sendmmsg`, and tests).
    #[cfg(any(test, not(target_os = "linux")))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        (0..self.len()).filter_map(|index| self.get(index))
    }

    /// Forgets every datagram, keeping the room.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.datagrams.clear();
    }

    /// Seals `plaintext` with `crypto` as the next datagram, to `to`.
    fn push_sealed(
        &mut self,
        to: SocketAddr,
        crypto: &mut Session,
        kind: Kind,
        plaintext: &[u8],
    ) -> Result<(), DropReason> {
        let start = self.bytes.len();
        crypto.seal_append(kind, plaintext, &mut self.bytes)?;
        self.datagrams.push((to, start..self.bytes.len()));
        Ok(())
    }

    /// Appends a datagram as it is.
    #[cfg(test)]
    pub(super) fn push(&mut self, to: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.datagrams.push((to, start..self.bytes.len()));
    }
}

impl<T> Relay<T> {
    /// Adds a session in `channel`, keyed with `key` (the server's side of it), at `now`, with
    /// its owner's `record`. A session already under `id` is replaced.
    pub fn add(&mut self, id: SessionId, key: &[u8; 32], channel: ChannelId, now: Instant, record: T) {
        self.remove(id);
        let member = Member {
            id,
            crypto: Session::new(id.get(), key, super::packet::Direction::ToClient),
            budget: TokenBucket::full(&PACKET_RATE, now),
            voice_budget: TokenBucket::full(&VOICE_RATE, now),
            addr: None,
            talking_since_last: None,
            sending_video: HashSet::new(),
            watching: HashSet::new(),
            record,
        };
        let members = self.channels.entry(channel).or_default();
        self.places.insert(id, Place { channel, position: members.len() });
        members.push(member);
    }

    /// Removes a session (its packets are dropped as unknown from now on); returns its channel
    /// and record.
    pub fn remove(&mut self, id: SessionId) -> Option<(ChannelId, T)> {
        let place = self.places.remove(&id)?;
        let members = self.channels.get_mut(&place.channel)?;
        if place.position >= members.len() {
            return None;
        }
        let removed = members.swap_remove(place.position);
        // The channel's last member took the removed one's position.
        if let Some(moved) = members.get(place.position) {
            self.places.insert(moved.id, place);
        }
        if members.is_empty() {
            self.channels.remove(&place.channel);
        }
        Some((place.channel, removed.record))
    }

    /// Whether a session id is taken.
    pub fn contains(&self, id: SessionId) -> bool {
        self.places.contains_key(&id)
    }

    /// A session's channel and record.
    pub fn get(&self, id: SessionId) -> Option<(ChannelId, &T)> {
        let place = self.places.get(&id)?;
        Some((place.channel, &self.member(*place)?.record))
    }

    /// A session's channel and record, to change (what [`Participant`] reads takes effect with
    /// the next packet).
    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<(ChannelId, &mut T)> {
        let place = *self.places.get(&id)?;
        Some((place.channel, &mut self.member_mut(place)?.record))
    }

    /// Every session: id, channel and record.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionId, ChannelId, &T)> {
        self.channels
            .iter()
            .flat_map(|(channel, members)| members.iter().map(|member| (member.id, *channel, &member.record)))
    }

    /// The sessions of one channel: id and record.
    pub fn channel(&self, channel: ChannelId) -> impl Iterator<Item = (SessionId, &T)> {
        self.channels.get(&channel).into_iter().flatten().map(|member| (member.id, &member.record))
    }

    fn member(&self, place: Place) -> Option<&Member<T>> {
        self.channels.get(&place.channel)?.get(place.position)
    }

    fn member_mut(&mut self, place: Place) -> Option<&mut Member<T>> {
        self.channels.get_mut(&place.channel)?.get_mut(place.position)
    }

    fn member_by_id(&mut self, id: SessionId) -> Option<&mut Member<T>> {
        let place = *self.places.get(&id)?;
        self.member_mut(place)
    }

    /// Lets a session send a video stream, unless `max_senders` other members of its channel
    /// already send video.
    pub fn start_video(&mut self, id: SessionId, stream: StreamKind, max_senders: usize) -> Result<(), VideoFull> {
        let Some(place) = self.places.get(&id).copied() else { return Ok(()) };
        let Some(members) = self.channels.get_mut(&place.channel) else { return Ok(()) };
        let others = members.iter().filter(|member| member.id != id && !member.sending_video.is_empty()).count();
        let Some(member) = members.get_mut(place.position) else { return Ok(()) };
        if member.sending_video.is_empty() && others >= max_senders {
            return Err(VideoFull(max_senders));
        }
        member.sending_video.insert(stream);
        Ok(())
    }

    /// Stops a session's video stream.
    pub fn stop_video(&mut self, id: SessionId, stream: StreamKind) {
        if let Some(member) = self.member_by_id(id) {
            member.sending_video.remove(&stream);
        }
    }

    /// Starts (or stops) forwarding `source`'s `stream` video to `id`.
    pub fn watch(&mut self, id: SessionId, source: SessionId, stream: StreamKind, watching: bool) {
        if let Some(member) = self.member_by_id(id) {
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

    /// Who started talking since the last call, and who has been silent for [`TALKING_HOLD`]
    /// by `now`.
    pub(crate) fn talking_changes(&mut self, now: Instant) -> Vec<TalkingChange> {
        for member in self.channels.values_mut().flatten() {
            if member.talking_since_last.is_some_and(|last| now.saturating_duration_since(last) >= TALKING_HOLD) {
                member.talking_since_last = None;
                self.talking_changes.push(TalkingChange { session: member.id, talking: false });
            }
        }
        std::mem::take(&mut self.talking_changes)
    }
}

impl<T: Participant> Relay<T> {
    /// Handles one datagram from `from` received at `now`, appending what to send to `out`.
    pub fn handle(&mut self, from: SocketAddr, datagram: &mut [u8], now: Instant, out: &mut Outgoing) {
        if let Err(reason) = self.route(from, datagram, now, out) {
            self.drops.count(reason);
        }
    }

    fn route(
        &mut self,
        from: SocketAddr,
        datagram: &mut [u8],
        now: Instant,
        out: &mut Outgoing,
    ) -> Result<(), DropReason> {
        let header = Header::peek(datagram)?;
        let session = SessionId(header.session);
        let place = *self.places.get(&session).ok_or(DropReason::UnknownSession)?;
        let members = self.channels.get_mut(&place.channel).ok_or(DropReason::UnknownSession)?;
        let sender = members.get_mut(place.position).ok_or(DropReason::UnknownSession)?;
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
                out.push_sealed(from, &mut sender.crypto, Kind::Keepalive, &[])?;
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
                if !video && sender.record.muted() {
                    return Ok(());
                }
                if !video && sender.talking_since_last.replace(now).is_none() {
                    self.talking_changes.push(TalkingChange { session, talking: true });
                }
                MediaHeader { source: header.session, ..media }.encode(payload, &mut self.inner);
                for (position, member) in members.iter_mut().enumerate() {
                    #[cfg(test)]
                    {
                        self.visited += 1;
                    }
                    if position == place.position || member.record.deafened() {
                        continue;
                    }
                    if video && !member.watching.contains(&(session, media.stream)) {
                        continue;
                    }
                    let Some(addr) = member.addr else { continue };
                    out.push_sealed(addr, &mut member.crypto, Kind::Media, &self.inner)?;
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

    /// The owner record of these tests: just the two flags the relay reads.
    #[derive(Debug, Default)]
    struct Flags {
        muted: bool,
        deafened: bool,
    }

    impl Participant for Flags {
        fn muted(&self) -> bool {
            self.muted
        }

        fn deafened(&self) -> bool {
            self.deafened
        }
    }

    fn flags(relay: &mut Relay<Flags>, id: u32) -> &mut Flags {
        relay.get_mut(SessionId(id)).expect("a member").1
    }

    /// The `index`th datagram of `out`: destination and a copy of its bytes.
    fn datagram(out: &Outgoing, index: usize) -> (SocketAddr, Vec<u8>) {
        out.get(index).map(|(to, bytes)| (to, bytes.to_vec())).expect("a datagram")
    }

    fn destinations(out: &Outgoing) -> Vec<SocketAddr> {
        out.iter().map(|(to, _)| to).collect()
    }

    /// A client end: its session and address.
    struct Peer {
        crypto: Session,
        addr: SocketAddr,
    }

    impl Peer {
        fn join(relay: &mut Relay<Flags>, id: u32, channel: i64, port: u16) -> Peer {
            let key = [id as u8; 32];
            relay.add(SessionId(id), &key, ChannelId(channel), Instant::now(), Flags::default());
            let mut peer = Peer { crypto: Session::new(id, &key, Direction::ToServer), addr: addr(port) };
            let mut wire = Vec::new();
            peer.crypto.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
            let mut out = Outgoing::default();
            relay.handle(peer.addr, &mut wire, Instant::now(), &mut out);
            assert_eq!(out.len(), 1, "keepalive answered");
            let (to, mut reply) = datagram(&out, 0);
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
        let mut relay = Relay::<Flags>::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let mut bob = Peer::join(&mut relay, 2, 10, 5002);
        let _cat = Peer::join(&mut relay, 3, 10, 5003);
        let _eve = Peer::join(&mut relay, 4, 11, 5004);
        flags(&mut relay, 3).deafened = true;
        let mut muted = Peer::join(&mut relay, 5, 10, 5005);
        flags(&mut relay, 5).muted = true;
        let mut out = Outgoing::default();
        relay.handle(muted.addr, &mut muted.media(b"shh"), Instant::now(), &mut out);
        assert!(out.is_empty(), "a muted member's media goes nowhere");
        flags(&mut relay, 5).muted = false;
        relay.handle(muted.addr, &mut muted.media(b"back"), Instant::now(), &mut out);
        assert_eq!(out.len(), 2, "unmuted: ann and bob (cat is deafened)");
        relay.remove(SessionId(5));

        out.clear();
        relay.handle(ann.addr, &mut ann.media(b"hello"), Instant::now(), &mut out);
        assert_eq!(out.len(), 1, "only bob: cat is deafened, eve elsewhere, ann is the sender");
        let (to, mut wire) = datagram(&out, 0);
        assert_eq!(to, bob.addr);
        assert!(!wire.windows(5).any(|w| w == b"hello"), "sealed again for bob");
        let (_, plaintext) = bob.crypto.open(&mut wire).expect("bob opens it");
        let (media, payload) = MediaHeader::decode(plaintext).expect("media header");
        assert_eq!((media.source, payload), (1, &b"hello"[..]));
        assert_eq!(relay.forwarded(), 3);
    }

    #[test]
    fn fan_out_visits_only_the_members_of_the_senders_channel() {
        let mut relay = Relay::<Flags>::default();
        // 1,000 members in 100 channels: member n is in channel n % 100.
        let mut peers: Vec<Peer> =
            (0..1000u16).map(|n| Peer::join(&mut relay, u32::from(n) + 1, i64::from(n % 100), 10_000 + n)).collect();
        let mut out = Outgoing::default();
        let sender = &mut peers[7];
        relay.handle(sender.addr, &mut sender.media(b"hello"), Instant::now(), &mut out);
        assert_eq!(relay.visited, 10, "the ten members of channel 7 only (the sender included)");
        let mut reached = destinations(&out);
        reached.sort();
        let expected: Vec<SocketAddr> = (1..10).map(|k| addr(10_007 + 100 * k)).collect();
        assert_eq!(reached, expected, "every other member of channel 7, nobody else");
    }

    #[test]
    fn removing_a_member_keeps_the_rest_of_the_channel_in_place() {
        let mut relay = Relay::<Flags>::default();
        let _ann = Peer::join(&mut relay, 1, 10, 5001);
        let mut bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut cat = Peer::join(&mut relay, 3, 10, 5003);
        let _dan = Peer::join(&mut relay, 4, 11, 5004);
        assert_eq!(relay.remove(SessionId(1)).map(|(channel, _)| channel), Some(ChannelId(10)));
        assert!(relay.remove(SessionId(1)).is_none(), "gone");
        assert_eq!(relay.get(SessionId(3)).map(|(channel, _)| channel), Some(ChannelId(10)), "cat took ann's place");
        let mut out = Outgoing::default();
        relay.handle(cat.addr, &mut cat.media(b"hi"), Instant::now(), &mut out);
        assert_eq!(destinations(&out), [bob.addr]);
        out.clear();
        relay.handle(bob.addr, &mut bob.media(b"hi"), Instant::now(), &mut out);
        assert_eq!(destinations(&out), [cat.addr]);
        relay.remove(SessionId(4));
        assert_eq!(relay.channel(ChannelId(11)).count(), 0, "an empty channel is forgotten");
        let mut left: Vec<(SessionId, ChannelId)> = relay.sessions().map(|(id, channel, _)| (id, channel)).collect();
        left.sort();
        assert_eq!(left, [(SessionId(2), ChannelId(10)), (SessionId(3), ChannelId(10))]);
    }

    #[test]
    fn drops_are_counted_by_reason() {
        let mut relay = Relay::<Flags>::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let _bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut out = Outgoing::default();

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

        relay.remove(SessionId(1));
        relay.handle(ann.addr, &mut ann.media(b"x"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::UnknownSession), 2, "a removed session is unknown");
        assert_eq!(relay.drops().total(), 6);
        assert_eq!(relay.forwarded(), 1, "only the first, genuine packet went through");
    }

    #[test]
    fn a_flooding_session_is_held_to_its_budget_and_others_keep_talking() {
        let mut relay = Relay::<Flags>::default();
        let start = Instant::now();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let _bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut cat = Peer::join(&mut relay, 3, 11, 5003);
        let _dan = Peer::join(&mut relay, 4, 11, 5004);
        let mut out = Outgoing::default();

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
        let mut relay = Relay::<Flags>::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let _bob = Peer::join(&mut relay, 2, 10, 5002);
        let start = Instant::now();
        let mut out = Outgoing::default();
        assert!(relay.talking_changes(start).is_empty());
        relay.handle(ann.addr, &mut ann.media(b"a"), start, &mut out);
        relay.handle(ann.addr, &mut ann.media(b"b"), start + Duration::from_millis(20), &mut out);
        assert_eq!(relay.talking_changes(start), vec![TalkingChange { session: SessionId(1), talking: true }]);
        assert!(relay.talking_changes(start + Duration::from_millis(200)).is_empty(), "still within the hold");
        let later = start + Duration::from_millis(20) + TALKING_HOLD;
        assert_eq!(relay.talking_changes(later), vec![TalkingChange { session: SessionId(1), talking: false }]);
        flags(&mut relay, 1).muted = true;
        relay.handle(ann.addr, &mut ann.media(b"c"), later, &mut out);
        assert!(relay.talking_changes(later).is_empty(), "muted media is not talking");
    }

    #[test]
    fn video_goes_only_to_subscribers_and_senders_are_capped() {
        let mut relay = Relay::<Flags>::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let bob = Peer::join(&mut relay, 2, 10, 5002);
        let _cat = Peer::join(&mut relay, 3, 10, 5003);
        let mut out = Outgoing::default();
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Camera, b"frame"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::VideoNotStarted), 1, "video needs start_video");
        relay.start_video(SessionId(1), StreamKind::Camera, 8).expect("room");
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Camera, b"frame"), Instant::now(), &mut out);
        assert!(out.is_empty(), "nobody watches yet");
        relay.watch(SessionId(2), SessionId(1), StreamKind::Camera, true);
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Camera, b"frame"), Instant::now(), &mut out);
        assert_eq!(destinations(&out), [bob.addr], "only the subscriber");
        out.clear();
        relay.handle(ann.addr, &mut ann.stream(StreamKind::Screen, b"screen"), Instant::now(), &mut out);
        assert_eq!(relay.drops().get(DropReason::VideoNotStarted), 2, "each stream is started on its own");
        relay.handle(ann.addr, &mut ann.media(b"voice"), Instant::now(), &mut out);
        assert_eq!(out.len(), 2, "voice still reaches everyone");
        assert_eq!(relay.start_video(SessionId(2), StreamKind::Screen, 1), Err(VideoFull(1)), "one sender allowed");
        relay.start_video(SessionId(1), StreamKind::Screen, 1).expect("a sender may add a second stream");
        relay.stop_video(SessionId(1), StreamKind::Camera);
        relay.stop_video(SessionId(1), StreamKind::Screen);
        relay.start_video(SessionId(2), StreamKind::Screen, 1).expect("room again");
    }

    #[test]
    fn an_authenticated_keepalive_moves_the_session_to_a_new_address() {
        let mut relay = Relay::<Flags>::default();
        let mut ann = Peer::join(&mut relay, 1, 10, 5001);
        let mut bob = Peer::join(&mut relay, 2, 10, 5002);
        let mut out = Outgoing::default();
        ann.addr = addr(7001);
        let mut wire = Vec::new();
        ann.crypto.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
        relay.handle(ann.addr, &mut wire, Instant::now(), &mut out);
        out.clear();
        relay.handle(bob.addr, &mut bob.media(b"hi"), Instant::now(), &mut out);
        assert_eq!(destinations(&out), [addr(7001)]);
    }
}
