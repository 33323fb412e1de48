//! Who may read what, and the checks every handler that writes or pages messages shares: the
//! visibility rule ([`can_read`]), message bodies and client ids, the per-user message
//! throttle, publishing to a channel's readers, and history paging. Handlers reach these
//! through `context`.

use super::context::{decide, Action, ChannelRules, Failure, Shared};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{
    Channel, ChannelKind, ErrorCode, Event, HistoryPage, Message, User, MAX_CLIENT_ID_CHARS, MAX_FRAME_LEN,
    MAX_HISTORY_PAGE, MAX_MESSAGE_CHARS,
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
    Ok(channels.into_iter().filter(|channel| can_read(ctx, channel, user)).collect())
}

/// Who may read a channel: THE visibility rule (the permission function's `view`, through
/// `Shared::channel_allows`). Every decision "may this user read this channel" (history,
/// sending, threads, reactions, search, mentions) goes through it.
pub(crate) fn can_read(ctx: &Shared, channel: &Channel, user: &User) -> bool {
    ctx.channel_allows(user, channel, Action::View)
}

/// Queues an event to everyone who can read `channel`.
pub(crate) fn publish(ctx: &Shared, channel: &Channel, event: Event) {
    ctx.publish_to_channel(channel, event);
}

/// The channel, if `user` may read it (else `not_found`, so its existence stays hidden).
pub(crate) async fn readable_channel(ctx: &Shared, channel_id: ChannelId, user: &User) -> Result<Channel, Failure> {
    match ctx.store.channel(channel_id).await? {
        Some(channel) if can_read(ctx, &channel, user) => Ok(channel),
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

/// Whether `user` may send in `channel` now: supervision (a direct conversation's contacts,
/// quiet hours), the channel's permissions, a timeout, slow mode
/// (which those who may manage the channel skip; a message counts when it passes here).
pub(crate) fn may_send(ctx: &Shared, user: &User, channel: &Channel) -> Result<(), Failure> {
    if channel.kind == ChannelKind::Direct {
        ctx.direct_allowed(user, &channel.members)
            .map_err(|denied| Failure::new(ErrorCode::Supervised, format!("you cannot write here: {denied}")))?;
    }
    if !ctx.channel_allows(user, channel, Action::Send) {
        return Err(Failure::new(ErrorCode::Forbidden, format!("you cannot send messages in #{}", channel.name)));
    }
    let now = crate::clock::now_ms();
    if ctx.wards.quiet(user.id, now) {
        let denied = decide(user.role, Action::SendInQuietHours, None, &ChannelRules::default()).err();
        if let Some(denied) = denied {
            return Err(Failure::new(ErrorCode::QuietHours, format!("your message was not sent: {denied}")));
        }
    }
    if let Some(until) = ctx.sanctions.timed_out_until(user.id, now) {
        let seconds = (until - now + 999) / 1000;
        return Err(Failure::new(
            ErrorCode::TimedOut,
            format!("you are timed out for {seconds} s more (until {until}, Unix ms): no sending or speaking"),
        ));
    }
    if channel.slow_mode_seconds > 0 && !ctx.channel_allows(user, channel, Action::Manage) {
        ctx.sanctions.take_turn(channel.id, user.id, channel.slow_mode_seconds, now).map_err(|wait_ms| {
            let seconds = (wait_ms + 999) / 1000;
            Failure::new(
                ErrorCode::SlowMode,
                format!(
                    "#{} is in slow mode (one message every {} s); wait {seconds} s",
                    channel.name, channel.slow_mode_seconds
                ),
            )
        })?;
    }
    Ok(())
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
