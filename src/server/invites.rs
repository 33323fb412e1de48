//! Invites: the way members join a family server. An admin makes one (single use by default;
//! optionally more uses, an expiry, the admin role, a note), hands over its text or QR code
//! (`ITC-<connection code>.<secret>`), and lists or revokes invites later. Whoever holds one
//! creates an account with it (`redeem_invite`, in [`super::auth`]), even when open
//! registration is off. Only the SHA-256 of a secret is stored; the secret is shown once.
//!
//! [`create`] works on a bare [`Store`], so `itc-server invite` can make one without a running
//! server; the op handlers and [`super::RunningServer`] (for the tray) call the same functions.

use super::context::{audit_line, require_admin, token_hash, Conn, Failure, Shared};
use crate::clock::now_ms;
use crate::code::{CodeError, ConnectionCode, Invite};
use crate::ids::UserId;
use crate::proto::{CreatedInvite, ErrorCode, Reply, Role};
use crate::store::{NewInvite, Store, StoreError};

/// Most accounts one invite can create.
pub(crate) const MAX_USES: u32 = 100;
/// Longest an invite can last: a year.
pub(crate) const MAX_LIFETIME_SECONDS: u64 = 366 * 24 * 3600;
/// Longest note, in characters.
pub(crate) const MAX_NOTE_CHARS: usize = 100;

/// What a new invite allows, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteOptions {
    max_uses: u32,
    expires_in_seconds: Option<u64>,
    role: Role,
    note: Option<String>,
}

impl Default for InviteOptions {
    /// Single use, no expiry, member.
    fn default() -> Self {
        InviteOptions { max_uses: 1, expires_in_seconds: None, role: Role::Member, note: None }
    }
}

/// Why an invite could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connection code could not be made (e.g. the host is too long).
    #[error(transparent)]
    Code(#[from] CodeError),
}

impl From<InviteError> for Failure {
    fn from(err: InviteError) -> Self {
        match err {
            InviteError::Invalid(reason) => Failure::new(ErrorCode::InvalidArgument, reason),
            InviteError::Code(err) => Failure::new(ErrorCode::InvalidArgument, err.to_string()),
            InviteError::Store(err) => err.into(),
        }
    }
}

impl InviteOptions {
    /// Checks the options of `create_invite`; absent ones take their defaults.
    pub fn checked(
        max_uses: Option<u32>,
        expires_in_seconds: Option<u64>,
        role: Option<Role>,
        note: Option<String>,
    ) -> Result<InviteOptions, InviteError> {
        let max_uses = max_uses.unwrap_or(1);
        if role == Some(Role::Owner) {
            return Err(InviteError::Invalid(
                "a server has one owner; invites make admins, moderators or members".into(),
            ));
        }
        if !(1..=MAX_USES).contains(&max_uses) {
            return Err(InviteError::Invalid(format!("an invite is good for 1 to {MAX_USES} accounts")));
        }
        if expires_in_seconds.is_some_and(|seconds| !(60..=MAX_LIFETIME_SECONDS).contains(&seconds)) {
            return Err(InviteError::Invalid("an invite lasts from one minute to a year".into()));
        }
        let note = note.map(|note| note.trim().to_string()).filter(|note| !note.is_empty());
        if note.as_ref().is_some_and(|note| note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control))
        {
            return Err(InviteError::Invalid(format!("a note is at most {MAX_NOTE_CHARS} printable characters")));
        }
        Ok(InviteOptions { max_uses, expires_in_seconds, role: role.unwrap_or(Role::Member), note })
    }
}

/// Makes an invite in `store` for the server at `code`, on behalf of the admin `created_by`.
pub async fn create(
    store: &Store,
    created_by: Option<UserId>,
    options: InviteOptions,
    code: ConnectionCode,
) -> Result<CreatedInvite, InviteError> {
    let secret = Invite::new_secret();
    let text = Invite { code, secret: secret.clone() }.encode()?;
    let now = now_ms();
    let expires_at =
        options.expires_in_seconds.map(|seconds| now.saturating_add((seconds as i64).saturating_mul(1000)));
    let new = NewInvite {
        secret_hash: token_hash(&secret),
        role: options.role,
        max_uses: options.max_uses,
        expires_at,
        note: options.note,
        created_by,
    };
    let invite = store.create_invite(new, now).await?;
    tracing::info!(invite = invite.id, role = invite.role.as_str(), max_uses = invite.max_uses, "invite created");
    Ok(CreatedInvite { invite, secret, text })
}

/// `create_invite`.
pub async fn create_invite(
    ctx: &Shared,
    conn: &Conn,
    options: Result<InviteOptions, InviteError>,
    host: Option<String>,
) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "create invites")?;
    let code = match host.map(|host| host.trim().to_string()) {
        Some(host) if host.is_empty() || host.contains(char::is_whitespace) => {
            return Err(Failure::new(ErrorCode::InvalidArgument, "the host is a name or an IP address"))
        }
        Some(host) => ctx.connection_code(&host),
        None => ctx.public_code(),
    };
    let created = create(&ctx.store, Some(admin.id), options?, code).await?;
    let target = format!("invite {}", created.invite.id);
    let details = format!("{} uses, role {}", created.invite.max_uses, created.invite.role.as_str());
    ctx.store.audit(audit_line(&admin.username, "create_invite", Some(target), None, Some(details))).await?;
    Ok(Reply::InviteCreated(created))
}

/// `list_invites`.
pub async fn list_invites(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    require_admin(ctx, conn, "list invites")?;
    Ok(Reply::Invites(ctx.store.list_invites(now_ms()).await?))
}

/// `revoke_invite`.
pub async fn revoke_invite(ctx: &Shared, conn: &Conn, invite_id: i64) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "revoke invites")?;
    let invite = ctx.store.revoke_invite(invite_id, now_ms()).await?;
    let target = Some(format!("invite {}", invite.id));
    ctx.store.audit(audit_line(&admin.username, "revoke_invite", target, None, None)).await?;
    tracing::info!(invite = invite.id, "invite revoked");
    Ok(Reply::Invite(invite))
}
