//! The errors the app's commands return to the dashboard.
//!
//! Each one displays as plain words for the parent; the page shows that text. Engine errors
//! pass through unchanged (`ApplianceError` already speaks plainly).

use iptincan::appliance::ApplianceError;
use serde::Serialize;

/// What went wrong in a command or a tray action.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine refused or failed.
    #[error(transparent)]
    Appliance(#[from] ApplianceError),
    /// Start at login could not be read or changed.
    #[error("start at login could not be changed: {0}")]
    Autostart(#[from] tauri_plugin_autostart::Error),
    /// The clipboard could not be written.
    #[error("the clipboard could not be used: {0}")]
    Clipboard(#[from] tauri_plugin_clipboard_manager::Error),
    /// There is no connection code because the server is not running.
    #[error("the server is not running, so there is no connection code to copy")]
    NoConnectionCode,
    /// The window or the tray failed.
    #[error(transparent)]
    Tauri(#[from] tauri::Error),
}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// The result of a command.
pub type Result<T> = std::result::Result<T, Error>;
