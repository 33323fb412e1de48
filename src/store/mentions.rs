//! Mentions: which members a message mentions by `@name` (the server decides who may be
//! mentioned; the store keeps the rows and pages them).

use super::messages::load_message;
use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::proto::{MentionPage, User};
use rusqlite::{params, OptionalExtension};

impl Store {
    /// The accounts with these names (compared without regard to case); unknown names are
    /// left out.
    pub(crate) async fn users_named(&self, names: Vec<String>) -> Result<Vec<User>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT id, username, role FROM users WHERE username = ?1")?;
            let mut users: Vec<User> = Vec::new();
            for name in names {
                let user = stmt
                    .query_row([name], |row| {
                        Ok((row.get::<_, UserId>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
                    })
                    .optional()?;
                if let Some((id, username, role)) = user {
                    let role = role.parse().map_err(StoreError::Database)?;
                    if !users.iter().any(|u| u.id == id) {
                        users.push(User { id, username, role });
                    }
                }
            }
            Ok(users)
        })
        .await
    }

    /// Records that `message_id` mentions exactly these users (an edit drops those it no longer
    /// mentions); answers those not recorded before.
    pub(crate) async fn record_mentions(
        &self,
        message_id: MessageId,
        users: Vec<UserId>,
    ) -> Result<Vec<UserId>, StoreError> {
        self.write(move |conn| {
            let kept = serde_json::to_string(&users).map_err(|err| StoreError::Database(err.to_string()))?;
            conn.prepare_cached(
                "DELETE FROM mentions WHERE message_id = ?1 AND user_id NOT IN (SELECT value FROM json_each(?2))",
            )?
            .execute(params![message_id, kept])?;
            let mut stmt = conn.prepare_cached(
                "INSERT OR IGNORE INTO mentions (user_id, message_id) SELECT ?1, id FROM messages WHERE id = ?2",
            )?;
            let mut added = Vec::new();
            for user in users {
                if stmt.execute(params![user, message_id])? > 0 {
                    added.push(user);
                }
            }
            Ok(added)
        })
        .await
    }

    /// Up to `limit` messages in `channels` that mention `user_id`, newest first, below `before`.
    pub(crate) async fn mentions_of(
        &self,
        user_id: UserId,
        channels: Vec<ChannelId>,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<MentionPage, StoreError> {
        let channels = serde_json::to_string(&channels).map_err(|err| StoreError::Database(err.to_string()))?;
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT m.id FROM mentions x JOIN messages m ON m.id = x.message_id
                 WHERE x.user_id = ?1 AND m.channel_id IN (SELECT value FROM json_each(?2)) AND m.id < ?3
                 ORDER BY m.id DESC LIMIT ?4",
            )?;
            let ids = stmt
                .query_map(params![user_id, channels, before.unwrap_or(MessageId(i64::MAX)), limit + 1], |row| {
                    row.get::<_, MessageId>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = ids.len() > limit as usize;
            let mut messages = Vec::new();
            for id in ids.into_iter().take(limit as usize) {
                messages.extend(load_message(conn, id)?);
            }
            Ok(MentionPage { messages, has_more })
        })
        .await
    }
}
