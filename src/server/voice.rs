//! Voice channels and 1:1 calls (a direct conversation's channel, for its two members only):
//! joining hands the client a media session (id and hop-by-hop key, over the
//! TLS control channel), registers it with the relay, and tells the channel the member's
//! device key; leaving, logging out or disconnecting ends it. Members hand each other their
//! end-to-end media keys through `share_media_key`: the server forwards each wrapped copy to
//! its one recipient and cannot open any of them.

use super::connection::Conn;
use super::{Failure, Shared};
use crate::proto::{
    encode_frame, ChannelKind, ErrorCode, Event, Reply, ServerFrame, User, VideoStream, VoiceMember, VoiceSession,
    WrappedKeyFor,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Most recipients one `share_media_key` may name.
pub const MAX_KEY_RECIPIENTS: usize = 64;
/// Longest base64url field in a wrapped key.
const MAX_WRAPPED_FIELD: usize = 128;

/// One media session's place in a voice channel.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The control connection that owns it.
    pub connection: u64,
    /// The voice channel.
    pub channel_id: i64,
    /// Who.
    pub user: User,
    /// Their device's public key.
    pub device_key: String,
    /// Muted by themselves.
    pub self_muted: bool,
    /// Deafened by themselves.
    pub self_deafened: bool,
    /// Muted by an admin.
    pub server_muted: bool,
    /// Who hears about this call: the channel's members (the two users of a 1:1 call; empty,
    /// meaning everyone logged in, for a voice channel).
    pub audience: Vec<i64>,
}

impl Membership {
    /// Tells this call's audience about `event`.
    fn announce(&self, ctx: &Shared, event: Event) {
        ctx.hub.send_to_audience(&self.audience, &encode_frame(&ServerFrame::Event { event }));
    }

    fn state_event(&self, session_id: u32) -> Event {
        Event::VoiceState {
            channel_id: self.channel_id,
            session_id,
            self_muted: self.self_muted,
            self_deafened: self.self_deafened,
            server_muted: self.server_muted,
        }
    }
}

/// Pushes a member's flags into the relay and tells the call's audience.
fn apply_state(ctx: &Shared, session_id: u32, member: &Membership) {
    let mut relay = ctx.relay.lock().unwrap_or_else(|p| p.into_inner());
    relay.set_muted(session_id, member.self_muted || member.server_muted);
    relay.set_deafened(session_id, member.self_deafened);
    drop(relay);
    member.announce(ctx, member.state_event(session_id));
}

/// Tells a call's audience that a member started or stopped talking.
pub fn announce_talking(ctx: &Shared, change: crate::media::relay::TalkingChange) {
    let member = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner()).get(&change.session).cloned();
    if let Some(member) = member {
        let event =
            Event::Talking { channel_id: member.channel_id, session_id: change.session, talking: change.talking };
        member.announce(ctx, event);
    }
}

/// `set_voice_state`: the caller's own mute and deafen.
pub fn set_voice_state(ctx: &Shared, conn: &Conn, self_muted: bool, self_deafened: bool) -> Result<Reply, Failure> {
    let Some((session_id, _)) = conn.voice else {
        return Err(Failure::new(ErrorCode::NotAllowedNow, "join a voice channel first"));
    };
    let member = {
        let mut members = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner());
        let Some(member) = members.get_mut(&session_id) else {
            return Err(Failure::new(ErrorCode::NotAllowedNow, "join a voice channel first"));
        };
        member.self_muted = self_muted;
        member.self_deafened = self_deafened;
        member.clone()
    };
    apply_state(ctx, session_id, &member);
    Ok(Reply::Ok)
}

/// `server_mute`: an admin mutes or unmutes every voice session of a user.
pub fn server_mute(ctx: &Shared, conn: &Conn, username: &str, muted: bool) -> Result<Reply, Failure> {
    super::admin::require_admin(ctx, conn, "mute others")?;
    let changed: Vec<(u32, Membership)> = {
        let mut members = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner());
        members
            .iter_mut()
            .filter(|(_, member)| member.user.username.eq_ignore_ascii_case(username))
            .map(|(id, member)| {
                member.server_muted = muted;
                (*id, member.clone())
            })
            .collect()
    };
    if changed.is_empty() {
        return Err(Failure::new(ErrorCode::NotFound, format!("{username} is not in a voice channel")));
    }
    for (session_id, member) in &changed {
        apply_state(ctx, *session_id, member);
    }
    Ok(Reply::Ok)
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidArgument, message)
}

/// `join_voice`: leaves any current voice channel, then joins `channel_id`.
pub async fn join_voice(ctx: &Shared, conn: &mut Conn, channel_id: i64, device_key: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    if URL_SAFE_NO_PAD.decode(&device_key).map(|key| key.len()) != Ok(32) {
        return Err(invalid("device_key must be a 32-byte X25519 public key in base64url"));
    }
    let channel = ctx
        .store
        .channel(channel_id)
        .await?
        .filter(|channel| match channel.kind {
            ChannelKind::Voice => true,
            // A direct conversation doubles as a 1:1 call for its two members.
            ChannelKind::Direct => channel.members.contains(&user.id),
            ChannelKind::Text => false,
        })
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no voice channel {channel_id}")))?;
    leave(ctx, conn);
    let key = crate::random::random_bytes::<32>();
    let session_id = {
        let mut relay = ctx.relay.lock().unwrap_or_else(|p| p.into_inner());
        let session_id = loop {
            let candidate = u32::from_be_bytes(crate::random::random_bytes::<4>());
            if candidate != 0 && !relay.contains(candidate) {
                break candidate;
            }
        };
        relay.add(session_id, &key, channel.id, std::time::Instant::now());
        session_id
    };
    let members = {
        let mut members = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner());
        let present = members
            .iter()
            .filter(|(_, member)| member.channel_id == channel.id)
            .map(|(id, member)| VoiceMember {
                session_id: *id,
                user: member.user.clone(),
                device_key: member.device_key.clone(),
            })
            .collect();
        let membership = Membership {
            connection: conn.id,
            channel_id: channel.id,
            user: user.clone(),
            device_key: device_key.clone(),
            self_muted: false,
            self_deafened: false,
            server_muted: false,
            audience: channel.members.clone(),
        };
        let joined = Event::VoiceJoined { channel_id: channel.id, user, session_id, device_key };
        membership.announce(ctx, joined);
        members.insert(session_id, membership);
        present
    };
    conn.voice = Some((session_id, channel.id));
    Ok(Reply::VoiceSession(VoiceSession {
        channel_id: channel.id,
        session_id,
        key: URL_SAFE_NO_PAD.encode(key),
        udp_port: ctx.media_port,
        members,
    }))
}

/// `share_media_key`: forwards each wrapped copy of the caller's media key to its recipient,
/// who must be in the caller's voice channel.
pub fn share_media_key(ctx: &Shared, conn: &Conn, key_id: u64, wrapped: Vec<WrappedKeyFor>) -> Result<Reply, Failure> {
    let in_voice = conn
        .voice
        .filter(|(session_id, _)| ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner()).contains_key(session_id));
    let Some((session_id, channel_id)) = in_voice else {
        return Err(Failure::new(ErrorCode::NotAllowedNow, "join a voice channel first"));
    };
    if key_id >> 16 != u64::from(session_id) || key_id >> 48 != 0 {
        return Err(invalid("key_id must carry your own media session in its upper 32 of 48 bits"));
    }
    if wrapped.len() > MAX_KEY_RECIPIENTS {
        return Err(invalid(format!("at most {MAX_KEY_RECIPIENTS} recipients")));
    }
    if wrapped.iter().any(|w| w.enc.len() > MAX_WRAPPED_FIELD || w.ciphertext.len() > MAX_WRAPPED_FIELD) {
        return Err(invalid(format!("wrapped keys are at most {MAX_WRAPPED_FIELD} characters per field")));
    }
    let members = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner());
    let mut deliveries = Vec::with_capacity(wrapped.len());
    for copy in wrapped {
        let recipient = members
            .get(&copy.session_id)
            .filter(|member| member.channel_id == channel_id && copy.session_id != session_id)
            .ok_or_else(|| {
                Failure::new(ErrorCode::NotFound, format!("no member {} in your channel", copy.session_id))
            })?;
        let event =
            Event::MediaKey { channel_id, sender: session_id, key_id, enc: copy.enc, ciphertext: copy.ciphertext };
        deliveries.push((recipient.connection, encode_frame(&ServerFrame::Event { event })));
    }
    drop(members);
    for (connection, frame) in deliveries {
        ctx.hub.send_to_connection(connection, &frame);
    }
    Ok(Reply::Ok)
}

/// `leave_voice`.
pub fn leave_voice(ctx: &Shared, conn: &mut Conn) -> Result<Reply, Failure> {
    leave(ctx, conn);
    Ok(Reply::Ok)
}

/// Ends every media session that `ends` picks: out of the members and the relay, and a
/// `voice_left` to each call's audience. Returns what it ended.
fn end_sessions(ctx: &Shared, ends: impl Fn(u32, &Membership) -> bool) -> Vec<(u32, Membership)> {
    let ended: Vec<(u32, Membership)> = {
        let mut members = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner());
        let ids: Vec<u32> = members.iter().filter(|(id, member)| ends(**id, member)).map(|(id, _)| *id).collect();
        ids.into_iter().filter_map(|id| members.remove(&id).map(|member| (id, member))).collect()
    };
    let mut relay = ctx.relay.lock().unwrap_or_else(|p| p.into_inner());
    for (session_id, _) in &ended {
        relay.remove(*session_id);
    }
    drop(relay);
    for (session_id, member) in &ended {
        let left = Event::VoiceLeft { channel_id: member.channel_id, user_id: member.user.id, session_id: *session_id };
        member.announce(ctx, left);
    }
    ended
}

/// Ends every media session in a channel that is being deleted.
pub fn end_channel(ctx: &Shared, channel_id: i64) {
    end_sessions(ctx, |_, member| member.channel_id == channel_id);
}

/// Ends the connection's media session, if it has one.
pub fn leave(ctx: &Shared, conn: &mut Conn) {
    let Some((session_id, _)) = conn.voice.take() else { return };
    end_sessions(ctx, |id, _| id == session_id);
}

/// The caller's live media session and its membership.
fn own_membership(ctx: &Shared, conn: &Conn) -> Result<(u32, Membership), Failure> {
    let not_in_voice = || Failure::new(ErrorCode::NotAllowedNow, "join a voice channel first");
    let (session_id, _) = conn.voice.ok_or_else(not_in_voice)?;
    let member = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner()).get(&session_id).cloned();
    Ok((session_id, member.ok_or_else(not_in_voice)?))
}

/// Another member of the caller's call.
fn fellow(ctx: &Shared, channel_id: i64, session_id: u32) -> Result<Membership, Failure> {
    let member = ctx.voice_members.lock().unwrap_or_else(|p| p.into_inner()).get(&session_id).cloned();
    member
        .filter(|member| member.channel_id == channel_id)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no member {session_id} in your call")))
}

/// `start_video`: refused with `limit_reached` when the call has its maximum of video senders.
pub fn start_video(ctx: &Shared, conn: &Conn, stream: VideoStream) -> Result<Reply, Failure> {
    let (session_id, member) = own_membership(ctx, conn)?;
    ctx.relay
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .start_video(session_id, stream.into(), ctx.config.server.max_video_senders as usize)
        .map_err(|full| Failure::new(ErrorCode::LimitReached, full.to_string()))?;
    member.announce(ctx, Event::VideoStarted { channel_id: member.channel_id, session_id, stream });
    Ok(Reply::Ok)
}

/// `stop_video`.
pub fn stop_video(ctx: &Shared, conn: &Conn, stream: VideoStream) -> Result<Reply, Failure> {
    let (session_id, member) = own_membership(ctx, conn)?;
    ctx.relay.lock().unwrap_or_else(|p| p.into_inner()).stop_video(session_id, stream.into());
    member.announce(ctx, Event::VideoStopped { channel_id: member.channel_id, session_id, stream });
    Ok(Reply::Ok)
}

/// `watch_video`: the relay forwards a video stream only to those watching it.
pub fn watch_video(
    ctx: &Shared,
    conn: &Conn,
    source: u32,
    stream: VideoStream,
    watching: bool,
) -> Result<Reply, Failure> {
    let (session_id, member) = own_membership(ctx, conn)?;
    fellow(ctx, member.channel_id, source)?;
    ctx.relay.lock().unwrap_or_else(|p| p.into_inner()).watch(session_id, source, stream.into(), watching);
    Ok(Reply::Ok)
}

/// `request_keyframe` and `report_bandwidth`: a receiver's word to a sender of its call.
pub fn to_sender(ctx: &Shared, conn: &Conn, sender: u32, event: impl FnOnce(u32) -> Event) -> Result<Reply, Failure> {
    let (session_id, member) = own_membership(ctx, conn)?;
    let target = fellow(ctx, member.channel_id, sender)?;
    ctx.hub.send_to_connection(target.connection, &encode_frame(&ServerFrame::Event { event: event(session_id) }));
    Ok(Reply::Ok)
}

/// `move_voice`: an admin ends a user's voice sessions and tells each of their connections to
/// join `channel_id` (a client rejoins with fresh keys, so end-to-end protection holds).
pub async fn move_voice(ctx: &Shared, conn: &Conn, username: &str, channel_id: i64) -> Result<Reply, Failure> {
    super::admin::require_admin(ctx, conn, "move others")?;
    let target = ctx.store.channel(channel_id).await?.filter(|channel| channel.kind == ChannelKind::Voice);
    let target = target.ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no voice channel {channel_id}")))?;
    let moved = end_sessions(ctx, |_, member| {
        member.user.username.eq_ignore_ascii_case(username) && member.channel_id != target.id
    });
    if moved.is_empty() {
        return Err(Failure::new(ErrorCode::NotFound, format!("{username} is not in another voice channel")));
    }
    for (_, member) in moved {
        let order = Event::VoiceMoved { channel_id: target.id };
        ctx.hub.send_to_connection(member.connection, &encode_frame(&ServerFrame::Event { event: order }));
    }
    Ok(Reply::Ok)
}
