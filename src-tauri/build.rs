//! Build script: Tauri's code generation, and one permission per app command so that the
//! capability files can grant the dashboard exactly the commands it uses.

/// The app's commands; `capabilities/dashboard.json` allows each one by name.
const COMMANDS: &[&str] = &[
    "status",
    "setup",
    "start",
    "stop",
    "create_invite",
    "list_invites",
    "revoke_invite",
    "list_members",
    "vpn_status",
    "vpn_set_enabled",
    "vpn_create_peer",
    "vpn_revoke",
    "vpn_set_limit",
    "back_up_now",
    "list_backups",
    "restore_backup",
    "copy_text",
    "data_location",
    "autostart_enabled",
    "set_autostart",
    "install_update",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
