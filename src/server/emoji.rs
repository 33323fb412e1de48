//! Custom emoji requests: admins add a PNG, GIF or WebP picture under a `:shortcode:`, rename
//! and remove it; everyone lists them. Every change is announced to everyone online, so clients
//! update their emoji pickers at once. The pictures live in the file store like any file.

use super::context::{require_admin, Conn, Failure, Shared};
use crate::proto::{
    encode_frame, ErrorCode, Event, Reply, ServerFrame, EMOJI_SHORTCODE_CHARS, MAX_EMOJI, MAX_EMOJI_BYTES,
};
use crate::store::{NewFile, StoreError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A shortcode as stored: without colons, lowercase; 2 to 32 ASCII letters, digits or `_`.
fn shortcode(raw: &str) -> Result<String, Failure> {
    let code = raw.trim().trim_matches(':').to_ascii_lowercase();
    let well_formed = EMOJI_SHORTCODE_CHARS.contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if well_formed {
        Ok(code)
    } else {
        Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!(
                "a shortcode is {} to {} ASCII letters, digits or '_'",
                EMOJI_SHORTCODE_CHARS.start(),
                EMOJI_SHORTCODE_CHARS.end()
            ),
        ))
    }
}

fn emoji_failure(err: StoreError) -> Failure {
    match err {
        StoreError::EmojiTaken => Failure::new(ErrorCode::InvalidArgument, "a custom emoji already has this shortcode"),
        StoreError::EmojiLimit => {
            Failure::new(ErrorCode::LimitReached, format!("a server keeps at most {MAX_EMOJI} custom emoji"))
        }
        StoreError::NotFound => Failure::new(ErrorCode::NotFound, "no custom emoji with this shortcode"),
        other => other.into(),
    }
}

fn announce(ctx: &Shared, event: Event) {
    ctx.hub.broadcast(&encode_frame(&ServerFrame::Event { event }));
}

/// `emoji_add`.
pub async fn add(ctx: &Shared, conn: &Conn, raw_shortcode: String, data: String) -> Result<Reply, Failure> {
    let user = require_admin(ctx, conn, "add custom emoji")?;
    let code = shortcode(&raw_shortcode)?;
    let too_big =
        || Failure::new(ErrorCode::InvalidArgument, format!("a custom emoji is at most {MAX_EMOJI_BYTES} bytes"));
    if data.len() > MAX_EMOJI_BYTES.div_ceil(3) * 4 {
        return Err(too_big());
    }
    let bytes =
        STANDARD.decode(data.as_bytes()).map_err(|_| Failure::new(ErrorCode::InvalidArgument, "data is not base64"))?;
    if bytes.len() > MAX_EMOJI_BYTES {
        return Err(too_big());
    }
    let _adding = ctx.uploads.adding().await;
    let (sha256, size, content_type) = ctx.uploads.store_emoji(bytes).await?;
    let file = NewFile {
        sha256,
        size,
        name: format!("{code}.{}", content_type.trim_start_matches("image/")),
        content_type: Some(content_type.to_string()),
        uploader: user,
        image: None,
        now: crate::clock::now_ms(),
    };
    let emoji = ctx.store.add_emoji(code, file, MAX_EMOJI).await.map_err(emoji_failure)?;
    announce(ctx, Event::EmojiAdded(emoji.clone()));
    Ok(Reply::Emoji(emoji))
}

/// `emoji_list`.
pub async fn list(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    conn.user(ctx)?;
    Ok(Reply::EmojiList(ctx.store.list_emoji().await?))
}

/// `emoji_rename`.
pub async fn rename(ctx: &Shared, conn: &Conn, old: String, new: String) -> Result<Reply, Failure> {
    require_admin(ctx, conn, "rename custom emoji")?;
    let (old, new) = (shortcode(&old)?, shortcode(&new)?);
    let emoji = ctx.store.rename_emoji(old.clone(), new).await.map_err(emoji_failure)?;
    announce(ctx, Event::EmojiRenamed { old_shortcode: old, emoji: emoji.clone() });
    Ok(Reply::Emoji(emoji))
}

/// `emoji_remove`.
pub async fn remove(ctx: &Shared, conn: &Conn, raw_shortcode: String) -> Result<Reply, Failure> {
    require_admin(ctx, conn, "remove custom emoji")?;
    let code = shortcode(&raw_shortcode)?;
    ctx.uploads.collect(ctx.store.remove_emoji(code.clone())).await.map_err(emoji_failure)?;
    announce(ctx, Event::EmojiRemoved { shortcode: code });
    Ok(Reply::Ok)
}
