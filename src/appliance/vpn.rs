//! The dashboard's VPN box: on/off (a restart), the peers with their traffic, a device's config
//! shown once, cutting access, and rate caps.

use super::{Appliance, ApplianceError, Status};
use crate::code::render_qr_svg;
use crate::config;
use crate::proto::{VpnPeerInfo, VpnStatus};
use serde::Serialize;

/// A WireGuard app config made for a member, to show once (text and QR picture).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpnCard {
    /// The peer.
    pub peer: VpnPeerInfo,
    /// The config text, with the private key.
    pub config_text: String,
    /// Its QR code as an SVG picture, for the official apps to scan.
    pub qr_svg: String,
}

impl Appliance {
    /// Turns the VPN on or off (the dashboard's VPN box): writes `[vpn] enabled` into
    /// `server.toml`, keeping the rest of the file as it is, and restarts the server if it runs
    /// so that the change takes effect. The new state is in [`Status::vpn`].
    pub async fn set_vpn_enabled(&self, enabled: bool) -> Result<Status, ApplianceError> {
        if self.needs_setup() {
            return Err(ApplianceError::NotSetUp);
        }
        let loaded = config::write_vpn_enabled(&self.data_dir.config_file(), enabled)?;
        self.remember(&loaded.config);
        tracing::info!(enabled, "VPN setting changed");
        let running = self.running.lock().await.is_some();
        if running {
            return self.restart().await;
        }
        Ok(self.status())
    }

    /// The VPN view: its state and every peer with its traffic.
    pub async fn vpn_status(&self) -> Result<VpnStatus, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_status().await?)
    }

    /// A WireGuard app config (text and QR picture) for `username`'s device `name`, shown once.
    pub async fn vpn_create_peer(&self, username: &str, name: &str) -> Result<VpnCard, ApplianceError> {
        let running = self.running.lock().await;
        let created = running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_create_peer(username, name, None).await?;
        let qr_svg = render_qr_svg(&created.config_text)?;
        Ok(VpnCard { peer: created.peer, config_text: created.config_text, qr_svg })
    }

    /// Cuts a member's VPN access at once.
    pub async fn vpn_revoke(&self, peer_id: i64) -> Result<VpnPeerInfo, ApplianceError> {
        let running = self.running.lock().await;
        let peer = running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_revoke(peer_id).await?;
        tracing::info!(user = %peer.username, device = %peer.name, "VPN access cut from the dashboard");
        Ok(peer)
    }

    /// Sets a peer's (or with no peer the server-wide) cap in kbit/s; `None` = default.
    pub async fn vpn_set_limit(&self, peer_id: Option<i64>, kbps: Option<u32>) -> Result<(), ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_set_limit(peer_id, kbps).await?)
    }
}
