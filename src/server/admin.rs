//! Admin actions: categories, channels and roles. Every handler checks the caller's current
//! role first (through the one permission function) and answers `forbidden` otherwise; each
//! action is written to the audit log.

use super::context::{audit_line, permit, require_admin, Action, Conn, Failure, Shared};
use crate::ids::ChannelId;
use crate::proto::{encode_frame, ChannelKind, ErrorCode, Event, Reply, Role, ServerFrame, User, UserPresence};

/// Longest channel or category name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// Trims a leading `#` and checks length and characters.
fn clean_name(name: &str) -> Result<String, Failure> {
    let name = name.trim().trim_start_matches('#').trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("names are 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_string())
}

fn broadcast(ctx: &Shared, event: Event) {
    ctx.hub.broadcast(&encode_frame(&ServerFrame::Event { event }));
}

/// Writes `actor`'s `action` on `target` to the audit log.
async fn audit(ctx: &Shared, actor: &User, action: &str, target: String) -> Result<(), Failure> {
    Ok(ctx.store.audit(audit_line(&actor.username, action, Some(target), None, None)).await?)
}

/// `create_category`.
pub async fn create_category(ctx: &Shared, conn: &Conn, name: String) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "create categories")?;
    let category = ctx.store.create_category(clean_name(&name)?).await?;
    audit(ctx, &admin, "create_category", category.name.clone()).await?;
    broadcast(ctx, Event::CategoryCreated(category.clone()));
    Ok(Reply::Category(category))
}

/// `rename_category`.
pub async fn rename_category(ctx: &Shared, conn: &Conn, category_id: i64, name: String) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "rename categories")?;
    let category = ctx.store.rename_category(category_id, clean_name(&name)?).await?;
    audit(ctx, &admin, "rename_category", format!("category {category_id}: {}", category.name)).await?;
    broadcast(ctx, Event::CategoryRenamed(category.clone()));
    Ok(Reply::Category(category))
}

/// `delete_category`.
pub async fn delete_category(ctx: &Shared, conn: &Conn, category_id: i64) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "delete categories")?;
    ctx.store.delete_category(category_id).await?;
    audit(ctx, &admin, "delete_category", format!("category {category_id}")).await?;
    broadcast(ctx, Event::CategoryDeleted { category_id });
    Ok(Reply::Ok)
}

/// `create_channel`.
pub async fn create_channel(
    ctx: &Shared,
    conn: &Conn,
    name: String,
    category_id: Option<i64>,
    kind: ChannelKind,
) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "create channels")?;
    if kind == ChannelKind::Direct {
        return Err(Failure::new(ErrorCode::InvalidArgument, "direct channels are opened with open_direct"));
    }
    let channel = ctx.store.create_channel(clean_name(&name)?, category_id, kind).await?;
    audit(ctx, &admin, "create_channel", format!("#{}", channel.name)).await?;
    ctx.publish_to_channel(&channel, Event::ChannelCreated(channel.clone()));
    Ok(Reply::Channel(channel))
}

/// `rename_channel`.
pub async fn rename_channel(ctx: &Shared, conn: &Conn, channel_id: ChannelId, name: String) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "rename channels")?;
    let channel = ctx.store.rename_channel(channel_id, clean_name(&name)?).await?;
    audit(ctx, &admin, "rename_channel", format!("channel {channel_id}: #{}", channel.name)).await?;
    ctx.publish_to_channel(&channel, Event::ChannelRenamed(channel.clone()));
    Ok(Reply::Channel(channel))
}

/// `delete_channel` (the dispatcher then ends the calls in it).
pub async fn delete_channel(ctx: &Shared, conn: &Conn, channel_id: ChannelId) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "delete channels")?;
    let channel = ctx
        .store
        .channel(channel_id)
        .await?
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no channel {channel_id}")))?;
    ctx.uploads.collect(ctx.store.delete_channel(channel_id)).await?;
    audit(ctx, &admin, "delete_channel", format!("channel {channel_id}")).await?;
    // Only those who could see it hear it is gone: a private channel's id stays private.
    ctx.publish_to_channel(&channel, Event::ChannelDeleted { channel_id });
    Ok(Reply::Ok)
}

/// `set_role`: admins give roles up to their own to those below them; nobody changes their own
/// role (so there is always an admin left), the owner stays the owner.
pub async fn set_role(ctx: &Shared, conn: &Conn, username: String, role: Role) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "change roles")?;
    if admin.username.eq_ignore_ascii_case(&username) {
        return Err(Failure::new(ErrorCode::InvalidArgument, "admins cannot change their own role"));
    }
    let current = ctx
        .store
        .user_by_name(username.clone())
        .await?
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("there is no user {username}")))?;
    permit(&admin, Action::AssignRole(role), Some(current.user.role), "give this role")?;
    let user = ctx.store.set_role(username, role).await?;
    ctx.store
        .audit(audit_line(
            &admin.username,
            "set_role",
            Some(user.username.clone()),
            Some(user.id),
            Some(role.as_str().into()),
        ))
        .await?;
    ctx.hub.set_role(user.id, role);
    tracing::info!(admin = %admin.username, user = %user.username, role = role.as_str(), "role changed");
    let online = ctx.hub.is_online(user.id);
    let status = ctx.stored_status(&user.username).await;
    ctx.announce_presence(UserPresence { user, online, status });
    Ok(Reply::Ok)
}
