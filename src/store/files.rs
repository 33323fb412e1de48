//! Files and custom emoji: the content-addressed blobs kept under `uploads/` (their SHA-256 and
//! size), the files that name them (name, type, uploader, picture facts), the files messages
//! carry, who may read a file, and the custom emoji that name a picture.

use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::proto::{CustomEmoji, FileInfo, ImageInfo, Message, User};
use rusqlite::{params, Connection, OptionalExtension};

/// A file to record, whose blob (and thumbnail's) is already in place under `uploads/`.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// SHA-256 of what is served, lowercase hex.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// The uploader's name for it.
    pub name: String,
    /// Its content type.
    pub content_type: Option<String>,
    /// The uploader.
    pub uploader: User,
    /// Picture facts, for a picture.
    pub image: Option<NewImage>,
    /// Now, Unix ms.
    pub now: i64,
}

/// What the server made of a picture.
#[derive(Debug, Clone)]
pub struct NewImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// SHA-256 and size of its thumbnail.
    pub thumbnail: (String, u64),
    /// Whether the stored file was re-encoded without metadata.
    pub metadata_stripped: bool,
}

/// A stored file and where its thumbnail is.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// The file as clients see it.
    pub info: FileInfo,
    /// SHA-256 of its thumbnail, for a picture.
    pub thumbnail_sha256: Option<String>,
}

impl Store {
    /// Bytes of every blob kept (files and thumbnails, each distinct content once).
    pub async fn storage_used(&self) -> Result<u64, StoreError> {
        self.read(|conn| Ok(conn.query_row("SELECT COALESCE(SUM(size), 0) FROM blobs", [], |row| row.get(0))?)).await
    }

    /// Records a file whose blob is in place; a blob already known is recorded once.
    pub async fn insert_file(&self, file: NewFile) -> Result<FileInfo, StoreError> {
        self.write(move |conn| insert_file(conn, &file)).await
    }

    /// One file.
    pub async fn file(&self, file_id: i64) -> Result<Option<StoredFile>, StoreError> {
        self.read(move |conn| load_file(conn, file_id)).await
    }

    /// Where `file_id` may be read from: whether it is `user_id`'s own upload or a custom emoji
    /// (readable by everyone), and the channels of the messages that carry it (the caller asks
    /// the visibility rule about those).
    pub async fn file_reach(&self, file_id: i64, user_id: UserId) -> Result<(bool, Vec<ChannelId>), StoreError> {
        self.read(move |conn| {
            let open: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM files WHERE id = ?1 AND uploader_id = ?2)
                     OR EXISTS (SELECT 1 FROM custom_emoji WHERE file_id = ?1)",
                params![file_id, user_id],
                |row| row.get(0),
            )?;
            let channels = conn
                .prepare_cached(
                    "SELECT DISTINCT m.channel_id FROM message_files mf JOIN messages m ON m.id = mf.message_id
                     WHERE mf.file_id = ?1",
                )?
                .query_map([file_id], |row| row.get(0))?
                .collect::<Result<Vec<ChannelId>, _>>()?;
            Ok((open, channels))
        })
        .await
    }

    /// Deletes the files uploaded before `uploaded_before` (Unix ms) that no message and no
    /// custom emoji carries: uploads their sender never attached. Answers the SHA-256s of the
    /// blobs no file names any more, for the caller to remove from `uploads/`.
    pub async fn collect_unattached_files(&self, uploaded_before: i64) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let unattached = conn
                .prepare_cached(
                    "SELECT id FROM files f WHERE created_at < ?1
                         AND NOT EXISTS (SELECT 1 FROM message_files WHERE file_id = f.id)
                         AND NOT EXISTS (SELECT 1 FROM custom_emoji WHERE file_id = f.id)",
                )?
                .query_map([uploaded_before], |row| row.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            collect_files(conn, &unattached)
        })
        .await
    }

    /// Every custom emoji, by shortcode.
    pub async fn list_emoji(&self) -> Result<Vec<CustomEmoji>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{EMOJI_SELECT} ORDER BY e.shortcode"))?;
            let emoji = stmt.query_map([], emoji_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(emoji)
        })
        .await
    }

    /// Records a picture (in place under `uploads/`) as custom emoji `shortcode`; refused when
    /// the shortcode is taken or `max` emoji exist.
    pub async fn add_emoji(&self, shortcode: String, file: NewFile, max: usize) -> Result<CustomEmoji, StoreError> {
        self.write(move |conn| {
            let count: i64 = conn.query_row("SELECT COUNT(*) FROM custom_emoji", [], |row| row.get(0))?;
            if count >= max as i64 {
                return Err(StoreError::EmojiLimit);
            }
            if load_emoji(conn, &shortcode)?.is_some() {
                return Err(StoreError::EmojiTaken);
            }
            let info = insert_file(conn, &file)?;
            conn.execute(
                "INSERT INTO custom_emoji (shortcode, file_id, created_by, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![shortcode, info.file_id, file.uploader.id, file.now],
            )?;
            load_emoji(conn, &shortcode)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Renames a custom emoji.
    pub async fn rename_emoji(&self, shortcode: String, new_shortcode: String) -> Result<CustomEmoji, StoreError> {
        self.write(move |conn| {
            if load_emoji(conn, &new_shortcode)?.is_some() {
                return Err(StoreError::EmojiTaken);
            }
            let changed = conn.execute(
                "UPDATE custom_emoji SET shortcode = ?1 WHERE shortcode = ?2",
                params![new_shortcode, shortcode],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            load_emoji(conn, &new_shortcode)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Removes a custom emoji, and its picture unless a message carries it too. Answers the
    /// SHA-256s of the blobs no file names any more, for the caller to remove from `uploads/`.
    pub async fn remove_emoji(&self, shortcode: String) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let file_id: Option<i64> = conn
                .query_row("SELECT file_id FROM custom_emoji WHERE shortcode = ?1", [&shortcode], |row| row.get(0))
                .optional()?;
            let file_id = file_id.ok_or(StoreError::NotFound)?;
            conn.execute("DELETE FROM custom_emoji WHERE shortcode = ?1", [&shortcode])?;
            collect_files(conn, &[file_id])
        })
        .await
    }
}

/// Links files to a new message, in order; each must be one the author uploaded.
pub(super) fn attach_files(
    conn: &Connection,
    message_id: MessageId,
    author: UserId,
    file_ids: &[i64],
) -> Result<Vec<FileInfo>, StoreError> {
    let mut attached = Vec::with_capacity(file_ids.len());
    for (position, file_id) in file_ids.iter().enumerate() {
        let owned: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM files WHERE id = ?1 AND uploader_id = ?2)",
            params![file_id, author],
            |row| row.get(0),
        )?;
        let file = load_file(conn, *file_id)?.filter(|_| owned).ok_or(StoreError::NotFound)?;
        conn.execute(
            "INSERT OR IGNORE INTO message_files (message_id, file_id, position) VALUES (?1, ?2, ?3)",
            params![message_id, file_id, position as i64],
        )?;
        attached.push(file.info);
    }
    Ok(attached)
}

/// Fills in the files each message carries.
pub(super) fn fill_attachments(conn: &Connection, messages: &mut [Message]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT file_id FROM message_files WHERE message_id = ?1 ORDER BY position")?;
    for message in messages.iter_mut() {
        let ids = stmt.query_map([message.id], |row| row.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
        message.attachments = ids
            .into_iter()
            .map(|id| Ok(load_file(conn, id)?.ok_or(StoreError::NotFound)?.info))
            .collect::<Result<_, StoreError>>()?;
    }
    Ok(())
}

fn insert_file(conn: &Connection, file: &NewFile) -> Result<FileInfo, StoreError> {
    let mut add_blob = conn.prepare_cached("INSERT OR IGNORE INTO blobs (sha256, size) VALUES (?1, ?2)")?;
    add_blob.execute(params![file.sha256, file.size as i64])?;
    if let Some(image) = &file.image {
        add_blob.execute(params![image.thumbnail.0, image.thumbnail.1 as i64])?;
    }
    let image = file.image.as_ref();
    conn.execute(
        "INSERT INTO files (sha256, name, content_type, uploader_id, created_at, width, height, thumbnail_sha256,
             metadata_stripped) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            file.sha256,
            file.name,
            file.content_type,
            file.uploader.id,
            file.now,
            image.map(|i| i.width),
            image.map(|i| i.height),
            image.map(|i| &i.thumbnail.0),
            image.is_some_and(|i| i.metadata_stripped),
        ],
    )?;
    Ok(load_file(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)?.info)
}

fn load_file(conn: &Connection, file_id: i64) -> Result<Option<StoredFile>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.id, f.name, b.size, f.content_type, f.sha256, COALESCE(u.username, ''), f.created_at,
             f.width, f.height, tb.size, f.metadata_stripped, f.thumbnail_sha256
         FROM files f JOIN blobs b ON b.sha256 = f.sha256 LEFT JOIN users u ON u.id = f.uploader_id
         LEFT JOIN blobs tb ON tb.sha256 = f.thumbnail_sha256 WHERE f.id = ?1",
    )?;
    Ok(stmt
        .query_row([file_id], |row| {
            let width: Option<u32> = row.get(7)?;
            let height: Option<u32> = row.get(8)?;
            let image = match (width, height) {
                (Some(width), Some(height)) => Some(ImageInfo {
                    width,
                    height,
                    thumbnail_size: row.get::<_, Option<i64>>(9)?.unwrap_or(0) as u64,
                    metadata_stripped: row.get(10)?,
                }),
                _ => None,
            };
            let info = FileInfo {
                file_id: row.get(0)?,
                name: row.get(1)?,
                size: row.get::<_, i64>(2)? as u64,
                content_type: row.get(3)?,
                sha256: row.get(4)?,
                uploader: row.get(5)?,
                created_at: row.get(6)?,
                image,
            };
            Ok(StoredFile { info, thumbnail_sha256: row.get(11)? })
        })
        .optional()?)
}

const EMOJI_SELECT: &str = "SELECT e.shortcode, e.file_id, COALESCE(f.content_type, ''), u.username, e.created_at
     FROM custom_emoji e JOIN files f ON f.id = e.file_id LEFT JOIN users u ON u.id = e.created_by";

fn emoji_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CustomEmoji> {
    Ok(CustomEmoji {
        shortcode: row.get(0)?,
        file_id: row.get(1)?,
        content_type: row.get(2)?,
        created_by: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn load_emoji(conn: &Connection, shortcode: &str) -> Result<Option<CustomEmoji>, StoreError> {
    Ok(conn.query_row(&format!("{EMOJI_SELECT} WHERE e.shortcode = ?1"), [shortcode], emoji_row).optional()?)
}

/// The files carried by the messages `messages_sql` selects (an `SELECT id FROM messages …`
/// with one parameter), to collect once those are deleted.
pub(super) fn carried_files(conn: &Connection, messages_sql: &str, param: i64) -> Result<Vec<i64>, StoreError> {
    let sql = format!("SELECT DISTINCT file_id FROM message_files WHERE message_id IN ({messages_sql})");
    Ok(conn.prepare_cached(&sql)?.query_map([param], |row| row.get(0))?.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes those of `file_ids` that no message and no custom emoji refers to any more, then
/// forgets the blobs no file names (see [`forget_orphan_blobs`]). Callers pass the files that
/// lost a reference (a deleted message, channel, emoji or account) or, from
/// [`Store::collect_unattached_files`], old uploads never attached; a fresh upload is not passed.
pub(super) fn collect_files(conn: &Connection, file_ids: &[i64]) -> Result<Vec<String>, StoreError> {
    for file_id in file_ids {
        conn.execute(
            "DELETE FROM files WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM message_files WHERE file_id = ?1)
                 AND NOT EXISTS (SELECT 1 FROM custom_emoji WHERE file_id = ?1)",
            [file_id],
        )?;
    }
    forget_orphan_blobs(conn)
}

/// Forgets the blobs that no file names any more (as its content or its thumbnail); answers
/// their SHA-256s, for the caller to remove from `uploads/`.
fn forget_orphan_blobs(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let orphans = conn
        .prepare_cached(
            "SELECT sha256 FROM blobs b WHERE NOT EXISTS
                 (SELECT 1 FROM files f WHERE f.sha256 = b.sha256 OR f.thumbnail_sha256 = b.sha256)",
        )?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for sha256 in &orphans {
        conn.execute("DELETE FROM blobs WHERE sha256 = ?1", [sha256])?;
    }
    Ok(orphans)
}

#[cfg(test)]
mod tests {
    use super::NewFile;
    use crate::ids::ChannelId;
    use crate::proto::{Role, User};
    use crate::store::tests::open;

    fn file(sha256: &str, uploader: &User, now: i64) -> NewFile {
        NewFile {
            sha256: sha256.into(),
            size: 10,
            name: format!("{sha256}.txt"),
            content_type: None,
            uploader: uploader.clone(),
            image: None,
            now,
        }
    }

    #[tokio::test]
    async fn old_unattached_uploads_are_collected_and_everything_carried_stays() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Admin, 1).await.expect("ok");
        let old = 1_000;
        let forgotten = store.insert_file(file("aa", &ann, old)).await.expect("ok");
        let sent = store.insert_file(file("bb", &ann, old)).await.expect("ok");
        let same_bytes_as_sent = store.insert_file(file("bb", &ann, old)).await.expect("ok");
        let recent = store.insert_file(file("cc", &ann, 50_000)).await.expect("ok");
        let emoji = store.add_emoji("wave".into(), file("dd", &ann, old), 10).await.expect("ok");
        store
            .insert_message_with_files(ChannelId(1), ann.clone(), "see".into(), None, vec![sent.file_id], old)
            .await
            .expect("ok");

        let removed = store.collect_unattached_files(10_000).await.expect("ok");

        assert_eq!(removed, vec!["aa".to_string()], "only the forgotten upload's blob goes; bb is still named");
        assert!(store.file(forgotten.file_id).await.expect("ok").is_none());
        assert!(
            store.file(same_bytes_as_sent.file_id).await.expect("ok").is_none(),
            "unattached, though its bytes stay"
        );
        for kept in [sent.file_id, recent.file_id, emoji.file_id] {
            assert!(store.file(kept).await.expect("ok").is_some(), "file {kept} stays");
        }
        assert_eq!(store.storage_used().await.expect("ok"), 30, "bb, cc and dd remain");
        assert!(store.collect_unattached_files(10_000).await.expect("ok").is_empty(), "a second pass finds nothing");
    }
}
