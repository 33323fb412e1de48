//! Moderation and the admin's controls over people: channel permission overrides, kick, ban
//! and unban, timeouts, warnings, moderation history, slow mode, the audit log, keyword
//! filters, password resets and registration approvals.
//!
//! Each action is one function that takes who acts (`actor`, a user as of now) and what they
//! ask, checks it with the one permission function ([`decide`], through [`permit`] and
//! [`require_admin`]'s rule), does it, and writes the audit line in the same transaction. The
//! control protocol's dispatcher calls them; the REST API can call the same ones.

use super::context::{
    address_key, audit_line, check_new_password, may_administer, permit, word_pattern, Action, Failure, MuteReason,
    Shared,
};
use crate::ids::{ChannelId, UserId};
use crate::proto::{
    encode_frame, AuditEntry, AuditPage, BanInfo, BanSpec, Channel, ChannelPermissions, ErrorCode, Event,
    KeywordFilter, PendingRegistration, PermissionOverride, ServerFrame, User,
};
use crate::store::{NewBan, Scope};
use std::net::IpAddr;

/// Longest timeout or timed ban a keyword filter or moderator may give: 28 days.
pub(crate) const MAX_TIMEOUT_SECONDS: u64 = 28 * 24 * 3600;
/// Longest slow mode gap: 6 hours.
pub(crate) const MAX_SLOW_MODE_SECONDS: u32 = 6 * 3600;
/// Longest reason or warning note, in characters.
pub(crate) const MAX_REASON_CHARS: usize = 500;
/// Longest keyword filter, in characters.
pub(crate) const MAX_FILTER_CHARS: usize = 64;
/// Largest page of the audit log.
pub(crate) const MAX_AUDIT_PAGE: u32 = 100;
/// Entries of one user's moderation history returned.
pub(crate) const HISTORY_ENTRIES: u32 = 100;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidArgument, message)
}

fn send_to_user(ctx: &Shared, user_id: UserId, event: Event) {
    ctx.hub.send_to_users(&[user_id], &encode_frame(&ServerFrame::Event { event }));
}

/// A reason or note trimmed; empty is none; too long is refused.
fn clean_reason(reason: Option<String>) -> Result<Option<String>, Failure> {
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(invalid(format!("a reason is at most {MAX_REASON_CHARS} characters")));
    }
    Ok(reason)
}

/// The account `username`, or `not_found`.
async fn target(ctx: &Shared, username: &str) -> Result<User, Failure> {
    match ctx.store.user_by_name(username.to_string()).await? {
        Some(record) if !record.pending => Ok(record.user),
        _ => Err(Failure::new(ErrorCode::NotFound, format!("there is no user {username}"))),
    }
}

/// Checks that `actor` may do `action` to `username`; returns the target.
async fn permitted_target(
    ctx: &Shared,
    actor: &User,
    action: Action,
    username: &str,
    what: &str,
) -> Result<User, Failure> {
    let target = target(ctx, username).await?;
    if target.id == actor.id {
        return Err(invalid(format!("you cannot {what} yourself")));
    }
    permit(actor, action, Some(target.role), what)?;
    Ok(target)
}

fn admin(actor: &User, what: &str) -> Result<(), Failure> {
    if may_administer(actor) {
        Ok(())
    } else {
        Err(Failure::new(ErrorCode::Forbidden, format!("only admins can {what}")))
    }
}

fn seconds_to_ms(seconds: u64) -> i64 {
    (seconds.min(MAX_TIMEOUT_SECONDS) as i64) * 1000
}

/// `channel_permissions`: the overrides of a channel or category (admins).
pub async fn channel_permissions(ctx: &Shared, actor: &User, scope: Scope) -> Result<ChannelPermissions, Failure> {
    admin(actor, "read channel permissions")?;
    Ok(permissions_of(ctx, scope))
}

fn permissions_of(ctx: &Shared, scope: Scope) -> ChannelPermissions {
    let overrides = ctx.sanctions.overrides_of(scope);
    match scope {
        Scope::Channel(id) => ChannelPermissions { channel_id: Some(id), category_id: None, overrides },
        Scope::Category(id) => ChannelPermissions { channel_id: None, category_id: Some(id), overrides },
    }
}

/// The scope a request names: exactly one of a channel and a category.
pub fn scope(channel_id: Option<ChannelId>, category_id: Option<i64>) -> Result<Scope, Failure> {
    match (channel_id, category_id) {
        (Some(channel), None) => Ok(Scope::Channel(channel)),
        (None, Some(category)) => Ok(Scope::Category(category)),
        _ => Err(invalid("name either channel_id or category_id")),
    }
}

/// `set_channel_permissions`: sets one role's override (admins); everyone is told to list the
/// channels again.
pub async fn set_channel_permissions(
    ctx: &Shared,
    actor: &User,
    scope: Scope,
    rule: PermissionOverride,
) -> Result<ChannelPermissions, Failure> {
    admin(actor, "change channel permissions")?;
    if rule.role.is_admin() {
        return Err(invalid("admins and the owner may do everything everywhere; override moderator or member"));
    }
    let target = match scope {
        Scope::Channel(id) => format!("channel {id}"),
        Scope::Category(id) => format!("category {id}"),
    };
    let flags = |flag: Option<bool>| flag.map_or("inherit", |on| if on { "allow" } else { "deny" });
    let details = format!(
        "{}: view {}, send {}, speak {}, manage {}",
        rule.role.as_str(),
        flags(rule.view),
        flags(rule.send),
        flags(rule.speak),
        flags(rule.manage)
    );
    let audit = audit_line(&actor.username, "set_channel_permissions", Some(target), None, Some(details));
    ctx.store.set_permission_override(scope, rule.clone(), audit).await?;
    ctx.sanctions.set_override(scope, rule);
    let (channel_id, category_id) = match scope {
        Scope::Channel(id) => (Some(id), None),
        Scope::Category(id) => (None, Some(id)),
    };
    let event = Event::PermissionsChanged { channel_id, category_id };
    ctx.hub.broadcast(&encode_frame(&ServerFrame::Event { event }));
    ctx.recheck_calls().await?;
    Ok(permissions_of(ctx, scope))
}

/// `kick`: ends every connection of a user (moderators and up, on those below them).
pub async fn kick(ctx: &Shared, actor: &User, username: &str, reason: Option<String>) -> Result<(), Failure> {
    let target = permitted_target(ctx, actor, Action::Kick, username, "kick").await?;
    let reason = clean_reason(reason)?;
    if !ctx.hub.is_online(target.id) {
        return Err(Failure::new(ErrorCode::NotFound, format!("{} is not online", target.username)));
    }
    let audit = audit_line(&actor.username, "kick", Some(target.username.clone()), Some(target.id), reason.clone());
    ctx.store.audit(audit).await?;
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    let message = format!("{} kicked you off the server{why}; you may connect again", actor.username);
    ctx.hub.close_where(|user, _| user.id == target.id, ErrorCode::Kicked, &message);
    tracing::info!(actor = %actor.username, user = %target.username, "kicked");
    Ok(())
}

/// `ban`: bans an account, an address, or both (admins, on those below them); live
/// connections of the account, and those from the address of anyone below the admin, end at once.
pub async fn ban(ctx: &Shared, actor: &User, request: BanSpec) -> Result<BanInfo, Failure> {
    admin(actor, "ban")?;
    let reason = clean_reason(request.reason)?;
    let target = match &request.username {
        Some(username) => Some(permitted_target(ctx, actor, Action::Ban, username, "ban").await?),
        None => None,
    };
    let mut addresses: Vec<IpAddr> = match &request.address {
        Some(text) => vec![text.trim().parse().map_err(|_| invalid(format!("{text:?} is not an IP address")))?],
        None => Vec::new(),
    };
    if request.ban_addresses {
        let user = target.as_ref().ok_or_else(|| invalid("ban_addresses needs a username"))?;
        addresses.extend(ctx.hub.addresses_of(user.id));
    }
    if target.is_none() && addresses.is_empty() {
        return Err(invalid("name a username, an address, or both"));
    }
    let mut keys: Vec<String> = addresses.iter().map(|ip| address_key(*ip)).collect();
    keys.dedup();
    let now = crate::clock::now_ms();
    let expires_at = request.duration_seconds.map(|seconds| now + (seconds.min(366 * 24 * 3600) as i64) * 1000);
    let mut first = None;
    for index in 0..keys.len().max(1) {
        let address = keys.get(index).cloned();
        let user_id = if index == 0 { target.as_ref().map(|user| user.id) } else { None };
        let shown = target.as_ref().map(|user| user.username.clone()).into_iter().chain(address.clone());
        let audit = audit_line(
            &actor.username,
            "ban",
            Some(shown.collect::<Vec<_>>().join(" ")),
            target.as_ref().map(|user| user.id),
            reason.clone(),
        );
        let ban = NewBan {
            user_id,
            address,
            reason: reason.clone(),
            created_by: actor.username.clone(),
            created_at: now,
            expires_at,
        };
        let made = ctx.store.create_ban(ban, audit).await?;
        first.get_or_insert(made);
    }
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    let message = format!("you are banned from this server{why}");
    let target_id = target.as_ref().map(|user| user.id);
    ctx.hub.close_where(
        |user, peer| {
            Some(user.id) == target_id
                || (keys.contains(&address_key(peer)) && user.role.rank() < actor.role.rank() && user.id != actor.id)
        },
        ErrorCode::Banned,
        &message,
    );
    tracing::info!(actor = %actor.username, "ban made");
    first.ok_or_else(|| invalid("nothing to ban"))
}

/// `unban`: lifts a ban (admins).
pub async fn unban(ctx: &Shared, actor: &User, ban_id: i64) -> Result<BanInfo, Failure> {
    admin(actor, "lift bans")?;
    let audit = audit_line(&actor.username, "unban", None, None, None);
    Ok(ctx.store.lift_ban(ban_id, crate::clock::now_ms(), audit).await?)
}

/// `list_bans`: the bans in force (admins).
pub async fn list_bans(ctx: &Shared, actor: &User) -> Result<Vec<BanInfo>, Failure> {
    admin(actor, "list bans")?;
    Ok(ctx.store.active_bans(crate::clock::now_ms()).await?)
}

/// `timeout`: no sending or speaking until the time is up (0 lifts it); the user is told
/// the end time.
pub async fn timeout(
    ctx: &Shared,
    actor: &User,
    username: &str,
    duration_seconds: u64,
    reason: Option<String>,
) -> Result<(), Failure> {
    let target = permitted_target(ctx, actor, Action::Timeout, username, "time out").await?;
    if duration_seconds > MAX_TIMEOUT_SECONDS {
        return Err(invalid(format!("a timeout lasts at most {MAX_TIMEOUT_SECONDS} s (28 days)")));
    }
    let reason = clean_reason(reason)?;
    let action = if duration_seconds == 0 { "lift_timeout" } else { "timeout" };
    let details = reason.clone().map_or(format!("{duration_seconds} s"), |r| format!("{duration_seconds} s: {r}"));
    let audit = audit_line(&actor.username, action, Some(target.username.clone()), Some(target.id), Some(details));
    apply_timeout(ctx, &target, duration_seconds, reason, audit).await
}

async fn apply_timeout(
    ctx: &Shared,
    target: &User,
    duration_seconds: u64,
    reason: Option<String>,
    audit: crate::store::NewAuditEntry,
) -> Result<(), Failure> {
    let now = crate::clock::now_ms();
    let until = now + seconds_to_ms(duration_seconds);
    ctx.store.set_timeout(target.id, until, reason.clone(), audit).await?;
    ctx.sanctions.set_timeout(target.id, until);
    if until > now {
        ctx.set_server_muted(|member| member.user.id == target.id, MuteReason::Timeout, true);
    }
    ctx.end_timeouts(now);
    send_to_user(ctx, target.id, Event::TimedOut { until, reason });
    Ok(())
}

/// `warn`: a note kept in the user's moderation history; they are shown it.
pub async fn warn(ctx: &Shared, actor: &User, username: &str, note: String) -> Result<(), Failure> {
    let target = permitted_target(ctx, actor, Action::Warn, username, "warn").await?;
    let note = clean_reason(Some(note))?.ok_or_else(|| invalid("a warning needs a note"))?;
    let audit = audit_line(&actor.username, "warn", Some(target.username.clone()), Some(target.id), Some(note.clone()));
    ctx.store.audit(audit).await?;
    send_to_user(ctx, target.id, Event::Warned { note });
    Ok(())
}

/// `moderation_history`: what was done to a user, newest first (moderators and up, and a
/// supervised member's guardian).
pub async fn history(ctx: &Shared, actor: &User, username: &str) -> Result<Vec<AuditEntry>, Failure> {
    let target = target(ctx, username).await?;
    let what = "read this user's moderation history";
    if ctx.wards.is_guardian(actor.id, target.id) {
        permit(actor, Action::Guard { guardian: true }, None, what)?;
    } else {
        permit(actor, Action::ReadHistory, Some(target.role), what)?;
    }
    Ok(ctx.store.moderation_history(target.id, HISTORY_ENTRIES).await?)
}

/// `set_slow_mode`: one message per `seconds` per member in a channel (moderators, or whoever
/// may manage the channel).
pub async fn set_slow_mode(
    ctx: &Shared,
    actor: &User,
    channel_id: ChannelId,
    seconds: u32,
) -> Result<Channel, Failure> {
    if seconds > MAX_SLOW_MODE_SECONDS {
        return Err(invalid(format!("slow mode is 0 to {MAX_SLOW_MODE_SECONDS} s")));
    }
    let not_found = || Failure::new(ErrorCode::NotFound, format!("no channel {channel_id}"));
    let channel = ctx.store.channel(channel_id).await?.ok_or_else(not_found)?;
    if !ctx.channel_allows(actor, &channel, Action::View) {
        return Err(not_found());
    }
    if !ctx.channel_allows(actor, &channel, Action::Manage) {
        return Err(Failure::new(ErrorCode::Forbidden, format!("you cannot manage #{}", channel.name)));
    }
    let audit = audit_line(
        &actor.username,
        "set_slow_mode",
        Some(format!("#{}", channel.name)),
        None,
        Some(format!("{seconds} s")),
    );
    let channel = ctx.store.set_slow_mode(channel_id, seconds, audit).await?;
    ctx.publish_to_channel(&channel, Event::SlowMode { channel_id, seconds });
    Ok(channel)
}

/// `audit_log`: a page of the audit log, newest first (admins).
pub async fn audit_log(
    ctx: &Shared,
    actor: &User,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<AuditPage, Failure> {
    admin(actor, "read the audit log")?;
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(invalid(format!("limit is 1 to {MAX_AUDIT_PAGE}")));
    }
    Ok(ctx.store.audit_page(before, limit).await?)
}

/// `add_filter`: a keyword that automatic moderation removes (admins).
pub async fn add_filter(
    ctx: &Shared,
    actor: &User,
    word: String,
    timeout_seconds: Option<u64>,
) -> Result<KeywordFilter, Failure> {
    admin(actor, "manage keyword filters")?;
    let word = word.trim().to_string();
    let len = word.chars().count();
    if len == 0 || len > MAX_FILTER_CHARS || word.chars().any(char::is_control) {
        return Err(invalid(format!("a keyword is 1 to {MAX_FILTER_CHARS} printable characters")));
    }
    if timeout_seconds.is_some_and(|seconds| seconds == 0 || seconds > MAX_TIMEOUT_SECONDS) {
        return Err(invalid(format!("a filter's timeout is 1 to {MAX_TIMEOUT_SECONDS} s")));
    }
    word_pattern(&word).map_err(|_| invalid("this keyword cannot be matched"))?;
    let audit = audit_line(&actor.username, "add_filter", Some(word.clone()), None, None);
    let filter = ctx.store.add_filter(word, timeout_seconds, audit).await?;
    reload_filters(ctx).await?;
    Ok(filter)
}

/// `remove_filter` (admins).
pub async fn remove_filter(ctx: &Shared, actor: &User, filter_id: i64) -> Result<(), Failure> {
    admin(actor, "manage keyword filters")?;
    let audit = audit_line(&actor.username, "remove_filter", None, None, None);
    ctx.store.remove_filter(filter_id, audit).await?;
    reload_filters(ctx).await
}

/// `list_filters` (admins).
pub async fn list_filters(ctx: &Shared, actor: &User) -> Result<Vec<KeywordFilter>, Failure> {
    admin(actor, "list keyword filters")?;
    Ok(ctx.store.keyword_filters().await?)
}

async fn reload_filters(ctx: &Shared) -> Result<(), Failure> {
    ctx.sanctions.set_filters(ctx.store.keyword_filters().await?);
    Ok(())
}

/// Automatic moderation of a message about to be sent: a body that matches a keyword filter
/// is refused (`filtered`, saying which keyword), audit-logged, and its sender optionally
/// timed out. The message text is never logged.
pub async fn screen(ctx: &Shared, sender: &User, body: &str) -> Result<(), Failure> {
    let Some(filter) = ctx.sanctions.matching_filter(body) else {
        return Ok(());
    };
    let details = format!("message matched keyword filter {} ({:?})", filter.id, filter.word);
    let audit = audit_line("server", "filter", Some(sender.username.clone()), Some(sender.id), Some(details.clone()));
    let timed_out = match filter.timeout_seconds.filter(|_| !sender.role.is_admin()) {
        Some(seconds) => {
            apply_timeout(ctx, sender, seconds, Some(details), audit).await?;
            format!("; you are timed out for {seconds} s")
        }
        None => {
            ctx.store.audit(audit).await?;
            String::new()
        }
    };
    Err(Failure::new(
        ErrorCode::Filtered,
        format!(
            "your message was not sent: it contains {:?}, which this server does not allow{timed_out}",
            filter.word
        ),
    ))
}

/// `reset_password`: an admin sets a temporary password; the member must choose a new one at
/// the next login. Their sessions end at once.
pub async fn reset_password(ctx: &Shared, actor: &User, username: &str, temporary: String) -> Result<(), Failure> {
    let target = permitted_target(ctx, actor, Action::ResetPassword, username, "reset the password of").await?;
    check_new_password(&temporary)?;
    let hash = ctx.passwords.hash(temporary).await?;
    let audit = audit_line(&actor.username, "reset_password", Some(target.username.clone()), Some(target.id), None);
    ctx.store.set_temporary_password(target.id, hash, audit).await?;
    ctx.hub.close_where(
        |user, _| user.id == target.id,
        ErrorCode::SessionEnded,
        "signed out: an admin reset your password; log in with the temporary one and choose a new one",
    );
    tracing::info!(actor = %actor.username, user = %target.username, "password reset by an admin");
    Ok(())
}

/// `list_approvals`: registrations waiting (admins).
pub async fn list_approvals(ctx: &Shared, actor: &User) -> Result<Vec<PendingRegistration>, Failure> {
    admin(actor, "list registrations waiting for approval")?;
    Ok(ctx.store.pending_registrations().await?)
}

/// `approve`: lets a waiting registration in; its waiting connections are told to log in.
pub async fn approve(ctx: &Shared, actor: &User, username: &str) -> Result<(), Failure> {
    admin(actor, "approve registrations")?;
    let audit = audit_line(&actor.username, "approve", Some(username.to_string()), None, None);
    ctx.store.decide_registration(username.to_string(), true, audit).await.map_err(no_registration(username))?;
    let event = Event::RegistrationApproved { username: username.to_string() };
    ctx.sanctions.tell_waiting(username, &encode_frame(&ServerFrame::Event { event }));
    Ok(())
}

/// `deny`: discards a waiting registration; its waiting connections are told why.
pub async fn deny(ctx: &Shared, actor: &User, username: &str, reason: Option<String>) -> Result<(), Failure> {
    admin(actor, "deny registrations")?;
    let reason = clean_reason(reason)?;
    let audit = audit_line(&actor.username, "deny", Some(username.to_string()), None, reason.clone());
    ctx.store.decide_registration(username.to_string(), false, audit).await.map_err(no_registration(username))?;
    let event = Event::RegistrationDenied { reason };
    ctx.sanctions.tell_waiting(username, &encode_frame(&ServerFrame::Event { event }));
    Ok(())
}

fn no_registration(username: &str) -> impl FnOnce(crate::store::StoreError) -> Failure + '_ {
    move |err| match err {
        crate::store::StoreError::NotFound => {
            Failure::new(ErrorCode::NotFound, format!("no registration of {username} is waiting"))
        }
        other => other.into(),
    }
}
