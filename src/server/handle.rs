//! A running server as its owners see it: [`RunningServer`] (its addresses and its lifecycle:
//! cancel, shutdown) and [`ServerHandle`], the cheap clone through which the tray, `itc-server`
//! and the tests ask it things (counters, connection codes, invites, the VPN). Each question is
//! answered in one place; `RunningServer` derefs to its handle.

use super::context::{Failure, Shared};
use super::{auth, connection_code, invites, vpn};
use crate::code::ConnectionCode;
use crate::net::PortMappingState;
use crate::store::StoreError;
use crate::tls::Fingerprint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A server that is running; drop it or call [`RunningServer::shutdown`] to stop. Everything
/// one can ask of it (invites, the VPN, counters) is on [`ServerHandle`], which it derefs to.
#[derive(Debug)]
pub struct RunningServer {
    pub(super) handle: ServerHandle,
    pub(super) control_addr: SocketAddr,
    pub(super) media_addr: SocketAddr,
    pub(super) rest_addr: SocketAddr,
    pub(super) cancel: CancellationToken,
    pub(super) tasks: TaskTracker,
    pub(super) _lock: crate::lock::DataDirLock,
}

impl RunningServer {
    /// Where the control listener is bound.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Where the UDP media socket is bound.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// Where the REST listener is bound.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// A token that stops the server when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Tells every client, stops every task (port mapping removes its mappings from the
    /// router), and waits at most `shutdown_grace_seconds`. Returns whether everything stopped
    /// in time.
    pub async fn shutdown(self) -> bool {
        self.cancel.cancel();
        self.tasks.close();
        let grace = Duration::from_secs(self.handle.shared.config.server.shutdown_grace_seconds);
        let finished = tokio::time::timeout(grace, self.tasks.wait()).await.is_ok();
        if !finished {
            tracing::warn!("some connections did not close within shutdown_grace_seconds");
        }
        finished
    }

    /// A cheap, cloneable handle to this server, for callers that must not keep it running.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }
}

impl std::ops::Deref for RunningServer {
    type Target = ServerHandle;

    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

/// Dropping stops the server without waiting; port mapping still removes its mappings if the
/// runtime keeps running.
impl Drop for RunningServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Asks a running server things; it keeps no server running (the tray's status, the
/// dashboard's actions, `itc-server`'s code and invites).
#[derive(Debug, Clone)]
pub struct ServerHandle {
    pub(super) shared: Arc<Shared>,
}

impl ServerHandle {
    /// The certificate fingerprint, when TLS is on.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.shared.fingerprint
    }

    /// Users online now.
    pub fn users_online(&self) -> usize {
        self.shared.hub.users_online()
    }

    /// How long the server has been running.
    pub(crate) fn uptime(&self) -> Duration {
        self.shared.started_at.elapsed()
    }

    /// The code to give out now: see [`Shared::public_code`].
    pub fn public_code(&self) -> ConnectionCode {
        self.shared.public_code()
    }

    /// What the VPN is doing now, in one plain line.
    pub(crate) fn vpn_state(&self) -> crate::vpn::VpnState {
        self.shared.vpn.state().clone()
    }

    /// What router port mapping is doing now.
    pub fn port_mapping(&self) -> PortMappingState {
        self.shared.port_mapping.borrow().clone()
    }

    /// Media datagrams dropped so far, per reason.
    pub fn media_drops(&self) -> crate::media::packet::DropCounts {
        self.shared.voice.drops()
    }

    /// Media packets forwarded so far (one per recipient).
    pub fn media_forwarded(&self) -> u64 {
        self.shared.voice.forwarded()
    }

    /// Sets a user's password without the old one (the tray's first-run setup); ends their
    /// sessions.
    pub(crate) async fn reset_password(&self, username: &str, password: String) -> Result<(), Failure> {
        auth::reset_password(&self.shared, username, password).await
    }

    /// Lets the server reach the backup service its program runs beside it, for the
    /// `list_backups` and `start_backup` ops (and so `/api/backups`); without one they answer
    /// `not_allowed_now`. The first one attached stays.
    pub fn attach_backups(&self, backups: Arc<crate::backup::schedule::Backups>) {
        let _ = self.shared.backups.set(backups);
    }

    /// The connection code for reaching this server at `host`.
    pub fn connection_code(&self, host: &str) -> ConnectionCode {
        self.shared.connection_code(host)
    }

    /// Makes an invite (for the tray's "Invite someone…"), with a connection code for `host`
    /// (default: [`Shared::public_code`]).
    pub async fn create_invite(
        &self,
        options: invites::InviteOptions,
        host: Option<&str>,
    ) -> Result<crate::proto::CreatedInvite, invites::InviteError> {
        let code = host.map_or_else(|| self.shared.public_code(), |host| self.shared.connection_code(host));
        invites::create(&self.shared.store, None, options, code).await
    }

    /// Every invite, newest first.
    pub async fn list_invites(&self) -> Result<Vec<crate::proto::InviteInfo>, StoreError> {
        self.shared.store.list_invites(crate::clock::now_ms()).await
    }

    /// Makes an invite unusable.
    pub async fn revoke_invite(&self, invite_id: i64) -> Result<crate::proto::InviteInfo, StoreError> {
        self.shared.store.revoke_invite(invite_id, crate::clock::now_ms()).await
    }

    /// Every account, by name (e.g. whom the dashboard can make a VPN config for).
    pub async fn list_users(&self) -> Result<Vec<crate::proto::User>, StoreError> {
        let users = self.shared.store.list_users().await?;
        Ok(users.into_iter().map(|presence| presence.user).collect())
    }

    /// The VPN's state and every peer with its traffic (the dashboard's VPN view).
    pub async fn vpn_status(&self) -> Result<crate::proto::VpnStatus, Failure> {
        Ok(self.shared.vpn.status(&self.shared.store, None).await?)
    }

    /// Makes a key pair and WireGuard app config for `username`'s device `name`, with the
    /// Endpoint at `host` (default: the public connection code's host).
    pub async fn vpn_create_peer(
        &self,
        username: &str,
        name: &str,
        host: Option<&str>,
    ) -> Result<crate::proto::VpnCreatedPeer, Failure> {
        vpn::create_peer_for(&self.shared, username, name, host).await
    }

    /// Removes a VPN peer and ends its tunnel at once.
    pub async fn vpn_revoke(&self, peer_id: i64) -> Result<crate::proto::VpnPeerInfo, Failure> {
        Ok(self.shared.vpn.revoke(&self.shared.store, peer_id, None).await?)
    }

    /// Sets a peer's (or with no peer the server-wide) VPN cap in kbit/s; `None` = default.
    pub async fn vpn_set_limit(&self, peer_id: Option<i64>, kbps: Option<u32>) -> Result<(), Failure> {
        self.shared.vpn.set_limit(&self.shared.store, peer_id, kbps).await?;
        Ok(())
    }

    /// What router port mapping is doing; `changed()` wakes on every new state.
    pub fn port_mapping_changes(&self) -> watch::Receiver<PortMappingState> {
        self.shared.port_mapping.clone()
    }

    /// The connection code for reaching this server from the internet: its router's external
    /// address and mapped control port. `None` unless the ports are open and reachable.
    pub fn internet_connection_code(&self) -> Option<ConnectionCode> {
        let address = self.shared.port_mapping.borrow().internet_address()?;
        Some(connection_code(&self.shared.config, &address.ip().to_string(), address.port(), self.shared.fingerprint))
    }

    /// Whether the last write to the database failed because the disk is full (until a
    /// write succeeds again).
    pub fn disk_full(&self) -> bool {
        self.shared.store.disk_full()
    }

    /// What the server is holding off right now, in plain words for the dashboard: the
    /// accounts someone is guessing passwords for, then the pressure warnings of the last two
    /// minutes (as logged once a minute).
    pub fn pressure(&self) -> Vec<String> {
        let now = std::time::Instant::now();
        let limits = self.shared.login_limits.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines: Vec<String> = limits
            .accounts_under_attack(now)
            .into_iter()
            .map(|name| {
                format!("Someone is trying many passwords for {name}'s account; {name}'s own devices are not affected.")
            })
            .collect();
        drop(limits);
        lines.extend(self.shared.recent_pressure.lock().unwrap_or_else(|p| p.into_inner()).lines(now));
        lines
    }
}
