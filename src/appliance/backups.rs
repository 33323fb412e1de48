//! Backups from the dashboard: back up now, the archive list, restore, and how they are shown
//! (progress, the last attempt's outcome).

use super::{Appliance, ApplianceError, Status};
use crate::backup::schedule::BackupOutcome;
use crate::backup::{self, BackupError, Passphrase, RestoreOptions};
use serde::Serialize;
use std::path::PathBuf;

/// A backup or restore under way, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupProgress {
    /// What is being done, in plain words ("Backing up: writing the archive").
    pub activity: String,
    /// How far this step has got, 0 to 100.
    pub percent: u64,
}

impl BackupProgress {
    pub(super) fn new(doing: &str, progress: backup::Progress) -> Self {
        BackupProgress { activity: format!("{doing}: {}", progress.step), percent: progress.percent() }
    }
}

/// How a backup ended, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupAttempt {
    /// When it ended (RFC 3339, UTC).
    pub finished_at: String,
    /// Written, cancelled or failed.
    pub result: BackupResult,
    /// What happened, in plain words.
    pub message: String,
}

/// How a backup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupResult {
    /// Written and verified.
    Written,
    /// Cancelled (the app quit), leaving no partial archive.
    Cancelled,
    /// Failed.
    Failed,
}

impl From<backup::schedule::BackupStatus> for BackupAttempt {
    fn from(status: backup::schedule::BackupStatus) -> Self {
        let (result, message) = match status.outcome {
            BackupOutcome::Written(report) => {
                (BackupResult::Written, format!("Backed up and verified: {}", report.path.display()))
            }
            BackupOutcome::Cancelled => {
                (BackupResult::Cancelled, "The backup was cancelled; it left no partial archive.".to_string())
            }
            BackupOutcome::Failed(error) => (BackupResult::Failed, format!("The last backup failed: {error}")),
        };
        BackupAttempt { finished_at: status.finished.to_string(), result, message }
    }
}

/// A backup archive as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    /// Full path, for restore.
    pub path: PathBuf,
    /// When it was taken (RFC 3339, UTC).
    pub taken_at: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Encrypted with a passphrase.
    pub encrypted: bool,
}

impl From<backup::BackupReport> for BackupEntry {
    fn from(report: backup::BackupReport) -> Self {
        BackupEntry {
            path: report.path,
            taken_at: report.created.to_string(),
            size_bytes: report.size,
            encrypted: report.encrypted,
        }
    }
}

impl From<backup::ArchiveInfo> for BackupEntry {
    fn from(info: backup::ArchiveInfo) -> Self {
        BackupEntry {
            path: info.path,
            taken_at: info.created.to_string(),
            size_bytes: info.size,
            encrypted: info.encrypted,
        }
    }
}

impl Appliance {
    /// Takes a backup now ("Back up now"), as the nightly one does: into `backup.directory`,
    /// verified, then old archives pruned. Works whether or not the server runs, and a Stop
    /// meanwhile does not wait for it.
    pub async fn back_up_now(&self) -> Result<BackupEntry, ApplianceError> {
        if self.needs_setup() {
            return Err(ApplianceError::NotSetUp);
        }
        Ok(self.backups.back_up_now().await?.into())
    }

    /// The archives in the backup folder, newest first.
    pub fn list_backups(&self) -> Result<Vec<BackupEntry>, ApplianceError> {
        let Some(folder) = self.snapshot().backup_folder.clone() else { return Ok(Vec::new()) };
        Ok(backup::list(&folder)?.into_iter().rev().map(Into::into).collect())
    }

    /// Restores an archive: stops the server, restores (the replaced files are kept aside in
    /// the data directory), and starts it again. A damaged or foreign archive is refused and
    /// changes nothing; the server is started again either way.
    pub async fn restore(&self, archive: PathBuf, passphrase: Option<String>) -> Result<Status, ApplianceError> {
        let was_running = self.running.lock().await.is_some();
        self.stop().await?;
        let data_dir = self.data_dir.clone();
        let options = RestoreOptions { passphrase: passphrase.map(Passphrase::new), replace_other_server: false };
        let record_progress = self.restore_progress.recorder();
        let restored =
            tokio::task::spawn_blocking(move || backup::restore(&archive, &data_dir, &options, record_progress))
                .await
                .map_err(|err| BackupError::io("restore", std::io::Error::other(err.to_string())));
        self.restore_progress.clear();
        let restart = if was_running || restored.is_ok() { self.start().await.map(drop) } else { Ok(()) };
        let report = restored??;
        tracing::info!(files = report.files, "restored a backup");
        restart?;
        Ok(self.status())
    }
}
