//! Supervised members (the privacy policy's "children, by design"): an admin marks a member
//! supervised and names their guardian (an admin, or a member the admin trusts); the guardian
//! or an admin allows the direct-message contacts and sets quiet hours; the member, their
//! guardian and admins read the supervision. The rules themselves are in the one permission
//! function (`decide`: `Supervise`, `Guard`, `Direct`, `SendInQuietHours`); the checks of each
//! message are where messages are checked (`may_send`, `open_direct`), on the in-memory
//! [`Wards`](super::context::Wards).
//!
//! Every change is written with its audit line in one transaction, then mirrored in memory,
//! and the member and their guardian are told (`supervision_changed`, `supervision_ended`).

use super::context::{audit_line, describe_supervision, permit, Action, Conn, Failure, Shared};
use crate::ids::UserId;
use crate::proto::{encode_frame, ErrorCode, Event, QuietHours, Reply, Role, ServerFrame, SupervisionInfo, User};
use crate::store::SupervisionRecord;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidArgument, message)
}

/// The account `username`, or `not_found`.
async fn account(ctx: &Shared, username: &str) -> Result<User, Failure> {
    match ctx.store.user_by_name(username.to_string()).await? {
        Some(record) if !record.pending => Ok(record.user),
        _ => Err(Failure::new(ErrorCode::NotFound, format!("there is no user {username}"))),
    }
}

/// The supervised member `username`, once `actor` may look after them (their guardian or an
/// admin); `not_found` if they are not supervised.
async fn supervised_member(ctx: &Shared, actor: &User, username: &str, what: &str) -> Result<User, Failure> {
    let ward = account(ctx, username).await?;
    permit(actor, Action::Guard { guardian: ctx.wards.is_guardian(actor.id, ward.id) }, None, what)?;
    if ctx.wards.of(ward.id).is_none() {
        return Err(Failure::new(ErrorCode::NotFound, format!("{} is not supervised", ward.username)));
    }
    Ok(ward)
}

/// Mirrors a stored record and tells the member and their guardian; answers what they see.
fn changed(ctx: &Shared, record: SupervisionRecord, former_guardian: Option<UserId>) -> SupervisionInfo {
    let info = describe_supervision(&record, crate::clock::now_ms());
    let mut told = vec![record.user_id];
    told.extend(record.guardian.as_ref().map(|(id, _)| *id));
    told.extend(former_guardian);
    ctx.wards.put(record.user_id, Some(record));
    let frame = encode_frame(&ServerFrame::Event { event: Event::SupervisionChanged(info.clone()) });
    ctx.hub.send_to_users(&told, &frame);
    info
}

/// `supervise`: an admin marks a member supervised by `guardian` (or moves their supervision).
pub async fn supervise(ctx: &Shared, conn: &Conn, username: String, guardian: String) -> Result<Reply, Failure> {
    let actor = conn.user(ctx)?;
    let ward = account(ctx, &username).await?;
    permit(&actor, Action::Supervise, Some(ward.role), "supervise members")?;
    if ward.role != Role::Member {
        return Err(invalid(format!("only members are supervised; {} is a {}", ward.username, ward.role.as_str())));
    }
    let guardian = account(ctx, &guardian).await?;
    if guardian.id == ward.id {
        return Err(invalid("a member cannot be their own guardian"));
    }
    if ctx.wards.of(guardian.id).is_some() {
        return Err(invalid(format!("{} is supervised and cannot be a guardian", guardian.username)));
    }
    let former = ctx.wards.of(ward.id).and_then(|record| record.guardian).map(|(id, _)| id);
    let audit = audit_line(
        &actor.username,
        "supervise",
        Some(ward.username.clone()),
        Some(ward.id),
        Some(format!("guardian {}", guardian.username)),
    );
    let record = ctx.store.supervise(ward.id, guardian.id, crate::clock::now_ms(), audit).await?;
    tracing::info!(actor = %actor.username, user = %ward.username, "supervision set");
    Ok(Reply::Supervision(changed(ctx, record, former.filter(|id| *id != guardian.id))))
}

/// `unsupervise`: the guardian or an admin ends a member's supervision.
pub async fn unsupervise(ctx: &Shared, conn: &Conn, username: String) -> Result<Reply, Failure> {
    let actor = conn.user(ctx)?;
    let ward = supervised_member(ctx, &actor, &username, "end this member's supervision").await?;
    let guardian = ctx.wards.of(ward.id).and_then(|record| record.guardian).map(|(id, _)| id);
    let audit = audit_line(&actor.username, "unsupervise", Some(ward.username.clone()), Some(ward.id), None);
    ctx.store.unsupervise(ward.id, audit).await?;
    ctx.wards.put(ward.id, None);
    let event = Event::SupervisionEnded { username: ward.username.clone() };
    let told: Vec<UserId> = std::iter::once(ward.id).chain(guardian).collect();
    ctx.hub.send_to_users(&told, &encode_frame(&ServerFrame::Event { event }));
    tracing::info!(actor = %actor.username, user = %ward.username, "supervision ended");
    Ok(Reply::Ok)
}

/// `allow_contact`: the guardian or an admin allows (or stops allowing) a contact.
pub async fn allow_contact(
    ctx: &Shared,
    conn: &Conn,
    username: String,
    contact: String,
    allowed: bool,
) -> Result<Reply, Failure> {
    let actor = conn.user(ctx)?;
    let ward = supervised_member(ctx, &actor, &username, "change this member's contacts").await?;
    let contact = account(ctx, &contact).await?;
    if contact.id == ward.id {
        return Err(invalid("a member is not their own contact"));
    }
    let action = if allowed { "allow_contact" } else { "disallow_contact" };
    let audit = audit_line(
        &actor.username,
        action,
        Some(ward.username.clone()),
        Some(ward.id),
        Some(format!("contact {}", contact.username)),
    );
    let record = ctx.store.set_contact(ward.id, contact.id, allowed, audit).await?;
    Ok(Reply::Supervision(changed(ctx, record, None)))
}

/// `set_quiet_hours`: the guardian or an admin sets (or, with neither minute, clears) quiet
/// hours.
pub async fn set_quiet_hours(
    ctx: &Shared,
    conn: &Conn,
    username: String,
    start_minute: Option<u16>,
    end_minute: Option<u16>,
) -> Result<Reply, Failure> {
    let actor = conn.user(ctx)?;
    let ward = supervised_member(ctx, &actor, &username, "change this member's quiet hours").await?;
    let hours = match (start_minute, end_minute) {
        (None, None) => None,
        (Some(start), Some(end)) => Some(QuietHours::new(start, end).ok_or_else(|| {
            invalid("quiet hours are two different minutes of the day, 0 to 1439 (UTC): start_minute and end_minute")
        })?),
        _ => return Err(invalid("give both start_minute and end_minute, or neither to clear quiet hours")),
    };
    let details =
        hours.map_or("cleared".to_string(), |h| format!("{} to {} (UTC)", clock(h.start_minute), clock(h.end_minute)));
    let audit =
        audit_line(&actor.username, "set_quiet_hours", Some(ward.username.clone()), Some(ward.id), Some(details));
    let record = ctx.store.set_quiet_hours(ward.id, hours, audit).await?;
    Ok(Reply::Supervision(changed(ctx, record, None)))
}

/// A minute of the day as `HH:MM`.
fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// `supervision`: one's own (no `username`), or a supervised member's for their guardian or an
/// admin; `not_found` when that member is not supervised.
pub async fn supervision(ctx: &Shared, conn: &Conn, username: Option<String>) -> Result<Reply, Failure> {
    let actor = conn.user(ctx)?;
    let ward = match username {
        Some(username) if !username.eq_ignore_ascii_case(&actor.username) => {
            supervised_member(ctx, &actor, &username, "read this member's supervision").await?
        }
        _ => actor,
    };
    let record = ctx
        .wards
        .of(ward.id)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("{} is not supervised", ward.username)))?;
    Ok(Reply::Supervision(describe_supervision(&record, crate::clock::now_ms())))
}
