//! What an appliance action can fail with, in words for the parent; serialised as that text
//! for the dashboard.

use crate::backup::BackupError;
use crate::code::QrError;
use crate::config::ConfigError;
use crate::server::invites::InviteError;
use crate::server::{Failure, StartError};
use crate::store::StoreError;
use crate::update::UpdateError;
use serde::Serialize;

/// What went wrong, in words for the parent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplianceError {
    /// Setup has not been done yet.
    #[error("the server is not set up yet")]
    NotSetUp,
    /// Setup was already done.
    #[error("the server is already set up")]
    AlreadySetUp,
    /// The server is not running.
    #[error("the server is not running; start it first")]
    NotRunning,
    /// A choice in the setup form is not allowed.
    #[error("{0}")]
    BadChoice(String),
    /// The configuration is broken.
    #[error("the settings file is damaged: {0}")]
    Config(#[from] ConfigError),
    /// The server could not start.
    #[error("the server could not start: {0}")]
    Start(#[from] StartError),
    /// The server refused (e.g. a password that is too short).
    #[error("{0}")]
    Refused(#[from] Failure),
    /// An invite could not be made.
    #[error("{0}")]
    Invite(#[from] InviteError),
    /// The database failed.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    /// The QR picture could not be made.
    #[error("{0}")]
    Qr(#[from] QrError),
    /// A backup or restore failed.
    #[error("{0}")]
    Backup(#[from] BackupError),
    /// An update could not be downloaded, verified or installed.
    #[error("{0}")]
    Update(#[from] UpdateError),
}

impl Serialize for ApplianceError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}
