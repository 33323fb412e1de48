//! Accounts and sessions: register, login, resume, logout, change password (hashing is in
//! [`super::passwords`]); random session tokens stored only as SHA-256 hashes; device cookies
//! ([`super::devices`]) handed out with every session; the login and registration limits
//! ([`super::throttle`]) applied.
//!
//! A login attempt takes its tokens from the limits before the (slow) password check and gets
//! them back only if it succeeds, so parallel guesses cannot slip past a limit; a refused
//! attempt is answered `rate_limited` before the password is even looked at. `resume` is never
//! held back: a session token is 32 random bytes that nobody can guess.

use super::context::{
    address_key, check_new_password, describe_supervision, token_hash, Attempt, Conn, Failure, LoginLimits,
    LoginRefusal, Member, PressureKind as Kind, RegistrationRefusal, ServerFull, Shared, MAX_PASSWORD_CHARS,
};
use crate::proto::{ErrorCode, Reply, Role, SessionInfo, User, UserPresence};
use crate::store::UserRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::time::{Duration, Instant};

/// A new random session token (32 bytes, base64url) and the hash that is stored.
fn new_token() -> (String, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<32>());
    let hash = token_hash(&token);
    (token, hash)
}

fn seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

fn login_refused(ctx: &Shared, refusal: LoginRefusal) -> Failure {
    ctx.note_pressure(Kind::PasswordGuessing);
    let wait = seconds(refusal.wait());
    let message = match refusal {
        LoginRefusal::Address(_) => format!("too many failed logins from your address; try again in {wait} s"),
        LoginRefusal::Account(_) => format!(
            "too many failed logins for this account; try again in {wait} s, or log in from a device that has \
             logged in before"
        ),
        LoginRefusal::Device(_) => format!("too many failed logins from this device; try again in {wait} s"),
    };
    Failure::new(ErrorCode::RateLimited, message)
}

fn registration_refused(ctx: &Shared, refusal: RegistrationRefusal) -> Failure {
    ctx.note_pressure(Kind::RegistrationFlood);
    let message = match refusal {
        RegistrationRefusal::Address(wait) => format!(
            "too many accounts were registered from your address just now; try again in {} s, or ask an admin for \
             an invite",
            seconds(wait)
        ),
        RegistrationRefusal::Server(wait) => format!(
            "too many accounts were registered on this server just now; try again in {} s, or ask an admin for an \
             invite",
            seconds(wait)
        ),
    };
    Failure::new(ErrorCode::RateLimited, message)
}

fn login_limits(ctx: &Shared) -> std::sync::MutexGuard<'_, LoginLimits> {
    ctx.login_limits.lock().unwrap_or_else(|p| p.into_inner())
}

/// `register`: creates a member account and logs it in; with `[auth] require_approval`, the
/// account waits for an admin instead (`awaiting_approval`), and this connection hears the answer.
pub async fn register(ctx: &Shared, conn: &mut Conn, username: String, password: String) -> Result<Reply, Failure> {
    if !ctx.config.auth.allow_registration {
        return Err(Failure::new(
            ErrorCode::RegistrationClosed,
            "registration is closed on this server; ask an admin for an invite",
        ));
    }
    ctx.refuse_banned(None, conn.peer).await?;
    let address = address_key(conn.peer);
    let limits = || ctx.registration_limits.lock().unwrap_or_else(|p| p.into_inner());
    let ticket = limits().begin(&address, Instant::now()).map_err(|refusal| registration_refused(ctx, refusal))?;
    let now = crate::clock::now_ms();
    let created = match new_account_hash(ctx, &username, password).await {
        Ok(hash) if ctx.config.auth.require_approval => {
            ctx.store.create_pending_user(username.clone(), hash, now).await.map(|_| None).map_err(Failure::from)
        }
        Ok(hash) => {
            ctx.store.create_user(username.clone(), hash, Role::Member, now).await.map(Some).map_err(Failure::from)
        }
        Err(failure) => Err(failure),
    };
    let user = match created {
        Ok(user) => user,
        Err(failure) => {
            limits().refund(ticket, Instant::now());
            return Err(failure);
        }
    };
    drop(ticket);
    let Some(user) = user else {
        tracing::info!("account registered; it waits for approval");
        return Err(awaiting_approval(ctx, conn, &username));
    };
    tracing::info!("account registered");
    start_new_session(ctx, conn, user).await
}

/// Keeps the connection to be told when an admin decides on `username`'s registration, and
/// the failure that says so.
fn awaiting_approval(ctx: &Shared, conn: &Conn, username: &str) -> Failure {
    ctx.sanctions.wait_for_approval(username, conn.outbox.clone());
    Failure::new(
        ErrorCode::AwaitingApproval,
        "your account waits for an admin's approval; stay connected to hear the answer, then log in",
    )
}

/// `redeem_invite`: creates an account with an invite (open registration or not) and logs it in.
pub async fn redeem_invite(
    ctx: &Shared,
    conn: &mut Conn,
    secret: String,
    username: String,
    password: String,
) -> Result<Reply, Failure> {
    ctx.refuse_banned(None, conn.peer).await?;
    let hash = new_account_hash(ctx, &username, password).await?;
    let user = ctx.store.redeem_invite(token_hash(&secret), username, hash, crate::clock::now_ms()).await?;
    tracing::info!(role = user.role.as_str(), "account created with an invite");
    start_new_session(ctx, conn, user).await
}

/// Checks a new account's name, password and the room on the server; hashes the password.
async fn new_account_hash(ctx: &Shared, username: &str, password: String) -> Result<String, Failure> {
    crate::config::check_username(username).map_err(|reason| Failure::new(ErrorCode::InvalidArgument, reason))?;
    check_new_password(&password)?;
    if ctx.hub.is_full(ctx.config.server.max_users) {
        let full = ServerFull(ctx.config.server.max_users);
        return Err(Failure::new(ErrorCode::ServerFull, full.to_string()));
    }
    Ok(ctx.passwords.hash(password).await?)
}

async fn start_new_session(ctx: &Shared, conn: &mut Conn, user: crate::proto::User) -> Result<Reply, Failure> {
    let record =
        UserRecord { user, password_hash: String::new(), must_change_password: false, status: None, pending: false };
    let device_cookie = ctx.device_cookies.issue(&record.user.username);
    start_session(ctx, conn, record, device_cookie).await
}

/// `login`: checks the password (throttled) and starts a session. `device` is the device
/// cookie this client was given before, if any: valid for this account, only its own
/// failures count against it.
pub async fn login(
    ctx: &Shared,
    conn: &mut Conn,
    username: String,
    password: String,
    device: Option<String>,
) -> Result<Reply, Failure> {
    let address = address_key(conn.peer);
    let device_id =
        device.as_deref().and_then(|cookie| ctx.device_cookies.verify(&username, cookie)).map(str::to_string);
    let attempt = Attempt { address: &address, account: &username, device: device_id.as_deref() };
    let ticket = login_limits(ctx).begin(attempt, Instant::now()).map_err(|refusal| login_refused(ctx, refusal))?;
    let record = match ctx.store.user_by_name(username.clone()).await {
        Ok(record) => record,
        Err(err) => {
            login_limits(ctx).succeeded(ticket, Instant::now());
            return Err(err.into());
        }
    };
    let valid = password.chars().count() <= MAX_PASSWORD_CHARS && {
        let hash = record.as_ref().map_or_else(|| ctx.dummy_hash.clone(), |r| r.password_hash.clone());
        ctx.passwords.verify(password, hash).await
    };
    match record {
        Some(record) if valid => {
            login_limits(ctx).succeeded(ticket, Instant::now());
            ctx.refuse_banned(Some(&record.user), conn.peer).await?;
            if record.pending {
                return Err(awaiting_approval(ctx, conn, &record.user.username));
            }
            let device_cookie = match (device, device_id) {
                (Some(cookie), Some(_)) => cookie,
                _ => ctx.device_cookies.issue(&username),
            };
            start_session(ctx, conn, record, device_cookie).await
        }
        _ => {
            login_limits(ctx).failed(ticket, record.as_ref().map(|r| r.user.username.as_str()), Instant::now());
            tracing::info!("failed login");
            tracing::debug!(peer = %conn.peer, "failed login from");
            Err(Failure::new(ErrorCode::InvalidCredentials, "wrong user name or password"))
        }
    }
}

/// `resume`: starts a session from an unexpired token.
pub async fn resume(ctx: &Shared, conn: &mut Conn, token: String) -> Result<Reply, Failure> {
    let hash = token_hash(&token);
    let Some((record, expires_at)) = ctx.store.session_user(hash.clone(), crate::clock::now_ms()).await? else {
        return Err(Failure::new(ErrorCode::InvalidCredentials, "the session has expired or was ended; log in again"));
    };
    ctx.refuse_banned(Some(&record.user), conn.peer).await?;
    join_hub(ctx, conn, &record)?;
    conn.token_hash = Some(hash);
    conn.session.logged_in(record.must_change_password);
    Ok(Reply::Session(SessionInfo {
        token,
        expires_at,
        device_cookie: Some(ctx.device_cookies.issue(&record.user.username)),
        supervision: supervision_of(ctx, &record.user),
        timed_out_until: ctx.sanctions.timed_out_until(record.user.id, crate::clock::now_ms()),
        user: record.user,
        must_change_password: record.must_change_password,
    }))
}

async fn start_session(
    ctx: &Shared,
    conn: &mut Conn,
    record: UserRecord,
    device_cookie: String,
) -> Result<Reply, Failure> {
    join_hub(ctx, conn, &record)?;
    let (token, hash) = new_token();
    let now = crate::clock::now_ms();
    let expires_at = now + (ctx.config.auth.session_ttl_seconds as i64) * 1000;
    if let Err(err) = ctx.store.create_session(hash.clone(), record.user.id, expires_at, now).await {
        leave_hub(ctx, conn).await;
        return Err(err.into());
    }
    conn.token_hash = Some(hash);
    conn.session.logged_in(record.must_change_password);
    tracing::debug!(user = %record.user.username, "logged in");
    Ok(Reply::Session(SessionInfo {
        token,
        expires_at,
        device_cookie: Some(device_cookie),
        supervision: supervision_of(ctx, &record.user),
        timed_out_until: ctx.sanctions.timed_out_until(record.user.id, crate::clock::now_ms()),
        user: record.user,
        must_change_password: record.must_change_password,
    }))
}

/// A supervised member's supervision, for their `session` reply.
fn supervision_of(ctx: &Shared, user: &User) -> Option<crate::proto::SupervisionInfo> {
    ctx.wards.of(user.id).map(|record| describe_supervision(&record, crate::clock::now_ms()))
}

fn join_hub(ctx: &Shared, conn: &Conn, record: &UserRecord) -> Result<(), Failure> {
    let member = Member {
        user: record.user.clone(),
        outbox: conn.outbox.clone(),
        eviction: conn.eviction.clone(),
        peer: conn.peer,
    };
    let came_online =
        ctx.hub.join(conn.id, member, ctx.config.server.max_users).map_err(|refused| ctx.join_refused(refused))?;
    if came_online {
        ctx.announce_presence(UserPresence { user: record.user.clone(), online: true, status: record.status.clone() });
    }
    Ok(())
}

/// Takes the connection out of the hub, announcing the user offline if it was their last.
pub(crate) async fn leave_hub(ctx: &Shared, conn: &Conn) {
    if let Some(user) = ctx.hub.leave(conn.id) {
        let online = ctx.hub.is_online(user.id);
        let status = ctx.stored_status(&user.username).await;
        ctx.announce_presence(UserPresence { user, online, status });
    }
}

/// `logout`: ends the session and its token.
pub async fn logout(ctx: &Shared, conn: &mut Conn) -> Result<Reply, Failure> {
    if let Some(hash) = conn.token_hash.take() {
        ctx.store.delete_session(hash).await?;
    }
    leave_hub(ctx, conn).await;
    conn.session.logged_out();
    Ok(Reply::Ok)
}

/// `change_password`: checks the old password, stores the new one, ends other sessions.
pub async fn change_password(ctx: &Shared, conn: &mut Conn, old: String, new: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    check_new_password(&new)?;
    if old == new {
        return Err(Failure::new(ErrorCode::InvalidArgument, "the new password must differ from the old one"));
    }
    let record = ctx
        .store
        .user_by_name(user.username.clone())
        .await?
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, "the account no longer exists"))?;
    let address = address_key(conn.peer);
    let attempt = Attempt { address: &address, account: &user.username, device: None };
    let ticket = login_limits(ctx).begin(attempt, Instant::now()).map_err(|refusal| login_refused(ctx, refusal))?;
    if old.chars().count() > MAX_PASSWORD_CHARS || !ctx.passwords.verify(old, record.password_hash).await {
        login_limits(ctx).failed(ticket, Some(&user.username), Instant::now());
        return Err(Failure::new(ErrorCode::InvalidCredentials, "the current password is wrong"));
    }
    login_limits(ctx).succeeded(ticket, Instant::now());
    let hash = ctx.passwords.hash(new).await?;
    let keep = conn.token_hash.clone().unwrap_or_default();
    ctx.store.set_password(user.id, hash, keep).await?;
    ctx.hub.end_other_sessions(user.id, conn.id, "signed out: the password was changed on another device");
    conn.session.password_changed();
    tracing::info!(user = %user.username, "password changed");
    Ok(Reply::Ok)
}

/// Sets `username`'s password without the old one, clears "must change password", and ends
/// every session of theirs.
pub(crate) async fn reset_password(ctx: &Shared, username: &str, password: String) -> Result<(), Failure> {
    check_new_password(&password)?;
    let record = ctx
        .store
        .user_by_name(username.to_string())
        .await?
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("there is no user {username}")))?;
    let hash = ctx.passwords.hash(password).await?;
    ctx.store.set_password(record.user.id, hash, Vec::new()).await?;
    ctx.hub.end_other_sessions(record.user.id, 0, "signed out: the password was reset");
    tracing::info!(user = %record.user.username, "password reset");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_a, token_hash(&a));
        assert_ne!(hash_a, a.as_bytes());
    }
}
