//! Who may read what, and the checks every handler that writes or pages messages shares: the
//! visibility rule ([`can_read`]), message bodies and client ids, the per-user message
//! throttle, publishing to a channel's readers, and history paging. Handlers reach these
//! through `context`.

use super::context::{Failure, Shared};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::proto::{
    encode_frame, Channel, ChannelKind, ErrorCode, Event, HistoryPage, Message, ServerFrame, User, MAX_CLIENT_ID_CHARS,
    MAX_FRAME_LEN, MAX_HISTORY_PAGE, MAX_MESSAGE_CHARS,
};
use std::time::Instant;

/// A history page when the request names no `limit`.
const DEFAULT_HISTORY_PAGE: u32 = 50;

/// The page size a history request asks for, checked.
pub(crate) fn history_limit(limit: Option<u32>) -> Result<u32, Failure> {
    let limit = limit.unwrap_or(DEFAULT_HISTORY_PAGE);
    if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
        return Err(Failure::new(ErrorCode::InvalidArgument, format!("limit is 1 to {MAX_HISTORY_PAGE}")));
    }
    Ok(limit)
}

/// The channels `user` may read, by [`can_read`], among those the store lists for them.
pub(crate) async fn readable_channels(ctx: &Shared, user: &User) -> Result<Vec<Channel>, Failure> {
    let (_, channels) = ctx.store.list_channels(user.id).await?;
    Ok(channels.into_iter().filter(|channel| can_read(channel, user.id)).collect())
}

/// Who may read a channel: THE visibility rule. Every decision "may this user read this
/// channel" (history, sending, threads, reactions, search, mentions) goes through it.
pub(crate) fn can_read(channel: &Channel, user_id: UserId) -> bool {
    channel.kind != ChannelKind::Direct || channel.members.contains(&user_id)
}

/// Queues an event to everyone who can read `channel`.
pub(crate) fn publish(ctx: &Shared, channel: &Channel, event: Event) {
    ctx.hub.send_to_audience(&channel.members, &encode_frame(&ServerFrame::Event { event }));
}

/// The channel, if `user` may read it (else `not_found`, so its existence stays hidden).
pub(crate) async fn readable_channel(ctx: &Shared, channel_id: ChannelId, user: &User) -> Result<Channel, Failure> {
    match ctx.store.channel(channel_id).await? {
        Some(channel) if can_read(&channel, user.id) => Ok(channel),
        _ => Err(Failure::new(ErrorCode::NotFound, format!("no channel {channel_id}"))),
    }
}

/// A message body: not blank, at most [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn check_body(body: &str) -> Result<(), Failure> {
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

/// A client-chosen message id (see `send_message`).
pub(crate) fn check_client_id(client_id: &str) -> Result<(), Failure> {
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

/// Takes a token from `user`'s message throttle.
pub(crate) fn throttle(ctx: &Shared, user: &User) -> Result<(), Failure> {
    let mut limits = ctx.message_limits.lock().unwrap_or_else(|p| p.into_inner());
    limits.take(&user.id.to_string(), Instant::now()).map_err(|wait| {
        Failure::new(ErrorCode::RateLimited, format!("sending too fast; wait {} ms", wait.as_millis().max(1)))
    })
}

/// A message and its channel, if `user` may read the channel (else `not_found`).
pub(crate) async fn readable_message(
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

/// Drops messages from the far end of a page (the oldest paging back, the newest paging
/// forward) until its reply fits in one frame (100 long messages of 4-byte characters would
/// not); `has_more` then tells the client to page on.
pub(crate) fn fit_in_one_frame(page: &mut HistoryPage, paging: &Paging) {
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
