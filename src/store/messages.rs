//! Chat messages: storing, editing and deleting them, and pages of a channel's history.

use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{HistoryPage, Message, User};
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// Stores a message; resolves once it is durable.
    pub(crate) async fn insert_message(
        &self,
        channel_id: ChannelId,
        author: User,
        body: String,
        now: i64,
    ) -> Result<Message, StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO messages (channel_id, author_id, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![channel_id, author.id, body, now])?;
            Ok(Message {
                id: MessageId(conn.last_insert_rowid()),
                channel_id,
                author_id: author.id,
                author: author.username,
                body,
                created_at: now,
                edited_at: None,
            })
        })
        .await
    }

    /// One message.
    pub async fn message(&self, message_id: MessageId) -> Result<Option<Message>, StoreError> {
        self.read(move |conn| load_message(conn, message_id)).await
    }

    /// Replaces a message's body.
    pub async fn edit_message(&self, message_id: MessageId, body: String, now: i64) -> Result<Message, StoreError> {
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE messages SET body = ?1, edited_at = ?2 WHERE id = ?3",
                params![body, now, message_id],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            load_message(conn, message_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Deletes a message for good.
    pub async fn delete_message(&self, message_id: MessageId) -> Result<(), StoreError> {
        self.write(move |conn| match conn.execute("DELETE FROM messages WHERE id = ?1", [message_id])? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        })
        .await
    }

    /// Up to `limit` messages of a channel with ids below `before`, oldest first.
    pub async fn history(
        &self,
        channel_id: ChannelId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{MESSAGE_SELECT} WHERE m.channel_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
            ))?;
            let mut messages = stmt
                .query_map(params![channel_id, before.unwrap_or(MessageId(i64::MAX)), limit + 1], message_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            messages.reverse();
            Ok(HistoryPage { messages, has_more })
        })
        .await
    }
}
const MESSAGE_SELECT: &str = "SELECT m.id, m.channel_id, m.author_id, u.username, m.body, m.created_at, m.edited_at
     FROM messages m JOIN users u ON u.id = m.author_id";

fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        author_id: row.get(2)?,
        author: row.get(3)?,
        body: row.get(4)?,
        created_at: row.get(5)?,
        edited_at: row.get(6)?,
    })
}

fn load_message(conn: &Connection, message_id: MessageId) -> Result<Option<Message>, StoreError> {
    Ok(conn.query_row(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"), [message_id], message_row).optional()?)
}
