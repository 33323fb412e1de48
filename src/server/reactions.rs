//! Reactions: adding and taking back an emoji on a message the member can read. Each change is
//! published to the channel's readers as `reactions_changed` with the message's reactions.

use super::context::{publish, readable_message, Conn, Failure, Shared};
use crate::ids::MessageId;
use crate::proto::{check_reaction, ErrorCode, Event, Reply};

/// `add_reaction` (`add` true) and `remove_reaction`.
pub(crate) async fn react(
    ctx: &Shared,
    conn: &Conn,
    message_id: MessageId,
    emoji: String,
    add: bool,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    check_reaction(&emoji).map_err(|bad| Failure::new(ErrorCode::InvalidArgument, bad.to_string()))?;
    let (channel, _) = readable_message(ctx, &user, message_id).await?;
    let (reactions, changed) = if add {
        ctx.store.add_reaction(message_id, user.id, emoji, crate::clock::now_ms()).await?
    } else {
        ctx.store.remove_reaction(message_id, user.id, emoji).await?
    };
    if changed {
        publish(ctx, &channel, Event::ReactionsChanged(reactions.clone()));
    }
    Ok(Reply::Reactions(reactions))
}
