//! Invites and members from the dashboard: the connection code, "Invite someone…" with its QR
//! picture, the invite list, withdrawing one, and the member list.

use super::{Appliance, ApplianceError};
use crate::code::{render_qr_svg, Invite};
use crate::proto::{InviteInfo, Role, User};
use crate::server::invites::{InviteError, InviteOptions};
use serde::{Deserialize, Serialize};

/// What "Invite someone…" asks for; absent values take the defaults (single use, no expiry,
/// member).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InviteRequest {
    /// Accounts it can create.
    pub uses: Option<u32>,
    /// Seconds until it expires.
    pub expires_in_seconds: Option<u64>,
    /// Role of the accounts it creates.
    pub role: Option<Role>,
    /// Who it is for.
    pub note: Option<String>,
}

/// A new invite as the dashboard shows it: text and link to copy, and a QR picture.
#[derive(Debug, Clone, Serialize)]
pub struct InviteCard {
    /// The invite.
    pub invite: InviteInfo,
    /// `ITC-<code>.<secret>`.
    pub text: String,
    /// The same as a link, `itc://join/ITC-<code>.<secret>` ([`Invite::link`]), which the
    /// app opens when it is clicked.
    pub link: String,
    /// Its QR code as an SVG document.
    pub qr_svg: String,
}

impl Appliance {
    /// The connection code to give out, while running ("Copy connection code"): for the
    /// internet when the router's ports are open, else for the home network.
    pub fn connection_code(&self) -> Option<String> {
        self.snapshot().live.as_ref().and_then(|live| live.monitor.public_code().encode().ok())
    }

    /// Makes an invite ("Invite someone…") with its QR picture.
    pub async fn create_invite(&self, request: InviteRequest) -> Result<InviteCard, ApplianceError> {
        let options = InviteOptions::checked(request.uses, request.expires_in_seconds, request.role, request.note)?;
        let running = self.running.lock().await;
        let server = running.as_ref().ok_or(ApplianceError::NotRunning)?;
        let created = server.create_invite(options, None).await?;
        let link = Invite::decode(&created.text).and_then(|invite| invite.link()).map_err(InviteError::Code)?;
        let qr_svg = render_qr_svg(&created.text)?;
        Ok(InviteCard { invite: created.invite, text: created.text, link, qr_svg })
    }

    /// Every invite, newest first.
    pub async fn list_invites(&self) -> Result<Vec<InviteInfo>, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.list_invites().await?)
    }

    /// Withdraws an invite.
    pub async fn revoke_invite(&self, invite_id: i64) -> Result<InviteInfo, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.revoke_invite(invite_id).await?)
    }

    /// Every account, by name (whom "Add a device" can make a VPN config for).
    pub async fn list_members(&self) -> Result<Vec<User>, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.list_users().await?)
    }
}
