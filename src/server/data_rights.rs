//! Data rights (the privacy policy's export and deletion): `export_data` answers everything the
//! server keeps of a member (their profile and every message they wrote, with the files those
//! carry), and `delete_account` deletes an account with its messages, sessions, access tokens,
//! VPN peers, the invites it made and the files it uploaded (removed from `uploads/` unless
//! another file has the same bytes; custom emoji pictures stay, they are the server's). Members may do both for themselves; admins for anyone (an admin
//! cannot delete their own account, so a server always keeps an admin). Other people's
//! messages stay, also in a direct conversation with the deleted member. Both are written to
//! the audit log (who, whose; a deleted account's line keeps its name but no id), and deleting
//! a guardian leaves their supervised members supervised, looked after by admins.

use super::context::{audit_line, may_administer, permit, Action, Conn, Failure, Shared};
use crate::clock::now_ms;
use crate::proto::{ErrorCode, Reply, User};

/// The member a request is about: the caller, or (for an admin) the one named.
async fn subject(ctx: &Shared, caller: &User, username: Option<String>, action: &str) -> Result<User, Failure> {
    let Some(username) = username.filter(|name| !name.eq_ignore_ascii_case(&caller.username)) else {
        return Ok(caller.clone());
    };
    if !may_administer(caller) {
        return Err(Failure::new(ErrorCode::Forbidden, format!("only admins can {action}")));
    }
    let record = ctx.store.user_by_name(username.clone()).await?;
    let member = record
        .map(|record| record.user)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no user {username}")))?;
    permit(caller, Action::Administer, Some(member.role), action)?;
    Ok(member)
}

/// `export_data`.
pub async fn export_data(ctx: &Shared, conn: &Conn, username: Option<String>) -> Result<Reply, Failure> {
    let caller = conn.user(ctx)?;
    let member = subject(ctx, &caller, username, "export other members' data").await?;
    let export = ctx.store.export_user(member.id, now_ms()).await?;
    let audit = audit_line(&caller.username, "export_data", Some(member.username.clone()), Some(member.id), None);
    ctx.store.audit(audit).await?;
    tracing::info!(by = %caller.username, user = %member.username, "data exported");
    Ok(Reply::DataExport(export))
}

/// `delete_account`: the dispatcher then ends the member's calls through their connections,
/// which are closed here.
pub async fn delete_account(ctx: &Shared, conn: &Conn, username: Option<String>) -> Result<Reply, Failure> {
    let caller = conn.user(ctx)?;
    let member = subject(ctx, &caller, username, "delete other members' accounts").await?;
    if member.id == caller.id && caller.role.is_admin() {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            "admins cannot delete their own account; another admin can, or make yourself a member first",
        ));
    }
    // The account's id goes with it: the audit line names the account but links no id.
    let audit = audit_line(&caller.username, "delete_account", Some(member.username.clone()), None, None);
    ctx.uploads.collect(ctx.store.delete_user(member.id, audit)).await?;
    if let Err(err) = ctx.wards.reload(&ctx.store).await {
        tracing::warn!(error = %err, "supervised members could not be reloaded after an account was deleted");
    }
    if let Err(err) = ctx.vpn.sync(&ctx.store).await {
        tracing::warn!(error = %err, "the VPN could not drop the deleted account's peers at once");
    }
    ctx.hub.end_other_sessions(member.id, 0, "this account was deleted");
    tracing::info!(by = %caller.username, user = %member.username, "account deleted");
    Ok(Reply::Ok)
}
