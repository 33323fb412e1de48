//! Search and mentions: full-text search over the messages the caller may read, the list of
//! messages that mention the caller, and recording (and announcing) who a new message
//! mentions.
//!
//! Both lists are limited to the channels the caller may read now (by the one visibility rule,
//! `context::can_read`), so a message of a channel or direct conversation they cannot read is
//! never returned, whatever the query. A mention is recorded only for a member who may read
//! the message's channel, never for its author.

use super::context::{can_read, readable_channels, Conn, Failure, Shared};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{
    encode_frame, mentioned_names, ErrorCode, Event, Message, Reply, ServerFrame, MAX_SEARCH_CHARS, MAX_SEARCH_PAGE,
};

/// A page of search results or mentions when the request names no `limit`.
const DEFAULT_PAGE: u32 = 20;

fn page_limit(limit: Option<u32>) -> Result<u32, Failure> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_SEARCH_PAGE).contains(&limit) {
        return Err(Failure::new(ErrorCode::InvalidArgument, format!("limit is 1 to {MAX_SEARCH_PAGE}")));
    }
    Ok(limit)
}

/// `search`: in every channel the caller may read, or only `channel_id` (which they must be
/// able to read).
pub(crate) async fn search(
    ctx: &Shared,
    conn: &Conn,
    query: String,
    channel_id: Option<ChannelId>,
    before: Option<MessageId>,
    limit: Option<u32>,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let limit = page_limit(limit)?;
    let chars = query.chars().count();
    if query.trim().is_empty() || chars > MAX_SEARCH_CHARS {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("a search is 1 to {MAX_SEARCH_CHARS} characters, not only spaces"),
        ));
    }
    let mut channels: Vec<ChannelId> = readable_channels(ctx, &user).await?.iter().map(|c| c.id).collect();
    if let Some(wanted) = channel_id {
        if !channels.contains(&wanted) {
            return Err(Failure::new(ErrorCode::NotFound, format!("no channel {wanted}")));
        }
        channels = vec![wanted];
    }
    Ok(Reply::Search(ctx.store.search(query, channels, before, limit).await?))
}

/// `list_mentions`.
pub(crate) async fn list_mentions(
    ctx: &Shared,
    conn: &Conn,
    before: Option<MessageId>,
    limit: Option<u32>,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let limit = page_limit(limit)?;
    let channels = readable_channels(ctx, &user).await?.iter().map(|c| c.id).collect();
    Ok(Reply::Mentions(ctx.store.mentions_of(user.id, channels, before, limit).await?))
}

/// Records who a new or edited message mentions (an edit drops those it no longer mentions)
/// and tells each newly mentioned member (`mentioned`, to them only; not to a supervised
/// member in quiet hours). A failure is logged, not returned: the message itself is saved.
pub(crate) async fn record_mentions(ctx: &Shared, message: &Message) {
    let names = mentioned_names(&message.body);
    if names.is_empty() && message.edited_at.is_none() {
        return;
    }
    let recorded = async {
        let channel = ctx.store.channel(message.channel_id).await?.ok_or(crate::store::StoreError::NotFound)?;
        let users = ctx.store.users_named(names).await?;
        let ids = users
            .iter()
            .filter(|user| user.id != message.author_id && can_read(ctx, &channel, user))
            .map(|user| user.id)
            .collect();
        ctx.store.record_mentions(message.id, ids).await
    };
    match recorded.await {
        Ok(added) if !added.is_empty() => {
            // Supervised members in their quiet hours get no `mentioned` now; `list_mentions` keeps it.
            let now = crate::clock::now_ms();
            let told: Vec<_> = added.into_iter().filter(|id| !ctx.wards.quiet(*id, now)).collect();
            let frame = encode_frame(&ServerFrame::Event { event: Event::Mentioned(message.clone()) });
            ctx.hub.send_to_users(&told, &frame);
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, message_id = %message.id, "mentions were not recorded"),
    }
}
