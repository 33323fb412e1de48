//! The one owner of voice sessions: the relay's sessions, each carrying its [`Membership`]
//! (which connection, who, which device key, mute and deafen), behind one lock. Joining,
//! leaving, flags and video are calls here, each in one critical section; the only other user
//! of the lock is the media thread, which pushes datagrams through [`Relay::handle`] and
//! collects talking changes. A session's channel is kept once, by the relay's index; a
//! connection keeps only its session id. Nothing here talks to clients: the handlers in
//! [`super`] check requests and announce what changed.

use crate::ids::{ChannelId, SessionId, UserId};
use crate::media::packet::{DropCounts, StreamKind};
use crate::media::relay::{Participant, Relay, VideoFull};
use crate::proto::{User, VoiceMember};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The server's record of one media session.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The control connection that owns it.
    pub connection: u64,
    /// Who.
    pub user: User,
    /// Their device's public key.
    pub device_key: String,
    /// Muted by themselves.
    pub self_muted: bool,
    /// Deafened by themselves.
    pub self_deafened: bool,
    /// Why the server holds it muted (muted while any reason holds).
    pub server_mute: ServerMute,
    /// Who hears about this call: the channel's members (the two users of a 1:1 call; empty,
    /// meaning everyone logged in who may see the channel, for a voice channel).
    pub audience: Vec<UserId>,
    /// For a voice channel, its permission overrides when the session joined: who may see it.
    pub audience_rules: crate::server::permissions::ChannelRules,
}

/// Why the server mutes a session. Each reason is set and lifted on its own, so that the end
/// of a timeout does not lift a moderator's mute, nor a moderator's unmute a timeout's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerMute {
    /// A moderator's `server_mute`.
    pub moderator: bool,
    /// A timeout in force.
    pub timeout: bool,
    /// The channel's permissions deny `speak`.
    pub channel: bool,
}

/// One reason for a server mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteReason {
    /// A moderator's `server_mute`.
    Moderator,
    /// A timeout.
    Timeout,
    /// The channel's permissions.
    Channel,
}

impl ServerMute {
    /// Whether the session is muted for any reason.
    pub fn any(self) -> bool {
        self.moderator || self.timeout || self.channel
    }

    /// Sets or lifts one reason.
    pub fn set(&mut self, reason: MuteReason, muted: bool) {
        match reason {
            MuteReason::Moderator => self.moderator = muted,
            MuteReason::Timeout => self.timeout = muted,
            MuteReason::Channel => self.channel = muted,
        }
    }
}

impl Participant for Membership {
    fn muted(&self) -> bool {
        self.self_muted || self.server_mute.any()
    }

    fn deafened(&self) -> bool {
        self.self_deafened
    }
}

/// A copy of one session as it stood: its id, its channel and its record.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The media session.
    pub session_id: SessionId,
    /// The voice channel (or direct conversation, for a 1:1 call).
    pub channel_id: ChannelId,
    /// The record.
    pub member: Membership,
}

/// The relay as the media thread sees it.
pub type SharedRelay = Arc<Mutex<Relay<Membership>>>;

/// Every voice session of one server.
#[derive(Debug)]
pub struct VoiceSessions {
    relay: SharedRelay,
}

impl VoiceSessions {
    /// No sessions yet, and the relay's handle for the media thread ([`crate::media::run`]).
    pub fn new() -> (VoiceSessions, SharedRelay) {
        let relay = SharedRelay::default();
        (VoiceSessions { relay: relay.clone() }, relay)
    }

    fn relay(&self) -> MutexGuard<'_, Relay<Membership>> {
        self.relay.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session in `channel_id` for `member` under a fresh id and hop-by-hop key;
    /// returns both and the members that were already there.
    pub fn join(&self, channel_id: ChannelId, member: Membership) -> (SessionId, [u8; 32], Vec<VoiceMember>) {
        let key = crate::random::random_bytes::<32>();
        let mut relay = self.relay();
        let session_id = loop {
            let candidate = SessionId(u32::from_be_bytes(crate::random::random_bytes::<4>()));
            if candidate != SessionId(0) && !relay.contains(candidate) {
                break candidate;
            }
        };
        let present = relay
            .channel(channel_id)
            .map(|(id, other)| VoiceMember {
                session_id: id,
                user: other.user.clone(),
                device_key: other.device_key.clone(),
            })
            .collect();
        relay.add(session_id, &key, channel_id, Instant::now(), member);
        (session_id, key, present)
    }

    /// A session as it stands.
    pub fn get(&self, session_id: SessionId) -> Option<Seat> {
        seat(&self.relay(), session_id)
    }

    /// Changes a session's record (the relay applies mute and deafen from the next packet);
    /// returns it as changed.
    pub fn update(&self, session_id: SessionId, change: impl FnOnce(&mut Membership)) -> Option<Seat> {
        let mut relay = self.relay();
        change(relay.get_mut(session_id)?.1);
        seat(&relay, session_id)
    }

    /// Changes the record of every session that `picks`; returns them as changed.
    pub(crate) fn update_where(
        &self,
        picks: impl Fn(&Membership) -> bool,
        change: impl Fn(&mut Membership),
    ) -> Vec<Seat> {
        let mut relay = self.relay();
        let ids: Vec<SessionId> =
            relay.sessions().filter(|(_, _, member)| picks(member)).map(|(id, _, _)| id).collect();
        let mut changed = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some((_, member)) = relay.get_mut(id) {
                change(member);
            }
            changed.extend(seat(&relay, id));
        }
        changed
    }

    /// The channels that have a call now.
    pub(crate) fn channels(&self) -> Vec<ChannelId> {
        let mut channels: Vec<ChannelId> = self.relay().sessions().map(|(_, channel, _)| channel).collect();
        channels.sort_unstable_by_key(|id| id.get());
        channels.dedup();
        channels
    }

    /// Changes the record of every session in `channel_id`; returns them as changed, each with
    /// whether its server mute changed.
    pub(crate) fn update_channel(&self, channel_id: ChannelId, change: impl Fn(&mut Membership)) -> Vec<(Seat, bool)> {
        let mut relay = self.relay();
        let ids: Vec<SessionId> = relay.channel(channel_id).map(|(id, _)| id).collect();
        let mut changed = Vec::with_capacity(ids.len());
        for id in ids {
            let Some((_, member)) = relay.get_mut(id) else { continue };
            let before = member.server_mute.any();
            change(member);
            let after = member.server_mute.any();
            changed.extend(seat(&relay, id).map(|seat| (seat, before != after)));
        }
        changed
    }

    /// Ends a session; returns it as it was.
    pub fn end(&self, session_id: SessionId) -> Option<Seat> {
        end(&mut self.relay(), session_id)
    }

    /// Ends every session that `ends` picks by channel and record; returns them as they were.
    pub(crate) fn end_where(&self, ends: impl Fn(ChannelId, &Membership) -> bool) -> Vec<Seat> {
        let mut relay = self.relay();
        let ids: Vec<SessionId> =
            relay.sessions().filter(|(_, channel, member)| ends(*channel, member)).map(|(id, _, _)| id).collect();
        ids.into_iter().filter_map(|id| end(&mut relay, id)).collect()
    }

    /// Lets a session send a video stream, unless its call has `max_senders` others sending.
    pub fn start_video(&self, session_id: SessionId, stream: StreamKind, max_senders: usize) -> Result<(), VideoFull> {
        self.relay().start_video(session_id, stream, max_senders)
    }

    /// Stops a session's video stream.
    pub fn stop_video(&self, session_id: SessionId, stream: StreamKind) {
        self.relay().stop_video(session_id, stream);
    }

    /// Starts (or stops) forwarding `source`'s `stream` to `session_id`.
    pub fn watch(&self, session_id: SessionId, source: SessionId, stream: StreamKind, watching: bool) {
        self.relay().watch(session_id, source, stream, watching);
    }

    /// Media datagrams dropped so far, per reason.
    pub fn drops(&self) -> DropCounts {
        self.relay().drops().clone()
    }

    /// Media packets forwarded so far (one per recipient).
    pub fn forwarded(&self) -> u64 {
        self.relay().forwarded()
    }
}

fn seat(relay: &Relay<Membership>, session_id: SessionId) -> Option<Seat> {
    let (channel_id, member) = relay.get(session_id)?;
    Some(Seat { session_id, channel_id, member: member.clone() })
}

fn end(relay: &mut Relay<Membership>, session_id: SessionId) -> Option<Seat> {
    let (channel_id, member) = relay.remove(session_id)?;
    Some(Seat { session_id, channel_id, member })
}
