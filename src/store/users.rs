//! Accounts (the default admin, registration, passwords, roles, status) and their login sessions.

use super::{Store, StoreError};
use crate::ids::UserId;
use crate::proto::{Role, User, UserPresence};
use rusqlite::{params, Connection, OptionalExtension};

/// A user row with what only the server may see.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Must change the password before anything else.
    pub must_change_password: bool,
    /// Custom status text.
    pub status: Option<String>,
    /// Registered while `[auth] require_approval` is on, and not approved yet.
    pub pending: bool,
}

impl Store {
    /// Creates the default admin (the owner) if there are no users at all. Returns whether it did.
    pub(crate) async fn ensure_default_admin(
        &self,
        username: String,
        password_hash: String,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let users: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
            if users > 0 {
                return Ok(false);
            }
            conn.execute(
                "INSERT INTO users (username, password_hash, role, must_change_password, created_at)
                 VALUES (?1, ?2, 'owner', 1, ?3)",
                params![username, password_hash, now],
            )?;
            Ok(true)
        })
        .await
    }

    /// Creates an account.
    pub(crate) async fn create_user(
        &self,
        username: String,
        password_hash: String,
        role: Role,
        now: i64,
    ) -> Result<User, StoreError> {
        self.write(move |conn| insert_user(conn, username, password_hash, role, now)).await
    }

    /// Looks a user up by name (case-insensitive).
    pub async fn user_by_name(&self, username: String) -> Result<Option<UserRecord>, StoreError> {
        self.read(move |conn| {
            Ok(conn.query_row(&format!("{USER_SELECT} WHERE username = ?1"), [username], user_record).optional()?)
        })
        .await
    }

    /// Replaces a user's password hash and clears the must-change flag; ends their other sessions.
    pub(crate) async fn set_password(
        &self,
        user_id: UserId,
        password_hash: String,
        keep_token_hash: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?1, must_change_password = 0 WHERE id = ?2",
                params![password_hash, user_id],
            )?;
            conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
                params![user_id, keep_token_hash],
            )?;
            Ok(())
        })
        .await
    }

    /// Sets a user's role.
    pub async fn set_role(&self, username: String, role: Role) -> Result<User, StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE users SET role = ?1 WHERE username = ?2", params![role.as_str(), username])?;
            let record =
                conn.query_row(&format!("{USER_SELECT} WHERE username = ?1"), [username], user_record).optional()?;
            record.map(|r| r.user).ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Sets or clears a user's custom status.
    pub async fn set_status(&self, user_id: UserId, status: Option<String>) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE users SET status = ?1 WHERE id = ?2", params![status, user_id])?;
            Ok(())
        })
        .await
    }

    /// Every account but those waiting for approval, by name; `online` is left false for the
    /// caller to fill.
    pub async fn list_users(&self) -> Result<Vec<UserPresence>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{USER_SELECT} WHERE pending = 0 ORDER BY username"))?;
            let rows = stmt.query_map([], user_record)?;
            let mut users = Vec::new();
            for row in rows {
                let record = row?;
                users.push(UserPresence { user: record.user, online: false, status: record.status });
            }
            Ok(users)
        })
        .await
    }

    /// Stores a new session token's hash.
    pub(crate) async fn create_session(
        &self,
        token_hash: Vec<u8>,
        user_id: UserId,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![token_hash, user_id, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    /// The user and expiry of an unexpired session token.
    pub(crate) async fn session_user(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<Option<(UserRecord, i64)>, StoreError> {
        self.read(move |conn| {
            let sql = "SELECT u.id, u.username, u.role, u.password_hash, u.must_change_password, u.status, u.pending,
                    s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2";
            Ok(conn.query_row(sql, params![token_hash, now], |row| Ok((user_record(row)?, row.get(7)?))).optional()?)
        })
        .await
    }

    /// Ends a session.
    pub(crate) async fn delete_session(&self, token_hash: Vec<u8>) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
            Ok(())
        })
        .await
    }
}
pub(super) fn insert_user(
    conn: &Connection,
    username: String,
    password_hash: String,
    role: Role,
    now: i64,
) -> Result<User, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![username, password_hash, role.as_str(), now],
    );
    match inserted {
        Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::UsernameTaken)
        }
        Err(err) => Err(err.into()),
        Ok(_) => Ok(User { id: UserId(conn.last_insert_rowid()), username, role }),
    }
}

const USER_SELECT: &str = "SELECT id, username, role, password_hash, must_change_password, status, pending FROM users";

fn user_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        user: User { id: row.get(0)?, username: row.get(1)?, role: role_from_name(&row.get::<_, String>(2)?) },
        password_hash: row.get(3)?,
        must_change_password: row.get(4)?,
        status: row.get(5)?,
        pending: row.get(6)?,
    })
}

pub(super) fn role_from_name(name: &str) -> Role {
    name.parse().unwrap_or(Role::Member)
}

#[cfg(test)]
mod tests {
    use crate::proto::Role;
    use crate::store::tests::open;

    #[tokio::test]
    async fn sessions_expire() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        store.create_session(vec![1, 2], ann.id, 1000, 0).await.expect("ok");
        assert!(store.session_user(vec![1, 2], 999).await.expect("ok").is_some());
        assert!(store.session_user(vec![1, 2], 1000).await.expect("ok").is_none());
        assert!(store.session_user(vec![9], 0).await.expect("ok").is_none());
    }
}
