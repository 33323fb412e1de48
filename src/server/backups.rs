//! Backups through the server (`list_backups`, `start_backup`, and so `/api/backups`): the
//! backup service is not the server's (`Backups` runs beside it, owned by `itc-server` or the
//! appliance, and works with the server stopped too), so these ops ask the one its program
//! attached. `start_backup` answers once the archive is written and verified, like "back up
//! now" in the tray.

use super::context::{require_admin, Conn, Failure, Shared};
use crate::backup::schedule::Backups;
use crate::backup::{ArchiveInfo, BackupError, BackupReport};
use crate::proto::{BackupInfo, ErrorCode, Reply};
use std::path::Path;
use std::sync::Arc;

/// The backup service, or `not_allowed_now` when the program runs none.
fn service(ctx: &Shared) -> Result<Arc<Backups>, Failure> {
    ctx.backups.get().cloned().ok_or_else(|| {
        Failure::new(ErrorCode::NotAllowedNow, "this server runs without a backup service; use `itc-server backup`")
    })
}

fn failure(err: BackupError) -> Failure {
    match err {
        BackupError::Cancelled => {
            Failure::new(ErrorCode::NotAllowedNow, "the backup was cancelled: the server is stopping")
        }
        BackupError::Lock(err) => Failure::new(ErrorCode::NotAllowedNow, err.to_string()),
        other => {
            tracing::error!(error = %other, "backup over the API failed");
            Failure::new(ErrorCode::Internal, format!("the backup failed: {other}"))
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// An archive as clients see it; its time to the second, as its name has it (so that the
/// archive `start_backup` answers is the same as the one `list_backups` lists).
fn info(path: &Path, size: u64, created: jiff::Timestamp, encrypted: bool) -> BackupInfo {
    BackupInfo { file_name: file_name(path), size, created_at: created.as_second() * 1000, encrypted }
}

/// `list_backups` (admins).
pub async fn list_backups(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    require_admin(ctx, conn, "list backups")?;
    let backups = service(ctx)?;
    let archives = tokio::task::spawn_blocking(move || backups.archives())
        .await
        .map_err(|_| Failure::new(ErrorCode::Internal, "the backup folder could not be read"))?
        .map_err(failure)?;
    let list = archives.iter().map(|a: &ArchiveInfo| info(&a.path, a.size, a.created, a.encrypted)).collect();
    Ok(Reply::Backups(list))
}

/// `start_backup` (admins): waits for a backup already under way, then takes one.
pub async fn start_backup(ctx: &Shared, conn: &Conn) -> Result<Reply, Failure> {
    let admin = require_admin(ctx, conn, "start backups")?;
    let report: BackupReport = service(ctx)?.back_up_now().await.map_err(failure)?;
    tracing::info!(admin = %admin.username, "backup taken on request");
    Ok(Reply::Backup(info(&report.path, report.size, report.created, report.encrypted)))
}
