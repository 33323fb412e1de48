//! Voice channels and 1:1 calls (a direct conversation's channel, for its two members only):
//! joining hands the client a media session (id and hop-by-hop key, over the
//! TLS control channel), registers it with the relay, and tells the channel the member's
//! device key; leaving, logging out or disconnecting ends it. Members hand each other their
//! end-to-end media keys through `share_media_key`: the server forwards each wrapped copy to
//! its one recipient and cannot open any of them.
//!
//! The sessions themselves, with the relay, belong to [`VoiceSessions`] (`Shared::voice`);
//! these handlers check each request, call it, and announce what changed.

mod sessions;

pub use sessions::{Membership, MuteReason, Seat, ServerMute, SharedRelay, VoiceSessions};

use super::context::{decide, Action, ChannelRules, Conn, Failure, Shared};
use crate::ids::{ChannelId, SessionId};
use crate::proto::{
    encode_frame, ChannelKind, ErrorCode, Event, Reply, ServerFrame, VideoStream, VoiceSession, WrappedKeyFor,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Most recipients one `share_media_key` may name.
pub(crate) const MAX_KEY_RECIPIENTS: usize = 64;
/// Longest base64url field in a wrapped key.
const MAX_WRAPPED_FIELD: usize = 128;

fn not_in_voice() -> Failure {
    Failure::new(ErrorCode::NotAllowedNow, "join a voice channel first")
}

/// Tells a call's audience that a member started or stopped talking.
pub(crate) fn announce_talking(ctx: &Shared, change: crate::media::relay::TalkingChange) {
    if let Some(seat) = ctx.voice.get(change.session) {
        let event =
            Event::Talking { channel_id: seat.channel_id, session_id: seat.session_id, talking: change.talking };
        seat.announce(ctx, event);
    }
}

/// `set_voice_state`: the caller's own mute and deafen.
pub fn set_voice_state(ctx: &Shared, conn: &Conn, self_muted: bool, self_deafened: bool) -> Result<Reply, Failure> {
    let changed = conn.voice.and_then(|session_id| {
        ctx.voice.update(session_id, |member| {
            member.self_muted = self_muted;
            member.self_deafened = self_deafened;
        })
    });
    let seat = changed.ok_or_else(not_in_voice)?;
    seat.announce(ctx, seat.state_event());
    Ok(Reply::Ok)
}

/// The caller, if their role lets them moderate voice; and a test of whether they may do it to
/// a given member (whose role is below theirs).
fn voice_moderator(ctx: &Shared, conn: &Conn, what: &str) -> Result<impl Fn(&crate::proto::User) -> bool, Failure> {
    let actor = conn.user(ctx)?;
    if decide(actor.role, Action::VoiceModerate, None, &ChannelRules::default()).is_err() {
        return Err(Failure::new(ErrorCode::Forbidden, format!("only moderators and admins can {what}")));
    }
    Ok(move |user: &crate::proto::User| {
        decide(actor.role, Action::VoiceModerate, Some(user.role), &ChannelRules::default()).is_ok()
    })
}

/// `server_mute`: a moderator mutes or unmutes every voice session of a user below them.
pub fn server_mute(ctx: &Shared, conn: &Conn, username: &str, muted: bool) -> Result<Reply, Failure> {
    let may = voice_moderator(ctx, conn, "mute others")?;
    let pick = |member: &Membership| member.user.username.eq_ignore_ascii_case(username) && may(&member.user);
    let changed = ctx.set_server_muted(pick, MuteReason::Moderator, muted);
    if changed == 0 {
        return Err(Failure::new(ErrorCode::NotFound, format!("{username} is not in a voice channel you moderate")));
    }
    Ok(Reply::Ok)
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidArgument, message)
}

/// `join_voice`: leaves any current voice channel, then joins `channel_id`.
pub async fn join_voice(
    ctx: &Shared,
    conn: &mut Conn,
    channel_id: ChannelId,
    device_key: String,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    if URL_SAFE_NO_PAD.decode(&device_key).map(|key| key.len()) != Ok(32) {
        return Err(invalid("device_key must be a 32-byte X25519 public key in base64url"));
    }
    let channel = ctx
        .store
        .channel(channel_id)
        .await?
        .filter(|channel| match channel.kind {
            ChannelKind::Voice => ctx.channel_allows(&user, channel, Action::View),
            // A direct conversation doubles as a 1:1 call for its two members.
            ChannelKind::Direct => channel.members.contains(&user.id),
            ChannelKind::Text => false,
        })
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no voice channel {channel_id}")))?;
    if channel.kind == ChannelKind::Direct {
        // A 1:1 call is a direct conversation too: supervision decides it the same way.
        ctx.direct_allowed(&user, &channel.members)
            .map_err(|denied| Failure::new(ErrorCode::Supervised, format!("you cannot call here: {denied}")))?;
    }
    leave(ctx, conn);
    let membership = Membership {
        connection: conn.id,
        user: user.clone(),
        device_key: device_key.clone(),
        self_muted: false,
        self_deafened: false,
        // Who may not speak here, or is timed out, listens only.
        server_mute: ServerMute {
            moderator: false,
            timeout: ctx.sanctions.timed_out_until(user.id, crate::clock::now_ms()).is_some(),
            channel: !ctx.channel_allows(&user, &channel, Action::Speak),
        },
        audience: channel.members.clone(),
        audience_rules: ctx.sanctions.rules(&channel),
    };
    let (session_id, key, members) = ctx.voice.join(channel.id, membership);
    let joined = Event::VoiceJoined { channel_id: channel.id, user, session_id, device_key };
    ctx.publish_to_channel(&channel, joined);
    conn.voice = Some(session_id);
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
    let in_voice =
        conn.voice.and_then(|session_id| ctx.voice.get(session_id)).map(|own| (own.session_id, own.channel_id));
    let Some((session_id, channel_id)) = in_voice else {
        return Err(Failure::new(ErrorCode::NotAllowedNow, "join a voice channel first"));
    };
    if key_id >> 16 != u64::from(session_id.get()) || key_id >> 48 != 0 {
        return Err(invalid("key_id must carry your own media session in its upper 32 of 48 bits"));
    }
    if wrapped.len() > MAX_KEY_RECIPIENTS {
        return Err(invalid(format!("at most {MAX_KEY_RECIPIENTS} recipients")));
    }
    if wrapped.iter().any(|w| w.enc.len() > MAX_WRAPPED_FIELD || w.ciphertext.len() > MAX_WRAPPED_FIELD) {
        return Err(invalid(format!("wrapped keys are at most {MAX_WRAPPED_FIELD} characters per field")));
    }
    let mut deliveries = Vec::with_capacity(wrapped.len());
    for copy in wrapped {
        let recipient = ctx
            .voice
            .get(copy.session_id)
            .filter(|recipient| recipient.channel_id == channel_id && copy.session_id != session_id)
            .ok_or_else(|| {
                Failure::new(ErrorCode::NotFound, format!("no member {} in your channel", copy.session_id))
            })?;
        let event =
            Event::MediaKey { channel_id, sender: session_id, key_id, enc: copy.enc, ciphertext: copy.ciphertext };
        deliveries.push((recipient.member.connection, encode_frame(&ServerFrame::Event { event })));
    }
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

/// Tells each ended session's audience `voice_left`.
fn announce_left(ctx: &Shared, ended: &[Seat]) {
    for seat in ended {
        let user_id = seat.member.user.id;
        seat.announce(ctx, Event::VoiceLeft { channel_id: seat.channel_id, user_id, session_id: seat.session_id });
    }
}

/// Ends every media session in a channel that is being deleted.
pub(crate) fn end_channel(ctx: &Shared, channel_id: ChannelId) {
    announce_left(ctx, &ctx.voice.end_where(|channel, _| channel == channel_id));
}

/// Ends the connection's media session, if it has one.
pub fn leave(ctx: &Shared, conn: &mut Conn) {
    let Some(session_id) = conn.voice.take() else { return };
    announce_left(ctx, ctx.voice.end(session_id).as_slice());
}

/// The caller's live media session.
fn own_seat(ctx: &Shared, conn: &Conn) -> Result<Seat, Failure> {
    conn.voice.and_then(|session_id| ctx.voice.get(session_id)).ok_or_else(not_in_voice)
}

/// Another member of the caller's call.
fn fellow(ctx: &Shared, channel_id: ChannelId, session_id: SessionId) -> Result<Seat, Failure> {
    ctx.voice
        .get(session_id)
        .filter(|seat| seat.channel_id == channel_id)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no member {session_id} in your call")))
}

/// `start_video`: refused with `limit_reached` when the call has its maximum of video senders.
pub fn start_video(ctx: &Shared, conn: &Conn, stream: VideoStream) -> Result<Reply, Failure> {
    let own = own_seat(ctx, conn)?;
    ctx.voice
        .start_video(own.session_id, stream.into(), ctx.config.server.max_video_senders as usize)
        .map_err(|full| Failure::new(ErrorCode::LimitReached, full.to_string()))?;
    own.announce(ctx, Event::VideoStarted { channel_id: own.channel_id, session_id: own.session_id, stream });
    Ok(Reply::Ok)
}

/// `stop_video`.
pub fn stop_video(ctx: &Shared, conn: &Conn, stream: VideoStream) -> Result<Reply, Failure> {
    let own = own_seat(ctx, conn)?;
    ctx.voice.stop_video(own.session_id, stream.into());
    own.announce(ctx, Event::VideoStopped { channel_id: own.channel_id, session_id: own.session_id, stream });
    Ok(Reply::Ok)
}

/// `watch_video`: the relay forwards a video stream only to those watching it.
pub fn watch_video(
    ctx: &Shared,
    conn: &Conn,
    source: SessionId,
    stream: VideoStream,
    watching: bool,
) -> Result<Reply, Failure> {
    let own = own_seat(ctx, conn)?;
    fellow(ctx, own.channel_id, source)?;
    ctx.voice.watch(own.session_id, source, stream.into(), watching);
    Ok(Reply::Ok)
}

/// `request_keyframe` and `report_bandwidth`: a receiver's word to a sender of its call.
pub(crate) fn to_sender(
    ctx: &Shared,
    conn: &Conn,
    sender: SessionId,
    event: impl FnOnce(SessionId) -> Event,
) -> Result<Reply, Failure> {
    let own = own_seat(ctx, conn)?;
    let target = fellow(ctx, own.channel_id, sender)?;
    let frame = encode_frame(&ServerFrame::Event { event: event(own.session_id) });
    ctx.hub.send_to_connection(target.member.connection, &frame);
    Ok(Reply::Ok)
}

/// `move_voice`: a moderator ends the voice sessions of a user below them and tells each of
/// their connections to join `channel_id` (a client rejoins with fresh keys, so end-to-end
/// protection holds).
pub async fn move_voice(ctx: &Shared, conn: &Conn, username: &str, channel_id: ChannelId) -> Result<Reply, Failure> {
    let may = voice_moderator(ctx, conn, "move others")?;
    let target = ctx.store.channel(channel_id).await?.filter(|channel| channel.kind == ChannelKind::Voice);
    let target = target.ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no voice channel {channel_id}")))?;
    let moved = ctx.voice.end_where(|channel, member| {
        member.user.username.eq_ignore_ascii_case(username) && channel != target.id && may(&member.user)
    });
    if moved.is_empty() {
        return Err(Failure::new(ErrorCode::NotFound, format!("{username} is not in another voice channel")));
    }
    announce_left(ctx, &moved);
    for seat in moved {
        let order = Event::VoiceMoved { channel_id: target.id };
        ctx.hub.send_to_connection(seat.member.connection, &encode_frame(&ServerFrame::Event { event: order }));
    }
    Ok(Reply::Ok)
}
