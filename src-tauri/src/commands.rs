//! The commands the dashboard calls: thin `async` wrappers over the engine's [`Appliance`].
//!
//! Each command calls one engine function and, when the state may have changed, refreshes
//! the tray. No server logic lives here. `build.rs` lists these names so that
//! `capabilities/dashboard.json` can allow each one.

use crate::error::{Error, Result};
use crate::tray;
use iptincan::appliance::{Appliance, BackupEntry, InviteCard, InviteRequest, SetupChoices, Status, VpnCard};
use iptincan::proto::{InviteInfo, User, VpnPeerInfo, VpnStatus};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt as _;

/// The engine, shared as Tauri managed state.
pub type Engine = Arc<Appliance>;

/// The state right now (the dashboard polls this every second or two).
#[tauri::command]
pub fn status(engine: State<'_, Engine>) -> Status {
    engine.status()
}

/// First-run setup: server name, the admin's password, router ports; starts the server.
#[tauri::command]
pub async fn setup(app: AppHandle, engine: State<'_, Engine>, choices: SetupChoices) -> Result<Status> {
    let status = engine.setup(choices).await?;
    tray::refresh(&app, &status);
    Ok(status)
}

/// Starts the server.
#[tauri::command]
pub async fn start(app: AppHandle, engine: State<'_, Engine>) -> Result<Status> {
    let result = engine.start().await;
    tray::refresh(&app, &engine.status());
    Ok(result?)
}

/// Stops the server.
#[tauri::command]
pub async fn stop(app: AppHandle, engine: State<'_, Engine>) -> Result<Status> {
    let status = engine.stop().await?;
    tray::refresh(&app, &status);
    Ok(status)
}

/// Makes an invite, with its text and QR picture.
#[tauri::command]
pub async fn create_invite(engine: State<'_, Engine>, request: InviteRequest) -> Result<InviteCard> {
    Ok(engine.create_invite(request).await?)
}

/// Every invite, newest first.
#[tauri::command]
pub async fn list_invites(engine: State<'_, Engine>) -> Result<Vec<InviteInfo>> {
    Ok(engine.list_invites().await?)
}

/// Withdraws an invite.
#[tauri::command]
pub async fn revoke_invite(engine: State<'_, Engine>, id: i64) -> Result<InviteInfo> {
    Ok(engine.revoke_invite(id).await?)
}

/// Every account, by name: whom the VPN's "Add a device" can make a config for.
#[tauri::command]
pub async fn list_members(engine: State<'_, Engine>) -> Result<Vec<User>> {
    Ok(engine.list_members().await?)
}

/// The VPN view: its state in one line, the server-wide cap, every device with its traffic.
#[tauri::command]
pub async fn vpn_status(engine: State<'_, Engine>) -> Result<VpnStatus> {
    Ok(engine.vpn_status().await?)
}

/// Turns the VPN on or off; the engine writes the setting and restarts the server.
#[tauri::command]
pub async fn vpn_set_enabled(app: AppHandle, engine: State<'_, Engine>, enabled: bool) -> Result<Status> {
    let result = engine.set_vpn_enabled(enabled).await;
    tray::refresh(&app, &engine.status());
    Ok(result?)
}

/// Makes a WireGuard app config for a member's device: its text (with the device's private
/// key, so never logged) and QR picture, for the page to show once.
#[tauri::command]
pub async fn vpn_create_peer(engine: State<'_, Engine>, username: String, name: String) -> Result<VpnCard> {
    Ok(engine.vpn_create_peer(&username, &name).await?)
}

/// Cuts a device's VPN access at once.
#[tauri::command]
pub async fn vpn_revoke(engine: State<'_, Engine>, id: i64) -> Result<VpnPeerInfo> {
    Ok(engine.vpn_revoke(id).await?)
}

/// Caps one device (`id`) or, without one, every device without its own cap, in kbit/s
/// (0 = unlimited; none = back to the default).
#[tauri::command]
pub async fn vpn_set_limit(engine: State<'_, Engine>, id: Option<i64>, kbps: Option<u32>) -> Result<()> {
    Ok(engine.vpn_set_limit(id, kbps).await?)
}

/// Takes a verified backup now.
#[tauri::command]
pub async fn back_up_now(app: AppHandle, engine: State<'_, Engine>) -> Result<BackupEntry> {
    let entry = engine.back_up_now().await;
    tray::refresh(&app, &engine.status());
    Ok(entry?)
}

/// The backups in the backup folder, newest first.
#[tauri::command]
pub fn list_backups(engine: State<'_, Engine>) -> Result<Vec<BackupEntry>> {
    Ok(engine.list_backups()?)
}

/// Restores a backup the dashboard listed (the engine stops the server, restores and starts
/// it again; a damaged archive changes nothing).
#[tauri::command]
pub async fn restore_backup(
    app: AppHandle,
    engine: State<'_, Engine>,
    path: PathBuf,
    passphrase: Option<String>,
) -> Result<Status> {
    let result = engine.restore(path, passphrase).await;
    tray::refresh(&app, &engine.status());
    Ok(result?)
}

/// Installs the available update (download, signature check, the system's installer), then
/// restarts the app into the new version.
#[tauri::command]
pub async fn install_update(app: AppHandle, engine: State<'_, Engine>) -> Result<String> {
    let version = engine.install_update().await;
    tray::refresh(&app, &engine.status());
    let version = version?;
    tracing::info!("restarting into IPTinCan {version}");
    crate::quit_for_restart(&app);
    Ok(version)
}

/// Puts text (a connection code or an invite) on the clipboard.
#[tauri::command]
pub fn copy_text(app: AppHandle, text: String) -> Result<()> {
    Ok(app.clipboard().write_text(text)?)
}

/// Where the server's files and backups live, for the dashboard to show.
#[tauri::command]
pub fn data_location(engine: State<'_, Engine>) -> String {
    engine.data_dir().root().display().to_string()
}

/// Whether the app starts when the user logs in.
#[tauri::command]
pub fn autostart_enabled(app: AppHandle) -> Result<bool> {
    Ok(app.autolaunch().is_enabled()?)
}

/// Turns start at login on or off; returns the new setting.
#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> Result<bool> {
    let launcher = app.autolaunch();
    if enabled {
        launcher.enable()?;
    } else {
        launcher.disable()?;
    }
    Ok(launcher.is_enabled()?)
}

/// Copies the connection code to the clipboard (the tray's "Copy connection code").
pub fn copy_connection_code(app: &AppHandle, engine: &Appliance) -> Result<()> {
    let code = engine.connection_code().ok_or(Error::NoConnectionCode)?;
    Ok(app.clipboard().write_text(code)?)
}
