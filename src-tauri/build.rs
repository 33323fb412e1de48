//! Build script: Tauri's code generation, and one permission per app command so that the
//! capability files can grant the dashboard exactly the commands it uses.

/// The app's commands; `capabilities/dashboard.json` allows each one by name
/// (`ui/js/commands.js` declares the same names for the page).
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
    "app_state",
    "choose_mode",
    "read_invite",
    "read_invite_picture",
    "join",
    "sign_in_here",
    "resume",
    "sign_in",
    "sign_out",
    "chat_channels",
    "chat_users",
    "chat_history",
    "chat_send",
    "chat_mark_read",
    "chat_edit",
    "chat_delete",
    "chat_set_status",
    "chat_open_direct",
    "chat_viewing",
    "chat_create_invite",
    "chat_create_channel",
    "chat_set_role",
    "chat_ask",
    "voice_devices",
    "voice_join",
    "voice_leave",
    "voice_set_muted",
    "voice_set_deafened",
    "voice_set_volume",
    "voice_set_processing",
    "voice_set_pressed",
    "voice_set_microphone",
    "voice_set_speaker",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
