//! Voice channels: joining hands the client a media session (id and hop-by-hop key, over the
//! TLS control channel) and registers it with the relay; leaving, logging out or disconnecting
//! ends it. Everyone online is told who is in which voice channel.

use super::connection::Conn;
use super::{auth, Failure, Shared};
use crate::proto::{encode_frame, ChannelKind, ErrorCode, Event, Reply, ServerFrame, VoiceSession};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

fn broadcast(ctx: &Shared, event: Event) {
    ctx.hub.broadcast(&encode_frame(&ServerFrame::Event { event }));
}

/// `join_voice`: leaves any current voice channel, then joins `channel_id`.
pub async fn join_voice(ctx: &Shared, conn: &mut Conn, channel_id: i64) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let channel = ctx
        .store
        .channel(channel_id)
        .await?
        .filter(|channel| channel.kind == ChannelKind::Voice)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no voice channel {channel_id}")))?;
    leave(ctx, conn);
    let key = auth::random_bytes::<32>();
    let session_id = {
        let mut relay = ctx.relay.lock().unwrap_or_else(|p| p.into_inner());
        let session_id = loop {
            let candidate = u32::from_be_bytes(auth::random_bytes::<4>());
            if candidate != 0 && !relay.contains(candidate) {
                break candidate;
            }
        };
        relay.add(session_id, &key, channel.id);
        session_id
    };
    conn.voice = Some((session_id, channel.id));
    broadcast(ctx, Event::VoiceJoined { channel_id: channel.id, user: user.clone(), session_id });
    Ok(Reply::VoiceSession(VoiceSession {
        channel_id: channel.id,
        session_id,
        key: URL_SAFE_NO_PAD.encode(key),
        udp_port: ctx.media_port,
    }))
}

/// `leave_voice`.
pub fn leave_voice(ctx: &Shared, conn: &mut Conn) -> Result<Reply, Failure> {
    leave(ctx, conn);
    Ok(Reply::Ok)
}

/// Ends the connection's media session, if it has one, and tells everyone.
pub fn leave(ctx: &Shared, conn: &mut Conn) {
    let Some((session_id, channel_id)) = conn.voice.take() else { return };
    ctx.relay.lock().unwrap_or_else(|p| p.into_inner()).remove(session_id);
    if let Some(user) = ctx.hub.user(conn.id) {
        broadcast(ctx, Event::VoiceLeft { channel_id, user_id: user.id, session_id });
    }
}
