//! The IPTinCan tray app: the engine in-process, a tray icon, and a dashboard window.
//!
//! `run` builds the Tauri app: one instance only (a second launch shows the first one's
//! dashboard), optional start at login (off until the parent ticks the box), the engine
//! opened on the OS's per-user data directory (`app_data_dir()`, e.g.
//! `~/.local/share/com.iptincan.tray` on Linux), the tray ([`tray`]) and the dashboard's
//! commands ([`commands`]). Closing the window hides it; the app and the server keep running
//! until Quit. On exit the server is stopped cleanly and a backup under way is cancelled
//! (`Appliance::quit`).
//!
//! This crate holds no server logic: every action is one call on
//! `iptincan::appliance::Appliance`.

pub mod chat;
pub mod commands;
pub mod error;
pub mod family;
pub mod files;
pub mod tray;
pub mod voice;

use commands::Engine;
use iptincan::appliance::Appliance;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};
use tracing_subscriber::fmt::writer::MakeWriterExt as _;

/// The argument start at login passes, so that the app starts in the tray without a window.
const AUTOSTART_ARG: &str = "--in-tray";
/// For tests: a `server.toml` template that first-run setup starts from instead of the
/// built-in defaults (e.g. loopback and free ports).
const TEMPLATE_ENV: &str = "ITC_TRAY_CONFIG_TEMPLATE";

/// Set when the parent chose Quit: only then may the app exit.
#[derive(Debug, Default)]
struct Quitting(AtomicBool);

/// Builds and runs the app; returns when the app exits.
pub fn run() {
    let app = tauri::Builder::default()
        // First, so that a second instance hands over before it builds anything.
        // A clicked `itc://` link while the app runs arrives here as the second instance's argument.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            tray::show_dashboard(app);
            if let (Some(link), Some(family)) = (family::invite::link_in_args(args), app.try_state::<chat::Family>()) {
                family.link_opened(app, link);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![AUTOSTART_ARG]),
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .manage(Quitting::default())
        .manage(voice::Voice::default())
        .setup(|app| {
            let engine = open_engine(app.handle())?;
            init_logging(&engine);
            tracing::info!(data_dir = %engine.data_dir().root().display(), "IPTinCan tray app starting");
            app.manage(engine.clone());
            let family =
                chat::Family::open(app.path().app_data_dir()?, family::invite::link_in_args(std::env::args()))?;
            // A server set up before the app asked "host or join" is a host's.
            if family.mode().is_none() && !engine.needs_setup() {
                family.set_mode(family::profile::Mode::Host)?;
            }
            let hosting = family.mode() == Some(family::profile::Mode::Host);
            app.manage(family);
            register_link_scheme(app.handle());
            tray::build(app.handle())?;
            tray::watch(app.handle(), engine.clone());
            let in_tray = std::env::args().any(|arg| arg == AUTOSTART_ARG);
            if engine.needs_setup() || !in_tray {
                tray::show_dashboard(app.handle());
            }
            // A family member's app runs no server.
            if hosting && !engine.needs_setup() {
                let handle = app.handle().clone();
                tauri::async_runtime::spawn(async move {
                    if let Err(err) = engine.start().await {
                        tracing::warn!("the server did not start: {err}");
                    }
                    tray::refresh(&handle, &engine.status());
                });
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                // Closing the dashboard keeps the tray and the server.
                api.prevent_close();
                if let Err(err) = window.hide() {
                    tracing::warn!("the dashboard could not be hidden: {err}");
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::setup,
            commands::start,
            commands::stop,
            commands::create_invite,
            commands::list_invites,
            commands::revoke_invite,
            commands::list_members,
            commands::vpn_status,
            commands::vpn_set_enabled,
            commands::vpn_create_peer,
            commands::vpn_revoke,
            commands::vpn_set_limit,
            commands::back_up_now,
            commands::list_backups,
            commands::restore_backup,
            commands::copy_text,
            commands::data_location,
            commands::autostart_enabled,
            commands::set_autostart,
            commands::install_update,
            chat::app_state,
            chat::choose_mode,
            chat::read_invite,
            chat::read_invite_picture,
            chat::join,
            chat::sign_in_here,
            chat::resume,
            chat::sign_in,
            chat::sign_out,
            chat::chat_channels,
            chat::chat_users,
            chat::chat_history,
            chat::chat_send,
            chat::chat_mark_read,
            chat::chat_edit,
            chat::chat_delete,
            chat::chat_set_status,
            chat::chat_open_direct,
            chat::chat_viewing,
            chat::chat_create_invite,
            chat::chat_create_channel,
            chat::chat_set_role,
            chat::chat_ask,
            voice::voice_devices,
            voice::voice_join,
            voice::voice_leave,
            voice::voice_set_muted,
            voice::voice_set_deafened,
            voice::voice_set_volume,
            voice::voice_set_processing,
            voice::voice_set_pressed,
            voice::voice_set_microphone,
            voice::voice_set_speaker,
            files::chat_upload,
            files::chat_upload_path,
            files::chat_picture,
            files::chat_save_file,
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(err) => {
            eprintln!("IPTinCan could not start: {err}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| match event {
        RunEvent::ExitRequested { api, .. } if !app.state::<Quitting>().0.load(Ordering::SeqCst) => {
            // The last window went away, but the tray stays until Quit.
            api.prevent_exit();
        }
        RunEvent::Exit => {
            if let Some(engine) = app.try_state::<Engine>() {
                if let Err(err) = tauri::async_runtime::block_on(engine.quit()) {
                    tracing::warn!("the server did not stop cleanly: {err}");
                }
            }
        }
        _ => {}
    });
}

/// Quit: the only way out. Stops the server and cancels a backup under way (on
/// `RunEvent::Exit`), and ends the app.
pub fn quit(app: &AppHandle) {
    app.state::<Quitting>().0.store(true, Ordering::SeqCst);
    app.exit(0);
}

/// After an update: stops the server and cancels a backup under way (on `RunEvent::Exit`),
/// and starts the new program.
pub fn quit_for_restart(app: &AppHandle) {
    app.state::<Quitting>().0.store(true, Ordering::SeqCst);
    app.request_restart();
}

/// Registers the `itc` scheme for this user where nothing has (a portable or development copy
/// on Linux or Windows); the .deb's desktop file and the Windows installer register it for
/// installed copies. Not being able to is no error: the link's text can still be pasted.
fn register_link_scheme(app: &AppHandle) {
    use tauri_plugin_deep_link::DeepLinkExt as _;
    if !cfg!(any(target_os = "linux", windows)) || app.deep_link().is_registered("itc").unwrap_or(false) {
        return;
    }
    if let Err(err) = app.deep_link().register_all() {
        tracing::info!("itc:// links are not registered for this user ({err}); pasting an invite still works");
    }
}

/// Opens the engine on the per-user data directory.
fn open_engine(app: &AppHandle) -> Result<Engine, Box<dyn std::error::Error>> {
    let data_dir = app.path().app_data_dir()?;
    let engine = match std::env::var_os(TEMPLATE_ENV) {
        Some(path) => Appliance::open_with_template(&data_dir, &std::fs::read_to_string(path)?)?,
        None => Appliance::open(&data_dir)?,
    };
    Ok(Arc::new(engine))
}

/// Sends the app's log lines to the engine's buffer (the dashboard shows the recent ones) and
/// to standard error, at `server.log_level` from the configuration (info before setup).
fn init_logging(engine: &Appliance) {
    let writer = engine.log_writer().and(std::io::stderr);
    let installed = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .with_max_level(engine.log_level())
        .with_writer(writer)
        .try_init();
    if installed.is_err() {
        eprintln!("logging was already set up");
    }
}
