//! Data rights: a member's export (profile and messages) and deleting an account with
//! everything that is theirs.

use super::messages::{message_row, MESSAGE_SELECT};
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
            let messages = stmt.query_map([user_id], message_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(DataExport { user, status, created_at, exported_at: now, messages })
        })
        .await
    }

    /// Deletes an account and everything that is theirs: their messages, sessions, access
    /// tokens, VPN peers, read markers and direct-channel memberships (through the tables'
    /// `ON DELETE CASCADE`), and the invites they made.
    pub async fn delete_user(&self, user_id: UserId) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM invites WHERE created_by = ?1", [user_id])?;
            match conn.execute("DELETE FROM users WHERE id = ?1", [user_id])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }
}
