//! Uploads in progress, so that they survive a restart: what each announced and the offset
//! whose bytes are known to be on disk (the bytes themselves stay in `uploads/tmp/`).

use super::{Store, StoreError};
use crate::ids::{ChannelId, UserId};
use crate::proto::UploadSpec;
use rusqlite::params;

/// An upload in progress as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedUpload {
    /// Its id (also the name of its temporary file).
    pub upload_id: String,
    /// Whose it is.
    pub user_id: UserId,
    /// What was announced.
    pub spec: UploadSpec,
    /// Bytes known to be on disk.
    pub confirmed: u64,
    /// When it is dropped unless a chunk comes first, Unix milliseconds.
    pub expires_at: i64,
}

impl Store {
    /// Records an upload that begins.
    pub async fn record_upload(&self, upload: UnfinishedUpload) -> Result<(), StoreError> {
        self.write(move |conn| {
            let spec = &upload.spec;
            conn.execute(
                "INSERT INTO uploads_in_progress
                     (upload_id, user_id, name, size, content_type, channel_id, keep_metadata, confirmed, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    upload.upload_id,
                    upload.user_id,
                    spec.name,
                    spec.size as i64,
                    spec.content_type,
                    spec.channel_id.map(|id| id.0),
                    spec.keep_metadata,
                    upload.confirmed as i64,
                    upload.expires_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Notes that an upload's bytes up to `confirmed` are on disk (and its size, which an
    /// upload of unknown size settles at the end).
    pub async fn upload_progress(
        &self,
        upload_id: String,
        size: u64,
        confirmed: u64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE uploads_in_progress SET size = ?2, confirmed = ?3, expires_at = ?4 WHERE upload_id = ?1",
                params![upload_id, size as i64, confirmed as i64, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets uploads that finished, were cancelled or expired.
    pub async fn forget_uploads(&self, upload_ids: Vec<String>) -> Result<(), StoreError> {
        self.write(move |conn| {
            for upload_id in &upload_ids {
                conn.execute("DELETE FROM uploads_in_progress WHERE upload_id = ?1", [upload_id])?;
            }
            Ok(())
        })
        .await
    }

    /// Every upload in progress.
    pub async fn unfinished_uploads(&self) -> Result<Vec<UnfinishedUpload>, StoreError> {
        self.read(|conn| {
            let rows = conn
                .prepare(
                    "SELECT upload_id, user_id, name, size, content_type, channel_id, keep_metadata, confirmed,
                            expires_at
                     FROM uploads_in_progress",
                )?
                .query_map([], |row| {
                    Ok(UnfinishedUpload {
                        upload_id: row.get(0)?,
                        user_id: row.get(1)?,
                        spec: UploadSpec {
                            name: row.get(2)?,
                            size: row.get::<_, i64>(3)? as u64,
                            content_type: row.get(4)?,
                            channel_id: row.get::<_, Option<i64>>(5)?.map(ChannelId),
                            keep_metadata: row.get(6)?,
                        },
                        confirmed: row.get::<_, i64>(7)? as u64,
                        expires_at: row.get(8)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
