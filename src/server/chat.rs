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

use super::context::{Conn, Failure, Shared};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::proto::{
    encode_frame, Channel, ChannelKind, ChannelList, ErrorCode, Event, HistoryPage, Message, Reply, ServerFrame, User,
    UserPresence, MAX_ATTACHMENTS, MAX_CLIENT_ID_CHARS, MAX_FRAME_LEN, MAX_HISTORY_PAGE, MAX_MESSAGE_CHARS,
};
use crate::ratelimit::RateLimiter;
use std::time::{Duration, Instant};

/// Longest custom status, in characters.
pub(crate) const MAX_STATUS_CHARS: usize = 128;
const DEFAULT_HISTORY_PAGE: u32 = 50;

/// The per-user message throttle: 40 at once, then one every 50 ms.
pub(crate) fn message_limiter() -> RateLimiter {
    RateLimiter::new(40, Duration::from_millis(50))
}

/// Who may read a channel.
fn can_read(channel: &Channel, user_id: UserId) -> bool {
    channel.kind != ChannelKind::Direct || channel.members.contains(&user_id)
}

/// Queues an event to everyone who can read `channel`.
pub fn publish(ctx: &Shared, channel: &Channel, event: Event) {
    ctx.hub.send_to_audience(&channel.members, &encode_frame(&ServerFrame::Event { event }));
}

async fn readable_channel(ctx: &Shared, channel_id: ChannelId, user: &User) -> Result<Channel, Failure> {
    match ctx.store.channel(channel_id).await? {
        Some(channel) if can_read(&channel, user.id) => Ok(channel),
        _ => Err(Failure::new(ErrorCode::NotFound, format!("no channel {channel_id}"))),
    }
}

fn check_body(body: &str) -> Result<(), Failure> {
    if body.trim().is_empty() {
        return Err(Failure::new(ErrorCode::InvalidArgument, "a message cannot be empty or only spaces"));
    }
    let len = body.chars().count();
    if len > MAX_MESSAGE_CHARS {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("a message is 1 to {MAX_MESSAGE_CHARS} characters long (this one is {len})"),
        ));
    }
    Ok(())
}

fn check_client_id(client_id: &str) -> Result<(), Failure> {
    let well_formed = (1..=MAX_CLIENT_ID_CHARS).contains(&client_id.len())
        && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("client_id is 1 to {MAX_CLIENT_ID_CHARS} ASCII letters, digits, '-' or '_'"),
        ))
    }
}

fn throttle(ctx: &Shared, user: &User) -> Result<(), Failure> {
    let mut limits = ctx.message_limits.lock().unwrap_or_else(|p| p.into_inner());
    limits.take(&user.id.to_string(), Instant::now()).map_err(|wait| {
        Failure::new(ErrorCode::RateLimited, format!("sending too fast; wait {} ms", wait.as_millis().max(1)))
    })
}

/// `list_channels`.
pub async fn list_channels(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let (categories, channels) = ctx.store.list_channels(user.id).await?;
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
    if !created && message.channel_id != channel.id {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            "this client_id was used for a message in another channel",
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
    let (channel, message) = own_message(ctx, &user, message_id).await?;
    if message.author_id != user.id {
        return Err(Failure::new(ErrorCode::Forbidden, "only the author can edit a message"));
    }
    let edited = ctx.store.edit_message(message_id, body, crate::clock::now_ms()).await?;
    publish(ctx, &channel, Event::MessageEdited(edited.clone()));
    Ok(Reply::Message(edited))
}

/// `delete_message`: authors delete their own, admins any.
pub async fn delete_message(ctx: &Shared, conn: &Conn, message_id: MessageId) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let (channel, message) = own_message(ctx, &user, message_id).await?;
    if message.author_id != user.id && user.role != crate::proto::Role::Admin {
        return Err(Failure::new(ErrorCode::Forbidden, "only the author or an admin can delete a message"));
    }
    ctx.store.delete_message(message_id).await?;
    publish(ctx, &channel, Event::MessageDeleted { channel_id: channel.id, message_id });
    Ok(Reply::Ok)
}

async fn own_message(
    ctx: &Shared,
    user: &User,
    message_id: MessageId,
) -> Result<(Channel, crate::proto::Message), Failure> {
    let not_found = || Failure::new(ErrorCode::NotFound, format!("no message {message_id}"));
    let message = ctx.store.message(message_id).await?.ok_or_else(not_found)?;
    let channel = readable_channel(ctx, message.channel_id, user).await.map_err(|_| not_found())?;
    Ok((channel, message))
}

/// Which way a `history` request pages.
pub(crate) enum Paging {
    /// Back from `before` (the newest page when `None`).
    Back(Option<MessageId>),
    /// Forward from just after this id.
    Forward(MessageId),
}

impl Paging {
    /// `before` and `after` of a request; at most one may be given.
    pub(crate) fn new(before: Option<MessageId>, after: Option<MessageId>) -> Result<Paging, Failure> {
        match (before, after) {
            (before, None) => Ok(Paging::Back(before)),
            (None, Some(after)) => Ok(Paging::Forward(after)),
            (Some(_), Some(_)) => Err(Failure::new(ErrorCode::InvalidArgument, "give before or after, not both")),
        }
    }
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
    let limit = limit.unwrap_or(DEFAULT_HISTORY_PAGE);
    if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
        return Err(Failure::new(ErrorCode::InvalidArgument, format!("limit is 1 to {MAX_HISTORY_PAGE}")));
    }
    let channel = readable_channel(ctx, channel_id, &user).await?;
    let mut page = match paging {
        Paging::Back(before) => ctx.store.history(channel.id, before, limit).await?,
        Paging::Forward(after) => ctx.store.history_after(channel.id, after, limit).await?,
    };
    fit_in_one_frame(&mut page, &paging);
    Ok(Reply::History(page))
}

/// Drops messages from the far end of a page (the oldest paging back, the newest paging
/// forward) until its reply fits in one frame (100 long messages of 4-byte characters would
/// not); `has_more` then tells the client to page on.
fn fit_in_one_frame(page: &mut HistoryPage, paging: &Paging) {
    if let Paging::Forward(_) = paging {
        page.messages.reverse();
        trim_to_frame(page);
        page.messages.reverse();
    } else {
        trim_to_frame(page);
    }
}

/// Drops messages from the front of a page until it fits in one frame.
fn trim_to_frame(page: &mut HistoryPage) {
    const ENVELOPE: usize = 1024;
    let encoded_len = |message: &Message| serde_json::to_vec(message).map_or(MAX_FRAME_LEN, |bytes| bytes.len() + 1);
    let mut size: usize = page.messages.iter().map(encoded_len).sum();
    let keep_from = page
        .messages
        .iter()
        .take_while(|message| {
            let too_big = size + ENVELOPE > MAX_FRAME_LEN;
            if too_big {
                size -= encoded_len(message);
            }
            too_big
        })
        .count();
    if keep_from > 0 {
        page.messages.drain(..keep_from);
        page.has_more = true;
    }
}

/// `open_direct`: the conversation with another user, created on first use.
pub async fn open_direct(ctx: &Shared, conn: &Conn, username: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let other = ctx
        .store
        .user_by_name(username.clone())
        .await?
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no user named {username}")))?;
    if other.user.id == user.id {
        return Err(Failure::new(ErrorCode::InvalidArgument, "a direct conversation needs another user"));
    }
    let (channel, created) = ctx.store.direct_channel(user, other.user).await?;
    if created {
        publish(ctx, &channel, Event::ChannelCreated(channel.clone()));
    }
    Ok(Reply::Channel(channel))
}
