//! VPN requests on the control channel: status, registering a device's own WireGuard key
//! (any member), and for admins making peers for the official apps, revoking and capping.
//! The VPN itself is [`crate::vpn::Vpn`]; this only checks who may ask and maps errors.

use super::context::{audit_line, may_administer, require_admin, Conn, Failure, Shared};
use crate::proto::{ErrorCode, Reply};
use crate::vpn::access::AccessError;

impl From<AccessError> for Failure {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::Store(crate::store::StoreError::NotFound) => {
                Failure::new(ErrorCode::NotFound, "no such VPN peer")
            }
            AccessError::Store(err @ crate::store::StoreError::VpnAddressesUsedUp) => {
                Failure::new(ErrorCode::LimitReached, err.to_string())
            }
            AccessError::Store(err @ crate::store::StoreError::VpnKeyTaken) => {
                Failure::new(ErrorCode::InvalidArgument, err.to_string())
            }
            AccessError::Store(err) => err.into(),
            other => Failure::new(ErrorCode::InvalidArgument, other.to_string()),
        }
    }
}

/// `vpn_status`: admins see every peer, members their own.
pub async fn status(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let owner = (!may_administer(&user)).then_some(user.id);
    Ok(Reply::VpnStatus(ctx.vpn.status(&ctx.store, owner).await?))
}

/// `vpn_register`: the caller's device key.
pub async fn register(ctx: &Shared, conn: &Conn, name: String, public_key: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let access = ctx.vpn.register(&ctx.store, user.id, &name, &public_key, ctx.media_port).await?;
    tracing::info!(user = %user.username, device = %access.peer.name, address = %access.peer.address, "VPN key registered");
    Ok(Reply::VpnAccess(access))
}

/// `vpn_create_peer`: a key pair and config for a member's app.
pub(crate) async fn create_peer(
    ctx: &Shared,
    conn: &Conn,
    username: String,
    name: String,
    host: Option<String>,
) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "make VPN configs")?;
    let created = create_peer_for(ctx, &username, &name, host.as_deref()).await?;
    let target = format!("{} {}", created.peer.username, created.peer.name);
    ctx.store.audit(audit_line(&admin.username, "vpn_create_peer", Some(target), None, None)).await?;
    Ok(Reply::VpnPeerCreated(created))
}

/// Makes a peer for `username`'s app with Endpoint = `host` (default: the public code's host)
/// and the media port.
pub(crate) async fn create_peer_for(
    ctx: &Shared,
    username: &str,
    name: &str,
    host: Option<&str>,
) -> Result<crate::proto::VpnCreatedPeer, Failure> {
    let user = ctx
        .store
        .user_by_name(username.to_string())
        .await?
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no user {username}")))?;
    let host = host.map_or_else(|| ctx.public_code().host, str::to_string);
    let endpoint = crate::vpn::access::endpoint(&host, ctx.media_port);
    let created = ctx.vpn.create_peer(&ctx.store, user.user.id, name, endpoint).await?;
    tracing::info!(user = %username, device = %created.peer.name, "VPN config made for an app");
    Ok(created)
}

/// `vpn_revoke`: admins any peer, members their own.
pub async fn revoke(ctx: &Shared, conn: &Conn, peer_id: i64) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let owner = (!may_administer(&user)).then_some(user.id);
    let peer = ctx.vpn.revoke(&ctx.store, peer_id, owner).await?;
    tracing::info!(by = %user.username, peer = peer.id, "VPN peer revoked");
    if owner.is_none() {
        let target = format!("{} {}", peer.username, peer.name);
        ctx.store.audit(audit_line(&user.username, "vpn_revoke", Some(target), None, None)).await?;
    }
    Ok(Reply::VpnPeer(peer))
}

/// `vpn_set_limit`.
pub(crate) async fn set_limit(
    ctx: &Shared,
    conn: &Conn,
    peer_id: Option<i64>,
    kbps: Option<u32>,
) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "set VPN bandwidth limits")?;
    let limited = ctx.vpn.set_limit(&ctx.store, peer_id, kbps).await?;
    let target = peer_id.map_or("every peer".to_string(), |id| format!("peer {id}"));
    let cap = kbps.map_or("default".to_string(), |kbps| format!("{kbps} kbit/s"));
    ctx.store.audit(audit_line(&admin.username, "vpn_set_limit", Some(target), None, Some(cap))).await?;
    match limited {
        Some(peer) => Ok(Reply::VpnPeer(peer)),
        None => Ok(Reply::Ok),
    }
}
