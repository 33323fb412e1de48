//! Data rights: a member's export (profile and messages) and deleting an account with
//! everything that is theirs.

use super::messages::{decorate, message_row, MESSAGE_SELECT};
use super::moderation::{insert_audit, NewAuditEntry};
use super::users::role_from_name;
use super::{Store, StoreError};
use crate::ids::UserId;
use crate::proto::{DataExport, User};
use rusqlite::OptionalExtension;

impl Store {
    /// Everything kept of `user_id`, as of `now`.
    pub async fn export_user(&self, user_id: UserId, now: i64) -> Result<DataExport, StoreError> {
        self.read(move |conn| {
            let profile = conn
                .query_row("SELECT id, username, role, status, created_at FROM users WHERE id = ?1", [user_id], |row| {
                    let user = User {
                        id: row.get(0)?,
                        username: row.get(1)?,
                        role: role_from_name(&row.get::<_, String>(2)?),
                    };
                    Ok((user, row.get::<_, Option<String>>(3)?, row.get::<_, i64>(4)?))
                })
                .optional()?;
            let (user, status, created_at) = profile.ok_or(StoreError::NotFound)?;
            let mut stmt = conn.prepare(&format!("{MESSAGE_SELECT} WHERE m.author_id = ?1 ORDER BY m.id ASC"))?;
            let mut messages = stmt.query_map([user_id], message_row)?.collect::<Result<Vec<_>, _>>()?;
            decorate(conn, &mut messages)?;
            Ok(DataExport { user, status, created_at, exported_at: now, messages })
        })
        .await
    }

    /// Deletes an account and everything that is theirs: their messages, sessions, access
    /// tokens, VPN peers, read markers and direct-channel memberships (through the tables'
    /// `ON DELETE CASCADE`), the invites they made, and the files they uploaded (but the
    /// pictures of custom emoji, which are the server's), with its audit line in the same
    /// transaction. Answers the SHA-256s of the blobs no file names any more, for the caller to
    /// remove from `uploads/`.
    pub(crate) async fn delete_user(&self, user_id: UserId, audit: NewAuditEntry) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let files = conn
                .prepare_cached(
                    "SELECT id FROM files WHERE uploader_id = ?1 AND id NOT IN (SELECT file_id FROM custom_emoji)",
                )?
                .query_map([user_id], |row| row.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            conn.execute("DELETE FROM invites WHERE created_by = ?1", [user_id])?;
            if conn.execute("DELETE FROM users WHERE id = ?1", [user_id])? == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit(conn, audit)?;
            super::files::collect_files(conn, &files)
        })
        .await
    }
}
