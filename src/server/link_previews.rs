//! Link previews of messages: when `chat.link_previews` is on, the first link of a new or
//! edited message is previewed in the background (the message's answer never waits for it).
//! A fetch of the same URL within [`CACHE_MS`] is reused from the store, failures too (but not a
//! fetch that found no turn among the previews running at once); a preview
//! found is stored with the message and published to the channel's readers as `link_preview`.
//! Why a fetch failed is logged at debug level without the URL (it may be private). Fetches
//! run among the server's background tasks: shutdown stops them and waits for them to end.

use super::context::{publish, Shared};
use crate::preview::FetchError;
use crate::proto::{Event, Message};
use std::sync::Arc;

/// How long a fetched preview (or a failed fetch) is reused: a day.
pub const CACHE_MS: i64 = 24 * 60 * 60 * 1000;

/// Starts previewing `message`'s first link, if it has one and previews are on.
pub(crate) fn request(ctx: &Arc<Shared>, message: &Message) {
    if !ctx.config.chat.link_previews {
        return;
    }
    let Some(url) = crate::preview::first_url(&message.body).map(str::to_string) else { return };
    if message.preview.as_ref().is_some_and(|shown| shown.url == url) {
        return;
    }
    let (tasks, cancel) = ctx.background.clone();
    let ctx = ctx.clone();
    let (channel_id, message_id) = (message.channel_id, message.id);
    let fetch = async move {
        let now = crate::clock::now_ms();
        let cached = match ctx.store.cached_preview(url.clone()).await {
            Ok(cached) => cached.filter(|cached| now - cached.fetched_at < CACHE_MS),
            Err(err) => {
                tracing::warn!(error = %err, "link preview cache unreadable");
                None
            }
        };
        let preview = match cached {
            Some(cached) => cached.preview,
            None => match ctx.previews.preview(&url).await {
                Ok(preview) => preview,
                Err(FetchError::Busy) => {
                    tracing::debug!(%message_id, "no link preview: too many at once");
                    return;
                }
                Err(err) => {
                    tracing::debug!(%message_id, reason = %err, "no link preview");
                    None
                }
            },
        };
        match ctx.store.save_preview(message_id, url, preview.clone(), now).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(error = %err, "link preview not saved");
                return;
            }
        }
        let (Some(preview), Ok(Some(channel))) = (preview, ctx.store.channel(channel_id).await) else { return };
        publish(&ctx, &channel, Event::LinkPreview { channel_id, message_id, preview });
    };
    tasks.spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => tracing::debug!(%message_id, "link preview stopped: the server stops"),
            _ = fetch => {}
        }
    });
}
