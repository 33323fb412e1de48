//! The tray icon and its menu.
//!
//! The icon shows the engine's state (running, stopped, needs attention), the tooltip and the
//! first, disabled menu line say how many family members are online, and each menu item calls
//! one engine function: Start → `Appliance::start`, Stop → `Appliance::stop`, Invite
//! someone… → `Appliance::create_invite` (the dashboard opens with the new invite's QR),
//! Copy connection code → `Appliance::connection_code`, Back up now →
//! `Appliance::back_up_now` (also while the server is stopped), Quit → `Appliance::quit` as
//! the app exits. Open dashboard only shows the window. This module decides nothing about the server.

use crate::commands::{self, Engine};
use iptincan::appliance::{ApplianceState, InviteRequest, Status};
use std::sync::Mutex;
use tauri::image::Image;
use tauri::menu::{MenuBuilder, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Emitter, Manager, Wry};

/// The tray icon's id.
const TRAY_ID: &str = "main";
/// The event the dashboard listens to for an invite made from the tray.
pub const INVITE_EVENT: &str = "invite-created";
/// How often the tray looks at the engine's status.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

const ICON_RUNNING: &[u8] = include_bytes!("../icons/tray-running.png");
const ICON_STOPPED: &[u8] = include_bytes!("../icons/tray-stopped.png");
const ICON_ATTENTION: &[u8] = include_bytes!("../icons/tray-attention.png");

/// The menu items whose text or enabled state follows the engine, and what the tray shows now.
pub struct TrayMenu {
    summary: MenuItem<Wry>,
    start: MenuItem<Wry>,
    stop: MenuItem<Wry>,
    invite: MenuItem<Wry>,
    copy_code: MenuItem<Wry>,
    backup: MenuItem<Wry>,
    shown: Mutex<Option<Shown>>,
}

/// What the tray last showed, so that it changes only when the engine's state does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    state: ApplianceState,
    users_online: usize,
    update: Option<String>,
}

/// Builds the tray icon and its menu; call once, from `setup`.
pub fn build(app: &AppHandle) -> tauri::Result<()> {
    let item = |id: &str, text: &str, enabled: bool| MenuItem::with_id(app, id, text, enabled, None::<&str>);
    let menu_items = TrayMenu {
        summary: item("summary", "IPTinCan", false)?,
        start: item("start", "Start", false)?,
        stop: item("stop", "Stop", false)?,
        invite: item("invite", "Invite someone…", false)?,
        copy_code: item("copy-code", "Copy connection code", false)?,
        backup: item("backup", "Back up now", false)?,
        shown: Mutex::new(None),
    };
    let open = item("open", "Open dashboard", true)?;
    let quit = item("quit", "Quit", true)?;
    let menu = MenuBuilder::new(app)
        .item(&menu_items.summary)
        .separator()
        .item(&menu_items.start)
        .item(&menu_items.stop)
        .separator()
        .item(&open)
        .item(&menu_items.invite)
        .item(&menu_items.copy_code)
        .item(&menu_items.backup)
        .separator()
        .item(&quit)
        .build()?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(ICON_STOPPED)?)
        .tooltip("IPTinCan")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu_event(app, event.id().as_ref()))
        .build(app)?;
    app.manage(menu_items);
    Ok(())
}

/// Makes the icon, tooltip and menu match `status`; cheap when nothing changed.
pub fn refresh(app: &AppHandle, status: &Status) {
    if let Err(err) = try_refresh(app, status) {
        tracing::warn!("the tray could not be updated: {err}");
    }
}

fn try_refresh(app: &AppHandle, status: &Status) -> tauri::Result<()> {
    let (Some(menu), Some(tray)) = (app.try_state::<TrayMenu>(), app.tray_by_id(TRAY_ID)) else {
        return Ok(());
    };
    let now = Shown { state: status.state, users_online: status.users_online, update: status.update.available.clone() };
    let mut shown = menu.shown.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if shown.as_ref() == Some(&now) {
        return Ok(());
    }
    let summary = summary_line(status);
    set_icon(&tray, status.state)?;
    tray.set_tooltip(Some(&summary))?;
    menu.summary.set_text(&summary)?;
    let running = status.state == ApplianceState::Running
        || (status.state == ApplianceState::NeedsAttention && status.connection_code.is_some());
    let can_start = !running && status.state != ApplianceState::SetupNeeded;
    menu.start.set_enabled(can_start)?;
    menu.stop.set_enabled(running)?;
    menu.invite.set_enabled(running)?;
    menu.copy_code.set_enabled(running)?;
    menu.backup.set_enabled(status.state != ApplianceState::SetupNeeded && status.backup_progress.is_none())?;
    *shown = Some(now);
    Ok(())
}

fn set_icon(tray: &TrayIcon, state: ApplianceState) -> tauri::Result<()> {
    let bytes = match state {
        ApplianceState::Running => ICON_RUNNING,
        ApplianceState::NeedsAttention => ICON_ATTENTION,
        _ => ICON_STOPPED,
    };
    tray.set_icon(Some(Image::from_bytes(bytes)?))
}

/// "IPTinCan — running, 2 online" (and "update available" when there is one): the tooltip
/// and the menu's first line.
fn summary_line(status: &Status) -> String {
    let state = match status.state {
        ApplianceState::SetupNeeded => "not set up yet".to_string(),
        ApplianceState::Stopped => "stopped".to_string(),
        ApplianceState::Running => match status.users_online {
            1 => "running, 1 person online".to_string(),
            n => format!("running, {n} people online"),
        },
        _ => "needs attention".to_string(),
    };
    let update = if status.update.available.is_some() { " — update available" } else { "" };
    format!("{} — {state}{update}", display_name(status))
}

fn display_name(status: &Status) -> &str {
    if status.server_name.is_empty() {
        "IPTinCan"
    } else {
        &status.server_name
    }
}

fn on_menu_event(app: &AppHandle, id: &str) {
    let Some(engine) = app.try_state::<Engine>().map(|engine| engine.inner().clone()) else {
        return;
    };
    match id {
        "start" => spawn_action(app, engine, Action::Start),
        "stop" => spawn_action(app, engine, Action::Stop),
        "backup" => spawn_action(app, engine, Action::BackUp),
        "open" => show_dashboard(app),
        "invite" => invite(app, engine),
        "copy-code" => {
            if let Err(err) = commands::copy_connection_code(app, &engine) {
                tracing::warn!("copy connection code: {err}");
            }
        }
        "quit" => crate::quit(app),
        _ => {}
    }
}

/// A menu item that runs one engine call in the background.
#[derive(Debug, Clone, Copy)]
enum Action {
    Start,
    Stop,
    BackUp,
}

/// Runs one engine call off the menu's thread, then refreshes the tray. A failure is logged;
/// the engine's status carries it to the icon and the dashboard.
fn spawn_action(app: &AppHandle, engine: Engine, action: Action) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let result = match action {
            Action::Start => engine.start().await.map(drop),
            Action::Stop => engine.stop().await.map(drop),
            Action::BackUp => engine.back_up_now().await.map(|entry| {
                tracing::info!(archive = %entry.path.display(), "backed up from the tray");
            }),
        };
        if let Err(err) = result {
            tracing::warn!("{action:?}: {err}");
        }
        refresh(&app, &engine.status());
    });
}

/// "Invite someone…": makes a default invite (one use, member) and shows it on the dashboard.
fn invite(app: &AppHandle, engine: Engine) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match engine.create_invite(InviteRequest::default()).await {
            Ok(card) => {
                show_dashboard(&app);
                if let Err(err) = app.emit_to("main", INVITE_EVENT, card) {
                    tracing::warn!("invite: the dashboard could not be told: {err}");
                }
            }
            Err(err) => tracing::warn!("invite: {err}"),
        }
    });
}

/// Shows, unminimises and focuses the dashboard window.
pub fn show_dashboard(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let shown = window.show().and_then(|()| window.unminimize()).and_then(|()| window.set_focus());
        if let Err(err) = shown {
            tracing::warn!("the dashboard could not be shown: {err}");
        }
    }
}

/// Keeps the tray in step with the engine (people come and go, a server can fail) by looking
/// at its status every two seconds, on a thread of its own, until the app exits.
pub fn watch(app: &AppHandle, engine: Engine) {
    let app = app.clone();
    let spawned = std::thread::Builder::new().name("tray-watch".into()).spawn(move || loop {
        refresh(&app, &engine.status());
        std::thread::sleep(WATCH_INTERVAL);
    });
    if let Err(err) = spawned {
        tracing::warn!("the tray will not follow the server's state: {err}");
    }
}
