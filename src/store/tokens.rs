//! Access tokens for the REST API: creating, listing, revoking, and finding the holder of a
//! token by the SHA-256 of its secret (the secret itself is never stored).

use super::users::role_from_name;
use super::{Store, StoreError};
use crate::ids::UserId;
use crate::proto::{Scope, TokenInfo, User};
use rusqlite::{params, Connection, OptionalExtension};

/// A new token, as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// The admin's name for it.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The admin it acts as.
    pub user_id: UserId,
    /// Unix milliseconds; none = never.
    pub expires_at: Option<i64>,
}

/// Who a valid token acts as, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    /// The token.
    pub token_id: i64,
    /// The admin it acts as, with their role now.
    pub user: User,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was last used, Unix milliseconds.
    pub last_used_at: Option<i64>,
}

impl Store {
    /// Stores a new token.
    pub async fn create_token(&self, token: NewToken, now: i64) -> Result<TokenInfo, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO access_tokens (secret_hash, name, scopes, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token.secret_hash,
                    token.name,
                    scopes_text(&token.scopes),
                    token.user_id,
                    now,
                    token.expires_at
                ],
            )?;
            load_token(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Every token, newest first (expired ones too, until revoked).
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{TOKEN_SELECT} ORDER BY t.id DESC"))?;
            let tokens = stmt.query_map([], token_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(tokens)
        })
        .await
    }

    /// Deletes a token; it is refused from the next request on.
    pub async fn revoke_token(&self, token_id: i64) -> Result<TokenInfo, StoreError> {
        self.write(move |conn| {
            let token = load_token(conn, token_id)?.ok_or(StoreError::NotFound)?;
            conn.execute("DELETE FROM access_tokens WHERE id = ?1", [token_id])?;
            Ok(token)
        })
        .await
    }

    /// The holder of the unexpired token whose secret hashes to `secret_hash`.
    pub async fn token_holder(&self, secret_hash: Vec<u8>, now: i64) -> Result<Option<TokenHolder>, StoreError> {
        self.read(move |conn| {
            let found = conn
                .query_row(
                    "SELECT t.id, t.scopes, t.last_used_at, u.id, u.username, u.role
                     FROM access_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.secret_hash = ?1 AND (t.expires_at IS NULL OR t.expires_at > ?2)",
                    params![secret_hash, now],
                    |row| {
                        Ok(TokenHolder {
                            token_id: row.get(0)?,
                            scopes: scopes_from_text(&row.get::<_, String>(1)?),
                            last_used_at: row.get(2)?,
                            user: User {
                                id: row.get(3)?,
                                username: row.get(4)?,
                                role: role_from_name(&row.get::<_, String>(5)?),
                            },
                        })
                    },
                )
                .optional()?;
            Ok(found)
        })
        .await
    }

    /// Records that a token was used at `now`.
    pub async fn touch_token(&self, token_id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE access_tokens SET last_used_at = ?2 WHERE id = ?1", params![token_id, now])?;
            Ok(())
        })
        .await
    }
}

/// Tokens with their creator's name.
const TOKEN_SELECT: &str = "SELECT t.id, t.name, t.scopes, u.username, t.created_at, t.last_used_at, t.expires_at
     FROM access_tokens t JOIN users u ON u.id = t.user_id";

fn load_token(conn: &Connection, token_id: i64) -> Result<Option<TokenInfo>, StoreError> {
    Ok(conn.query_row(&format!("{TOKEN_SELECT} WHERE t.id = ?1"), [token_id], token_row).optional()?)
}

fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.get(0)?,
        name: row.get(1)?,
        scopes: scopes_from_text(&row.get::<_, String>(2)?),
        created_by: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        expires_at: row.get(6)?,
    })
}

/// Scopes as stored: their names, comma-separated.
fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(",")
}

/// Stored scopes; an unknown name (from a newer version) grants nothing.
fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split(',').filter_map(|name| name.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::NewToken;
    use crate::proto::{Role, Scope};
    use crate::store::tests::open;

    #[tokio::test]
    async fn tokens_are_found_by_hash_until_expired_or_revoked() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Admin, 1).await.expect("ok");
        let new = |hash: u8, expires_at| NewToken {
            secret_hash: vec![hash],
            name: format!("bot{hash}"),
            scopes: vec![Scope::Read, Scope::Admin],
            user_id: ann.id,
            expires_at,
        };
        let forever = store.create_token(new(1, None), 10).await.expect("stored");
        let brief = store.create_token(new(2, Some(100)), 10).await.expect("stored");
        assert_eq!(
            (forever.scopes.as_slice(), forever.created_by.as_str()),
            ([Scope::Read, Scope::Admin].as_slice(), "ann")
        );
        let holder = store.token_holder(vec![1], 50).await.expect("ok").expect("valid");
        assert_eq!((holder.token_id, holder.user.id, holder.last_used_at), (forever.id, ann.id, None));
        assert!(store.token_holder(vec![2], 99).await.expect("ok").is_some());
        assert!(store.token_holder(vec![2], 100).await.expect("ok").is_none(), "expired");
        assert!(store.token_holder(vec![3], 0).await.expect("ok").is_none(), "unknown");
        store.touch_token(forever.id, 60).await.expect("ok");
        let listed = store.list_tokens().await.expect("ok");
        assert_eq!(
            listed.iter().map(|t| (t.id, t.last_used_at)).collect::<Vec<_>>(),
            [(brief.id, None), (forever.id, Some(60))]
        );
        store.revoke_token(forever.id).await.expect("revoked");
        assert!(store.token_holder(vec![1], 50).await.expect("ok").is_none(), "revoked");
        assert!(matches!(store.revoke_token(forever.id).await, Err(crate::store::StoreError::NotFound)));
    }
}
