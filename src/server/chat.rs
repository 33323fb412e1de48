//! Text chat: listing channels and users, custom status, sending, editing and deleting
//! messages, history, and direct conversations.
//!
//! A message is answered only after the store has committed it; then it is serialised once
//! and queued to everyone who can read the channel (everyone online for public channels, the
//! two members for a direct channel). Sending is throttled per user: bursts of 40, then 20
//! messages a second.
//!
//! A message sent with a client-chosen id is stored once per (author, id): a retry after a lost
//! answer gets the stored message back and nothing is broadcast again.

use super::context::{
    check_body, check_client_id, fit_in_one_frame, history_limit, may_send, publish, readable_channel,
    readable_message, throttle, Action, Conn, Failure, Paging, Shared,
};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{encode_frame, ChannelList, ErrorCode, Event, Reply, ServerFrame, UserPresence, MAX_ATTACHMENTS};
use crate::ratelimit::RateLimiter;
use std::time::Duration;

/// Longest custom status, in characters.
pub(crate) const MAX_STATUS_CHARS: usize = 128;

/// The per-user message throttle: 40 at once, then one every 50 ms.
pub(crate) fn message_limiter() -> RateLimiter {
    RateLimiter::new(40, Duration::from_millis(50))
}

/// `list_channels`.
pub async fn list_channels(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let (categories, mut channels) = ctx.store.list_channels(user.id).await?;
    channels.retain(|channel| ctx.channel_allows(&user, channel, Action::View));
    let read_states = ctx.store.read_states(user.id, channels.iter().map(|channel| channel.id).collect()).await?;
    Ok(Reply::Channels(ChannelList { categories, channels, read_states }))
}

/// `mark_read`: moves the caller's read marker forward; their other connections hear of it.
pub(crate) async fn mark_read(
    ctx: &Shared,
    conn: &Conn,
    channel_id: ChannelId,
    message_id: MessageId,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let channel = readable_channel(ctx, channel_id, &user).await?;
    let (state, moved) = ctx.store.mark_read(user.id, channel.id, message_id).await?;
    if moved {
        let frame = encode_frame(&ServerFrame::Event { event: Event::ReadState(state.clone()) });
        ctx.hub.send_to_user_except(user.id, conn.id, &frame);
    }
    Ok(Reply::ReadState(state))
}

/// `list_users`: every account with presence.
pub async fn list_users(ctx: &Shared) -> Result<Reply, Failure> {
    let mut users = ctx.store.list_users().await?;
    for user in users.iter_mut() {
        user.online = ctx.hub.is_online(user.user.id);
    }
    Ok(Reply::Users(users))
}

/// `set_status`.
pub async fn set_status(ctx: &Shared, conn: &Conn, status: Option<String>) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let status = status.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if status.as_ref().is_some_and(|s| s.chars().count() > MAX_STATUS_CHARS) {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("a status is at most {MAX_STATUS_CHARS} characters"),
        ));
    }
    ctx.store.set_status(user.id, status.clone()).await?;
    ctx.announce_presence(UserPresence { user, online: true, status });
    Ok(Reply::Ok)
}

/// `send_message`: stores and broadcasts a message (with the files it carries, which must be
/// the sender's own uploads; then the body may be empty), or with a `client_id` this user
/// already used, answers the stored message and broadcasts nothing.
pub async fn send_message(
    ctx: &Shared,
    conn: &Conn,
    channel_id: ChannelId,
    body: String,
    client_id: Option<String>,
    attachments: Vec<i64>,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    if attachments.is_empty() || !body.is_empty() {
        check_body(&body)?;
    }
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("a message carries at most {MAX_ATTACHMENTS} files"),
        ));
    }
    if let Some(client_id) = &client_id {
        check_client_id(client_id)?;
    }
    throttle(ctx, &user)?;
    let channel = readable_channel(ctx, channel_id, &user).await?;
    may_send(ctx, &user, &channel)?;
    let now = crate::clock::now_ms();
    let (message, created) =
        ctx.store.insert_message_with_files(channel.id, user, body, client_id, attachments, now).await.map_err(
            |err| match err {
                crate::store::StoreError::NotFound => {
                    Failure::new(ErrorCode::NotFound, "an attached file does not exist or was not uploaded by you")
                }
                other => other.into(),
            },
        )?;
    if !created && (message.channel_id != channel.id || message.thread_id.is_some()) {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            "this client_id was used for a message in another channel or a thread",
        ));
    }
    if created {
        publish(ctx, &channel, Event::MessageCreated(message.clone()));
    }
    Ok(Reply::Message(message))
}

/// `edit_message`: authors edit their own messages.
pub async fn edit_message(ctx: &Shared, conn: &Conn, message_id: MessageId, body: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    check_body(&body)?;
    throttle(ctx, &user)?;
    let (channel, message) = readable_message(ctx, &user, message_id).await?;
    if message.author_id != user.id {
        return Err(Failure::new(ErrorCode::Forbidden, "only the author can edit a message"));
    }
    let edited = ctx.store.edit_message(message_id, body, crate::clock::now_ms()).await?;
    publish(ctx, &channel, Event::MessageEdited(edited.clone()));
    Ok(Reply::Message(edited))
}

/// `delete_message`: authors delete their own; admins, moderators and whoever may manage the
/// channel delete any.
pub async fn delete_message(ctx: &Shared, conn: &Conn, message_id: MessageId) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let (channel, message) = readable_message(ctx, &user, message_id).await?;
    if message.author_id != user.id && !ctx.channel_allows(&user, &channel, Action::Manage) {
        return Err(Failure::new(ErrorCode::Forbidden, "only the author or a moderator can delete a message"));
    }
    ctx.uploads.collect(ctx.store.delete_message(message_id)).await?;
    publish(ctx, &channel, Event::MessageDeleted { channel_id: channel.id, message_id });
    Ok(Reply::Ok)
}

/// `history`.
pub(crate) async fn history(
    ctx: &Shared,
    conn: &Conn,
    channel_id: ChannelId,
    paging: Paging,
    limit: Option<u32>,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let limit = history_limit(limit)?;
    let channel = readable_channel(ctx, channel_id, &user).await?;
    let mut page = match paging {
        Paging::Back(before) => ctx.store.history(channel.id, before, limit).await?,
        Paging::Forward(after) => ctx.store.history_after(channel.id, after, limit).await?,
    };
    fit_in_one_frame(&mut page, &paging);
    Ok(Reply::History(page))
}

/// `open_direct`: the conversation with another user, created on first use (where supervision
/// allows the pair).
pub async fn open_direct(ctx: &Shared, conn: &Conn, username: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let other = ctx
        .store
        .user_by_name(username.clone())
        .await?
        .filter(|record| !record.pending)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no user named {username}")))?;
    if other.user.id == user.id {
        return Err(Failure::new(ErrorCode::InvalidArgument, "a direct conversation needs another user"));
    }
    ctx.direct_allowed(&user, &[user.id, other.user.id]).map_err(|denied| {
        Failure::new(ErrorCode::Supervised, format!("you cannot write to {}: {denied}", other.user.username))
    })?;
    let (channel, created) = ctx.store.direct_channel(user, other.user).await?;
    if created {
        publish(ctx, &channel, Event::ChannelCreated(channel.clone()));
    }
    Ok(Reply::Channel(channel))
}
