//! Backups as the control protocol and the REST API show them: one archive in the server's
//! backup folder (its file name, never its path on the machine).

use serde::{Deserialize, Serialize};

/// One backup archive (answer to `list_backups` and `start_backup`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BackupInfo {
    /// The archive's file name in `backup.directory`, `itc-backup-YYYYMMDD-HHMMSS.tar` (UTC;
    /// `.tar.enc` when encrypted).
    pub file_name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was taken, Unix milliseconds, to the second (as its name says).
    pub created_at: i64,
    /// Whether it is encrypted (`backup.passphrase_file`).
    pub encrypted: bool,
}
