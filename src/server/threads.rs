//! Threads: replying in the thread of a message and paging a thread's replies.
//!
//! A reply is a message of the root's channel that names its root (`thread_id`); a reply to a
//! reply joins its root's thread, so threads are one level deep. Replies stay out of the
//! channel's history; the root carries the thread's summary (reply count, last reply time), and
//! each new reply is published as `thread_reply` with the summary after it. Replies are
//! throttled, checked and made exactly-once like `send_message`.

use super::context::{
    check_body, check_client_id, fit_in_one_frame, history_limit, may_send, publish, readable_message, throttle, Conn,
    Failure, Paging, Shared,
};
use crate::ids::MessageId;
use crate::proto::{ErrorCode, Event, Reply, ThreadReply};

/// `reply_thread`.
pub(crate) async fn reply_thread(
    ctx: &Shared,
    conn: &Conn,
    message_id: MessageId,
    body: String,
    client_id: Option<String>,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    check_body(&body)?;
    if let Some(client_id) = &client_id {
        check_client_id(client_id)?;
    }
    throttle(ctx, &user)?;
    let (channel, root) = readable_message(ctx, &user, message_id).await?;
    may_send(ctx, &user, &channel)?;
    let root_id = root.thread_id.unwrap_or(root.id);
    let (reply, created, thread) =
        ctx.store.insert_reply(root_id, user, body, client_id, crate::clock::now_ms()).await?;
    if !created && reply.thread_id != Some(root_id) {
        return Err(Failure::new(ErrorCode::InvalidArgument, "this client_id was used for another message"));
    }
    if created {
        publish(ctx, &channel, Event::ThreadReply(Box::new(ThreadReply { message: reply.clone(), thread })));
    }
    Ok(Reply::Message(reply))
}

/// `thread_history`: a page of the replies in the thread of `message_id` (a root, or a reply
/// standing for its root).
pub(crate) async fn thread_history(
    ctx: &Shared,
    conn: &Conn,
    message_id: MessageId,
    paging: Paging,
    limit: Option<u32>,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let limit = history_limit(limit)?;
    let (_, root) = readable_message(ctx, &user, message_id).await?;
    let root_id = root.thread_id.unwrap_or(root.id);
    let mut page = match paging {
        Paging::Back(before) => ctx.store.thread_history(root_id, before, limit).await?,
        Paging::Forward(after) => ctx.store.thread_after(root_id, after, limit).await?,
    };
    fit_in_one_frame(&mut page, &paging);
    Ok(Reply::History(page))
}
