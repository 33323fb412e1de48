//! Reactions: which members reacted to a message with which emoji.

use super::{Store, StoreError};
use crate::ids::{MessageId, UserId};
use crate::proto::{MessageReactions, ReactionSummary};
use rusqlite::{params, Connection, OptionalExtension};

/// Most different emoji one member may put on one message.
pub const MAX_REACTIONS_PER_MEMBER: u32 = 20;

impl Store {
    /// Adds `user_id`'s reaction (again: nothing changes); answers the message's reactions and
    /// whether they changed.
    pub(crate) async fn add_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
        now: i64,
    ) -> Result<(MessageReactions, bool), StoreError> {
        self.write(move |conn| {
            let mine: u32 = conn.query_row(
                "SELECT COUNT(*) FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND emoji != ?3",
                params![message_id, user_id, emoji],
                |row| row.get(0),
            )?;
            if mine >= MAX_REACTIONS_PER_MEMBER {
                return Err(StoreError::LimitReached(format!(
                    "a member can put at most {MAX_REACTIONS_PER_MEMBER} different reactions on a message"
                )));
            }
            let changed = conn.execute(
                "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, created_at)
                 SELECT id, ?2, ?3, ?4 FROM messages WHERE id = ?1",
                params![message_id, emoji, user_id, now],
            )?;
            Ok((summary(conn, message_id)?, changed > 0))
        })
        .await
    }

    /// Takes back `user_id`'s reaction (if there is none: nothing changes); answers the
    /// message's reactions and whether they changed.
    pub(crate) async fn remove_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
    ) -> Result<(MessageReactions, bool), StoreError> {
        self.write(move |conn| {
            let changed = conn.execute(
                "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3",
                params![message_id, emoji, user_id],
            )?;
            Ok((summary(conn, message_id)?, changed > 0))
        })
        .await
    }
}

fn summary(conn: &Connection, message_id: MessageId) -> Result<MessageReactions, StoreError> {
    let channel_id = conn
        .query_row("SELECT channel_id FROM messages WHERE id = ?1", [message_id], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::NotFound)?;
    Ok(MessageReactions { channel_id, message_id, reactions: load(conn, message_id)? })
}

/// A message's reactions, each emoji in the order it was first used, its members in the order
/// they reacted.
pub(super) fn load(conn: &Connection, message_id: MessageId) -> Result<Vec<ReactionSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT emoji, user_id FROM reactions WHERE message_id = ?1 ORDER BY created_at, user_id, emoji",
    )?;
    let rows = stmt.query_map([message_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, UserId>(1)?)))?;
    let mut reactions: Vec<ReactionSummary> = Vec::new();
    for row in rows {
        let (emoji, user) = row?;
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(summary) => {
                summary.users.push(user);
                summary.count += 1;
            }
            None => reactions.push(ReactionSummary { emoji, count: 1, users: vec![user] }),
        }
    }
    Ok(reactions)
}
