//! Access tokens: admins make, list and revoke them (`create_token`, `list_tokens`,
//! `revoke_token`), and the REST API finds who a token acts as ([`holder`]) and whether it
//! may run an op ([`scope_for`]). A token acts as the admin who made it, with that admin's
//! role as of each request, limited by its scopes; its secret is shown once and only its
//! SHA-256 is stored.

use super::context::{require_admin, token_hash, Conn, Failure, Shared};
use crate::clock::now_ms;
use crate::proto::{CreatedToken, ErrorCode, Reply, Request, Scope, MAX_TOKEN_NAME_CHARS};
use crate::store::{NewToken, TokenHolder};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Longest a token can last: a year.
pub(crate) const MAX_LIFETIME_SECONDS: u64 = 366 * 24 * 3600;
/// What every token's secret starts with, so that it is recognisable in a leaked file.
const SECRET_PREFIX: &str = "itc_";
/// How stale a token's `last_used_at` may get before a request rewrites it.
const LAST_USE_PRECISION_MS: i64 = 60_000;

/// `create_token`.
pub async fn create_token(
    ctx: &Shared,
    conn: &Conn,
    name: String,
    scopes: Vec<Scope>,
    expires_in_seconds: Option<u64>,
) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "create access tokens")?;
    let invalid = |message: String| Failure::new(ErrorCode::InvalidArgument, message);
    let name = name.trim().to_string();
    let len = name.chars().count();
    if len == 0 || len > MAX_TOKEN_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!("a token's name is 1 to {MAX_TOKEN_NAME_CHARS} printable characters")));
    }
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(invalid("a token needs at least one scope: read, send, moderate or admin".into()));
    }
    if expires_in_seconds.is_some_and(|seconds| !(60..=MAX_LIFETIME_SECONDS).contains(&seconds)) {
        return Err(invalid("a token lasts from one minute to a year".into()));
    }
    let now = now_ms();
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<32>()));
    let new = NewToken {
        secret_hash: token_hash(&secret),
        name,
        scopes,
        user_id: admin.id,
        expires_at: expires_in_seconds.map(|seconds| now.saturating_add((seconds as i64).saturating_mul(1000))),
    };
    let token = ctx.store.create_token(new, now).await?;
    tracing::info!(admin = %admin.username, token = token.id, "access token created");
    Ok(Reply::TokenCreated(CreatedToken { token, secret }))
}

/// `list_tokens`.
pub async fn list_tokens(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    require_admin(ctx, conn, "list access tokens")?;
    Ok(Reply::Tokens(ctx.store.list_tokens().await?))
}

/// `revoke_token`.
pub async fn revoke_token(ctx: &Shared, conn: &Conn, token_id: i64) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "revoke access tokens")?;
    let token = ctx.store.revoke_token(token_id).await?;
    tracing::info!(admin = %admin.username, token = token.id, "access token revoked");
    Ok(Reply::Token(token))
}

/// Who the token `secret` acts as; `invalid_credentials` when it is unknown, revoked or
/// expired. Notes the use (to the minute).
pub(crate) async fn holder(ctx: &Shared, secret: &str) -> Result<TokenHolder, Failure> {
    let now = now_ms();
    let holder = ctx.store.token_holder(token_hash(secret), now).await?.ok_or_else(|| {
        Failure::new(ErrorCode::InvalidCredentials, "this access token is unknown, revoked or expired")
    })?;
    if holder.last_used_at.is_none_or(|used| now.saturating_sub(used) >= LAST_USE_PRECISION_MS) {
        ctx.store.touch_token(holder.token_id, now).await?;
    }
    Ok(holder)
}

/// Refuses `request` unless `holder`'s token has the scope it needs.
pub(crate) fn check_scope(holder: &TokenHolder, request: &Request) -> Result<(), Failure> {
    match scope_for(request) {
        Some(scope) if holder.scopes.contains(&scope) => Ok(()),
        Some(scope) => {
            Err(Failure::new(ErrorCode::Forbidden, format!("this access token lacks the {} scope", scope.as_str())))
        }
        None => Err(Failure::new(
            ErrorCode::Forbidden,
            format!("{} cannot be done with an access token", request.op_name()),
        )),
    }
}

/// The scope a token needs for `request`; none for what only a live connection does (logging
/// in, voice, the caller's own VPN key, …).
pub(crate) fn scope_for(request: &Request) -> Option<Scope> {
    use Request::*;
    match request {
        ListChannels
        | ListUsers
        | History { .. }
        | ThreadHistory { .. }
        | Search { .. }
        | ListMentions { .. }
        | FileInfo { .. }
        | DownloadChunk { .. }
        | EmojiList
        | VpnStatus
        | ExportData { .. }
        | Supervision { .. } => Some(Scope::Read),
        SendMessage { .. }
        | EditMessage { .. }
        | DeleteMessage { .. }
        | ReplyThread { .. }
        | AddReaction { .. }
        | RemoveReaction { .. }
        | UploadBegin(_)
        | UploadChunk { .. }
        | UploadOffset { .. }
        | UploadFinish { .. }
        | UploadCancel { .. } => Some(Scope::Send),
        ServerMute { .. }
        | MoveVoice { .. }
        | Kick { .. }
        | Timeout { .. }
        | Warn { .. }
        | ModerationHistory { .. }
        | SetSlowMode { .. } => Some(Scope::Moderate),
        CreateCategory { .. }
        | RenameCategory { .. }
        | DeleteCategory { .. }
        | CreateChannel { .. }
        | RenameChannel { .. }
        | DeleteChannel { .. }
        | SetRole { .. }
        | CreateInvite { .. }
        | ListInvites
        | RevokeInvite { .. }
        | VpnCreatePeer { .. }
        | VpnRevoke { .. }
        | VpnSetLimit { .. }
        | CreateToken { .. }
        | ListTokens
        | RevokeToken { .. }
        | DeleteAccount { .. }
        | ChannelPermissions { .. }
        | SetChannelPermissions { .. }
        | Ban { .. }
        | Unban { .. }
        | ListBans
        | AuditLog { .. }
        | AddFilter { .. }
        | RemoveFilter { .. }
        | ListFilters
        | ResetPassword { .. }
        | ListApprovals
        | Approve { .. }
        | Deny { .. }
        | EmojiAdd { .. }
        | EmojiRename { .. }
        | EmojiRemove { .. }
        | Supervise { .. }
        | Unsupervise { .. }
        | AllowContact { .. }
        | SetQuietHours { .. }
        | ListBackups
        | StartBackup => Some(Scope::Admin),
        Hello { .. }
        | Register { .. }
        | Login { .. }
        | Resume { .. }
        | Logout
        | ChangePassword { .. }
        | Ping
        | SetStatus { .. }
        | MarkRead { .. }
        | OpenDirect { .. }
        | RedeemInvite { .. }
        | JoinVoice { .. }
        | ShareMediaKey { .. }
        | SetVoiceState { .. }
        | StartVideo { .. }
        | StopVideo { .. }
        | WatchVideo { .. }
        | RequestKeyframe { .. }
        | ReportBandwidth { .. }
        | LeaveVoice
        | VpnRegister { .. } => None,
    }
}
