//! The media packet format of UDP 3785, sans-IO: header, hop-by-hop AEAD, replay protection
//! and the inner media header. `docs/protocol.md` ("Media packets") describes the same bytes.
//!
//! ```text
//! datagram = header (14 bytes, authenticated) | ciphertext | tag (16 bytes)
//! header   = version u8 (=1) | kind u8 | session u32 BE | seq u64 BE
//! AEAD     = ChaCha20-Poly1305, key = the session's 32-byte media key,
//!            nonce = direction u8 (0 to the server, 1 to the client) | 0 0 0 | seq u64 BE,
//!            associated data = the header
//! ```
//!
//! Each side numbers its packets from 0 and never reuses a number under one key; the direction
//! byte keeps the two directions' nonces apart. The receiver refuses a number it accepted
//! before or one more than [`WINDOW`](super::replay::WINDOW) behind the newest. This layer is
//! hop by hop (client ↔ server). When clients use the end-to-end layer ([`crate::e2e`] through
//! `client::call`), the payload after the inner media header is an SFrame frame that the relay
//! forwards without being able to open it (`docs/media-security.md`).

use super::replay::{Refused, ReplayWindow};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

/// Protocol version in every header.
pub const VERSION: u8 = 1;
/// Header bytes.
pub const HEADER_LEN: usize = 14;
/// Authentication tag bytes.
pub(crate) const TAG_LEN: usize = 16;
/// Largest datagram either side sends or accepts (fits the common path MTU).
pub const MAX_DATAGRAM: usize = 1200;
/// Largest plaintext one datagram carries.
pub(crate) const MAX_PLAINTEXT: usize = MAX_DATAGRAM - HEADER_LEN - TAG_LEN;
/// Bytes of the inner [`MediaHeader`].
pub(crate) const MEDIA_HEADER_LEN: usize = 14;
/// Largest opaque payload after the inner media header.
pub const MAX_MEDIA_PAYLOAD: usize = MAX_PLAINTEXT - MEDIA_HEADER_LEN;

/// What a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Registers the sender's address and keeps the NAT binding open; no payload.
    Keepalive = 1,
    /// A fragment of a media frame: [`MediaHeader`] then the end-to-end sealed bytes.
    Media = 2,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Keepalive),
            2 => Some(Kind::Media),
            _ => None,
        }
    }
}

/// Which way a packet travels; part of the nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    ToServer = 0,
    /// Server to client.
    ToClient = 1,
}

/// Why a datagram was dropped. Every reason has its own counter in [`DropCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// Shorter than a header and a tag.
    #[error("truncated")]
    Truncated,
    /// Longer than [`MAX_DATAGRAM`].
    #[error("too large")]
    TooLarge,
    /// A version this build does not speak.
    #[error("unknown version")]
    BadVersion,
    /// A kind this build does not know.
    #[error("unknown kind")]
    UnknownKind,
    /// No session has this id.
    #[error("unknown session")]
    UnknownSession,
    /// The session exists but the packet came from another address than the registered one.
    #[error("wrong address")]
    WrongAddress,
    /// The tag did not verify: forged, corrupted, or sealed with another key.
    #[error("bad tag")]
    BadTag,
    /// The sequence number was accepted before.
    #[error("replayed")]
    Replayed,
    /// The sequence number is too far behind the newest.
    #[error("too old")]
    TooOld,
    /// The inner media header is malformed.
    #[error("malformed media header")]
    BadMediaHeader,
    /// Video on a stream the sender has not started (`start_video`).
    #[error("video not started")]
    VideoNotStarted,
    /// The session sent faster than its packet budget allows.
    #[error("over rate")]
    OverRate,
}

impl DropReason {
    /// Every reason, in counter order.
    pub(crate) const ALL: [DropReason; 12] = [
        DropReason::Truncated,
        DropReason::TooLarge,
        DropReason::BadVersion,
        DropReason::UnknownKind,
        DropReason::UnknownSession,
        DropReason::WrongAddress,
        DropReason::BadTag,
        DropReason::Replayed,
        DropReason::TooOld,
        DropReason::BadMediaHeader,
        DropReason::VideoNotStarted,
        DropReason::OverRate,
    ];

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|reason| *reason == self).unwrap_or(0)
    }
}

impl From<Refused> for DropReason {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Replayed => DropReason::Replayed,
            Refused::TooOld => DropReason::TooOld,
        }
    }
}

/// How many datagrams were dropped, per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounts {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        self.counts[reason.index()] += 1;
    }

    /// Drops for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()]
    }

    /// Drops for all reasons.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The authenticated, unencrypted part of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the packet is.
    pub kind: Kind,
    /// The media session it belongs to.
    pub session: u32,
    /// The sender's packet number.
    pub seq: u64,
}

impl Header {
    /// Reads the header of a datagram without touching the crypto, so the receiver can find
    /// the session (and its key) it claims to belong to.
    pub fn peek(datagram: &[u8]) -> Result<Header, DropReason> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(DropReason::TooLarge);
        }
        if datagram.len() < HEADER_LEN + TAG_LEN {
            return Err(DropReason::Truncated);
        }
        if datagram[0] != VERSION {
            return Err(DropReason::BadVersion);
        }
        let kind = Kind::from_byte(datagram[1]).ok_or(DropReason::UnknownKind)?;
        let session = u32::from_be_bytes([datagram[2], datagram[3], datagram[4], datagram[5]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&datagram[6..HEADER_LEN]);
        Ok(Header { kind, session, seq: u64::from_be_bytes(seq) })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.session.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
    }
}

fn nonce(direction: Direction, seq: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[0] = direction as u8;
    bytes[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// One media session's hop-by-hop crypto state, on either end.
pub struct Session {
    id: u32,
    key: LessSafeKey,
    sending: Direction,
    next_seq: u64,
    received: ReplayWindow,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).field("next_seq", &self.next_seq).finish_non_exhaustive()
    }
}

impl Session {
    /// A session with id `id` and 32-byte `key`, as seen by the side that sends in `sending`.
    pub fn new(id: u32, key: &[u8; 32], sending: Direction) -> Session {
        let unbound = match UnboundKey::new(&CHACHA20_POLY1305, key) {
            Ok(unbound) => unbound,
            Err(_) => unreachable!("a 32-byte key always fits ChaCha20-Poly1305"),
        };
        Session { id, key: LessSafeKey::new(unbound), sending, next_seq: 0, received: ReplayWindow::default() }
    }

    /// The session id.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn receiving(&self) -> Direction {
        match self.sending {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }

    /// Seals `plaintext` as the next packet of `kind` into `out` (cleared first).
    pub fn seal(&mut self, kind: Kind, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), DropReason> {
        out.clear();
        self.seal_append(kind, plaintext, out)
    }

    /// Seals `plaintext` as the next packet of `kind` after what `out` already holds (the
    /// relay packs the copies of a burst into one buffer); on error `out` is left as it was.
    pub(crate) fn seal_append(&mut self, kind: Kind, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), DropReason> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(DropReason::TooLarge);
        }
        let header = Header { kind, session: self.id, seq: self.next_seq };
        self.next_seq += 1;
        let start = out.len();
        header.write(out);
        out.extend_from_slice(plaintext);
        let (head, body) = out[start..].split_at_mut(HEADER_LEN);
        match self.key.seal_in_place_separate_tag(nonce(self.sending, header.seq), Aad::from(&*head), body) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(DropReason::TooLarge)
            }
        }
    }

    /// Authenticates and decrypts a received datagram in place; returns its header and
    /// plaintext. A datagram is accepted at most once.
    pub fn open<'a>(&mut self, datagram: &'a mut [u8]) -> Result<(Header, &'a [u8]), DropReason> {
        let header = Header::peek(datagram)?;
        if header.session != self.id {
            return Err(DropReason::UnknownSession);
        }
        self.received.check(header.seq)?;
        let (head, body) = datagram.split_at_mut(HEADER_LEN);
        let plaintext = self
            .key
            .open_in_place(nonce(self.receiving(), header.seq), Aad::from(&*head), body)
            .map_err(|_| DropReason::BadTag)?;
        self.received.accept(header.seq);
        Ok((header, plaintext))
    }
}

/// What kind of media a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StreamKind {
    /// Opus voice.
    Voice = 0,
    /// Camera video.
    Camera = 1,
    /// Screen share.
    Screen = 2,
}

impl StreamKind {
    /// The control protocol's name for a video stream; `None` for voice.
    pub fn video(self) -> Option<crate::proto::VideoStream> {
        match self {
            StreamKind::Voice => None,
            StreamKind::Camera => Some(crate::proto::VideoStream::Camera),
            StreamKind::Screen => Some(crate::proto::VideoStream::Screen),
        }
    }
}

impl From<crate::proto::VideoStream> for StreamKind {
    fn from(stream: crate::proto::VideoStream) -> Self {
        match stream {
            crate::proto::VideoStream::Camera => StreamKind::Camera,
            crate::proto::VideoStream::Screen => StreamKind::Screen,
        }
    }
}

/// The start of a media packet's plaintext: who sent it (filled in by the relay), which stream,
/// and where this fragment belongs in its frame. What follows is sealed end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaHeader {
    /// The sending participant's session id (0 from clients; the relay sets it).
    pub source: u32,
    /// The stream.
    pub stream: StreamKind,
    /// Bit 0: keyframe.
    pub flags: u8,
    /// Frame number within the stream.
    pub frame: u32,
    /// This fragment's index.
    pub fragment: u16,
    /// Fragments in the frame (at least 1).
    pub fragments: u16,
}

impl MediaHeader {
    /// Writes the header, then `payload`, into `out` (cleared first).
    pub fn encode(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.source.to_be_bytes());
        out.push(self.stream as u8);
        out.push(self.flags);
        out.extend_from_slice(&self.frame.to_be_bytes());
        out.extend_from_slice(&self.fragment.to_be_bytes());
        out.extend_from_slice(&self.fragments.to_be_bytes());
        out.extend_from_slice(payload);
    }

    /// Parses a media plaintext into its header and payload.
    pub fn decode(plaintext: &[u8]) -> Result<(MediaHeader, &[u8]), DropReason> {
        if plaintext.len() < MEDIA_HEADER_LEN {
            return Err(DropReason::BadMediaHeader);
        }
        let (head, payload) = plaintext.split_at(MEDIA_HEADER_LEN);
        let stream = match head[4] {
            0 => StreamKind::Voice,
            1 => StreamKind::Camera,
            2 => StreamKind::Screen,
            _ => return Err(DropReason::BadMediaHeader),
        };
        let fragment = u16::from_be_bytes([head[10], head[11]]);
        let fragments = u16::from_be_bytes([head[12], head[13]]);
        if fragments == 0 || fragment >= fragments {
            return Err(DropReason::BadMediaHeader);
        }
        let header = MediaHeader {
            source: u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
            stream,
            flags: head[5],
            frame: u32::from_be_bytes([head[6], head[7], head[8], head[9]]),
            fragment,
            fragments,
        };
        Ok((header, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn pair() -> (Session, Session) {
        (Session::new(42, &KEY, Direction::ToServer), Session::new(42, &KEY, Direction::ToClient))
    }

    #[test]
    fn round_trip_both_directions() {
        let (mut client, mut server) = pair();
        let mut wire = Vec::new();
        client.seal(Kind::Media, b"opus frame", &mut wire).expect("seals");
        assert_eq!(wire.len(), HEADER_LEN + 10 + TAG_LEN);
        assert!(!wire.windows(10).any(|w| w == b"opus frame"), "the payload is encrypted");
        let (header, plaintext) = server.open(&mut wire).expect("opens");
        assert_eq!((header.kind, header.session, header.seq), (Kind::Media, 42, 0));
        assert_eq!(plaintext, b"opus frame");

        server.seal(Kind::Keepalive, b"", &mut wire).expect("seals");
        let (header, plaintext) = client.open(&mut wire).expect("opens");
        assert_eq!((header.kind, plaintext), (Kind::Keepalive, &b""[..]));
    }

    #[test]
    fn forged_replayed_truncated_and_foreign_packets_are_dropped() {
        let (mut client, mut server) = pair();
        let mut wire = Vec::new();
        client.seal(Kind::Media, b"hello", &mut wire).expect("seals");
        let original = wire.clone();
        server.open(&mut wire.clone()).expect("first copy opens");
        assert_eq!(server.open(&mut original.clone()).map(|_| ()), Err(DropReason::Replayed));

        client.seal(Kind::Media, b"hello", &mut wire).expect("seals");
        for index in 0..wire.len() {
            let mut forged = wire.clone();
            forged[index] ^= 0x01;
            let result = server.open(&mut forged).map(|_| ());
            assert!(result.is_err(), "a flipped bit at {index} was accepted");
        }
        server.open(&mut wire.clone()).expect("the untouched packet still opens: forgeries moved nothing");

        assert_eq!(server.open(&mut wire[..HEADER_LEN + TAG_LEN - 1].to_vec()).map(|_| ()), Err(DropReason::Truncated));
        let mut other = Session::new(43, &KEY, Direction::ToServer);
        other.seal(Kind::Media, b"x", &mut wire).expect("seals");
        assert_eq!(server.open(&mut wire).map(|_| ()), Err(DropReason::UnknownSession));
        let fresh = |session: &mut Session, out: &mut Vec<u8>| {
            // Skip the numbers the server has accepted, so only the tag can fail.
            for _ in 0..5 {
                session.seal(Kind::Media, b"x", out).expect("seals");
            }
        };
        let mut wrong_key = Session::new(42, &[8; 32], Direction::ToServer);
        fresh(&mut wrong_key, &mut wire);
        assert_eq!(server.open(&mut wire).map(|_| ()), Err(DropReason::BadTag));
        let mut reflected = Vec::new();
        let (_, mut server_b) = pair();
        fresh(&mut server_b, &mut reflected);
        assert_eq!(server.open(&mut reflected).map(|_| ()), Err(DropReason::BadTag), "a reflected packet fails");
        assert_eq!(Header::peek(&vec![1u8; MAX_DATAGRAM + 1]), Err(DropReason::TooLarge));
        assert_eq!(Header::peek(&[9u8; 40]), Err(DropReason::BadVersion));
        assert_eq!(
            Header::peek(&[
                1u8, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]),
            Err(DropReason::UnknownKind)
        );
    }

    #[test]
    fn refuses_oversized_plaintext() {
        let (mut client, _) = pair();
        let mut wire = Vec::new();
        client.seal(Kind::Media, &vec![0; MAX_PLAINTEXT], &mut wire).expect("at the limit");
        assert_eq!(wire.len(), MAX_DATAGRAM);
        assert_eq!(client.seal(Kind::Media, &vec![0; MAX_PLAINTEXT + 1], &mut wire), Err(DropReason::TooLarge));
    }

    #[test]
    fn sealed_packets_can_be_packed_into_one_buffer() {
        let (mut client, mut server) = pair();
        let mut packed = Vec::new();
        client.seal_append(Kind::Media, b"first", &mut packed).expect("seals");
        let first_len = packed.len();
        client.seal_append(Kind::Media, b"second", &mut packed).expect("seals");
        assert_eq!(
            client.seal_append(Kind::Media, &vec![0; MAX_PLAINTEXT + 1], &mut packed),
            Err(DropReason::TooLarge)
        );
        assert_eq!(packed.len(), first_len + HEADER_LEN + 6 + TAG_LEN, "a refused packet leaves nothing behind");
        let (first, second) = packed.split_at_mut(first_len);
        assert_eq!(server.open(first).expect("first opens").1, b"first");
        assert_eq!(server.open(second).expect("second opens").1, b"second");
    }

    #[test]
    fn media_header_round_trips_and_rejects_nonsense() {
        let header =
            MediaHeader { source: 9, stream: StreamKind::Screen, flags: 1, frame: 77, fragment: 2, fragments: 3 };
        let mut plaintext = Vec::new();
        header.encode(b"sealed", &mut plaintext);
        assert_eq!(MediaHeader::decode(&plaintext), Ok((header, &b"sealed"[..])));
        assert_eq!(MediaHeader::decode(&plaintext[..MEDIA_HEADER_LEN - 1]), Err(DropReason::BadMediaHeader));
        for (fragment, fragments) in [(0, 0), (3, 3)] {
            let bad = MediaHeader { fragment, fragments, ..header };
            bad.encode(b"", &mut plaintext);
            assert_eq!(MediaHeader::decode(&plaintext), Err(DropReason::BadMediaHeader));
        }
        header.encode(b"", &mut plaintext);
        plaintext[4] = 9;
        assert_eq!(MediaHeader::decode(&plaintext), Err(DropReason::BadMediaHeader));
    }

    #[test]
    fn drop_counts_per_reason() {
        let mut counts = DropCounts::default();
        for reason in DropReason::ALL {
            counts.count(reason);
        }
        counts.count(DropReason::BadTag);
        assert_eq!(counts.get(DropReason::BadTag), 2);
        assert_eq!(counts.get(DropReason::Truncated), 1);
        assert_eq!(counts.total(), DropReason::ALL.len() as u64 + 1);
    }
}
