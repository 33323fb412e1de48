//! Invites: creating, listing, revoking and redeeming them (an account and a counted use in one
//! transaction).

use super::users::{insert_user, role_from_name};
use super::{Store, StoreError};
use crate::ids::UserId;
use crate::proto::{InviteInfo, InviteState, Role, User};
use rusqlite::{params, Connection, OptionalExtension};

/// Why an invite cannot create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteUnusable {
    /// No invite has this secret.
    #[error("this invite is not known here; check that it was copied whole")]
    Unknown,
    /// It has created all the accounts it may.
    #[error("this invite has already been used; ask for a new one")]
    UsedUp,
    /// Its time is over.
    #[error("this invite has expired; ask for a new one")]
    Expired,
    /// An admin revoked it.
    #[error("this invite was withdrawn; ask for a new one")]
    Revoked,
}

/// What a new invite allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// SHA-256 of the secret; the secret itself is never stored.
    pub secret_hash: Vec<u8>,
    /// The role of the accounts it creates.
    pub role: Role,
    /// Accounts it can create.
    pub max_uses: u32,
    /// Unix milliseconds; none = never.
    pub expires_at: Option<i64>,
    /// The admin's note.
    pub note: Option<String>,
    /// The admin who made it.
    pub created_by: Option<UserId>,
}

impl Store {
    /// Stores a new invite.
    pub async fn create_invite(&self, invite: NewInvite, now: i64) -> Result<InviteInfo, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO invites (secret_hash, role, max_uses, expires_at, note, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    invite.secret_hash,
                    invite.role.as_str(),
                    invite.max_uses,
                    invite.expires_at,
                    invite.note,
                    invite.created_by,
                    now
                ],
            )?;
            load_invite(conn, conn.last_insert_rowid(), now)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Every invite, newest first, with its state at `now`.
    pub async fn list_invites(&self, now: i64) -> Result<Vec<InviteInfo>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!("{INVITE_SELECT} ORDER BY i.id DESC"))?;
            let invites = stmt.query_map([now], invite_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(invites)
        })
        .await
    }

    /// Revokes an invite (revoking twice keeps the first time).
    pub async fn revoke_invite(&self, invite_id: i64, now: i64) -> Result<InviteInfo, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE invites SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![invite_id, now],
            )?;
            load_invite(conn, invite_id, now)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Creates an account with the invite whose secret hashes to `secret_hash`, and counts the
    /// use, in one transaction: two people racing for a single-use invite get one account.
    pub async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        username: String,
        password_hash: String,
        now: i64,
    ) -> Result<User, StoreError> {
        self.write(move |conn| {
            let found = conn
                .query_row(&format!("{INVITE_SELECT} WHERE i.secret_hash = ?2"), params![now, secret_hash], invite_row)
                .optional()?;
            let invite = found.ok_or(StoreError::InviteUnusable(InviteUnusable::Unknown))?;
            match invite.state {
                InviteState::Active => {}
                InviteState::UsedUp => return Err(StoreError::InviteUnusable(InviteUnusable::UsedUp)),
                InviteState::Expired => return Err(StoreError::InviteUnusable(InviteUnusable::Expired)),
                InviteState::Revoked => return Err(StoreError::InviteUnusable(InviteUnusable::Revoked)),
            }
            let user = insert_user(conn, username, password_hash, invite.role, now)?;
            conn.execute("UPDATE invites SET uses = uses + 1 WHERE id = ?1", [invite.id])?;
            Ok(user)
        })
        .await
    }
}
/// Invites with their creator's name; `?1` is now (Unix ms), for the state.
const INVITE_SELECT: &str = "SELECT i.id, i.role, i.max_uses, i.uses, i.expires_at, i.note, i.created_at, u.username,
     CASE WHEN i.revoked_at IS NOT NULL THEN 'revoked'
          WHEN i.uses >= i.max_uses THEN 'used_up'
          WHEN i.expires_at IS NOT NULL AND i.expires_at <= ?1 THEN 'expired'
          ELSE 'active' END
     FROM invites i LEFT JOIN users u ON u.id = i.created_by";

fn invite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<InviteInfo> {
    let state = match row.get::<_, String>(8)?.as_str() {
        "revoked" => InviteState::Revoked,
        "used_up" => InviteState::UsedUp,
        "expired" => InviteState::Expired,
        _ => InviteState::Active,
    };
    Ok(InviteInfo {
        id: row.get(0)?,
        role: role_from_name(&row.get::<_, String>(1)?),
        max_uses: row.get(2)?,
        uses: row.get(3)?,
        expires_at: row.get(4)?,
        note: row.get(5)?,
        created_at: row.get(6)?,
        created_by: row.get(7)?,
        state,
    })
}

fn load_invite(conn: &Connection, invite_id: i64, now: i64) -> Result<Option<InviteInfo>, StoreError> {
    Ok(conn.query_row(&format!("{INVITE_SELECT} WHERE i.id = ?2"), params![now, invite_id], invite_row).optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::open;

    #[tokio::test]
    async fn invites_expire_on_time_and_count_their_uses() {
        let (_dir, store) = open().await;
        let new = |secret: &[u8], expires_at| NewInvite {
            secret_hash: secret.to_vec(),
            role: Role::Member,
            max_uses: 2,
            expires_at,
            note: None,
            created_by: None,
        };
        let timed = store.create_invite(new(b"timed", Some(1_000)), 100).await.expect("creates");
        assert_eq!(timed.state, InviteState::Active);
        assert_eq!(store.list_invites(2_000).await.expect("lists")[0].state, InviteState::Expired);
        let late = store.redeem_invite(b"timed".to_vec(), "ann".into(), "h".into(), 2_000).await;
        assert!(matches!(late, Err(StoreError::InviteUnusable(InviteUnusable::Expired))), "{late:?}");
        let user = store.redeem_invite(b"timed".to_vec(), "ann".into(), "h".into(), 999).await.expect("in time");
        assert_eq!(user.role, Role::Member);
        let taken = store.redeem_invite(b"timed".to_vec(), "ANN".into(), "h".into(), 999).await;
        assert!(matches!(taken, Err(StoreError::UsernameTaken)), "{taken:?}");
        store.redeem_invite(b"timed".to_vec(), "bob".into(), "h".into(), 999).await.expect("second use");
        let listed = store.list_invites(999).await.expect("lists");
        assert_eq!((listed[0].uses, listed[0].state), (2, InviteState::UsedUp), "the failed attempt did not count");
    }
}
