//! Link previews: what the server fetched for a URL (kept as a cache, failures too) and the
//! link each message shows.

use super::{Store, StoreError};
use crate::ids::MessageId;
use crate::proto::LinkPreview;
use rusqlite::{params, Connection, OptionalExtension};

/// A cached fetch of a URL: its preview (`None` when the fetch failed or found nothing) and
/// when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPreview {
    /// What the page shows.
    pub preview: Option<LinkPreview>,
    /// Unix milliseconds.
    pub fetched_at: i64,
}

impl Store {
    /// The cached fetch of `url`, if any.
    pub(crate) async fn cached_preview(&self, url: String) -> Result<Option<CachedPreview>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT title, description, image, fetched_at FROM link_previews WHERE url = ?1",
                    [&url],
                    |row| {
                        let (title, description, image): (Option<String>, Option<String>, Option<String>) =
                            (row.get(0)?, row.get(1)?, row.get(2)?);
                        let found = title.is_some() || description.is_some() || image.is_some();
                        Ok(CachedPreview {
                            preview: found.then(|| LinkPreview { url: url.clone(), title, description, image }),
                            fetched_at: row.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Caches the fetch of `url` and shows it on `message_id` (when the message still exists);
    /// answers whether the message is there.
    pub(crate) async fn save_preview(
        &self,
        message_id: MessageId,
        url: String,
        preview: Option<LinkPreview>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let found = preview.unwrap_or_default();
            conn.execute(
                "INSERT OR REPLACE INTO link_previews (url, title, description, image, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![url, found.title, found.description, found.image, now],
            )?;
            let shown = conn.execute(
                "INSERT OR REPLACE INTO message_previews (message_id, url) SELECT id, ?2 FROM messages WHERE id = ?1",
                params![message_id, url],
            )?;
            Ok(shown > 0)
        })
        .await
    }
}

/// The preview a message shows, if its link's fetch found one.
pub(super) fn load(conn: &Connection, message_id: MessageId) -> Result<Option<LinkPreview>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.url, p.title, p.description, p.image FROM message_previews x JOIN link_previews p ON p.url = x.url
         WHERE x.message_id = ?1 AND (p.title IS NOT NULL OR p.description IS NOT NULL OR p.image IS NOT NULL)",
    )?;
    Ok(stmt
        .query_row([message_id], |row| {
            Ok(LinkPreview { url: row.get(0)?, title: row.get(1)?, description: row.get(2)?, image: row.get(3)? })
        })
        .optional()?)
}
