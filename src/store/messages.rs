//! Chat messages: storing, editing and deleting them, and pages of a channel's history.

use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{HistoryPage, Message, User};
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// Stores a message; resolves once it is durable. With a `client_id` the author already
    /// used, stores nothing and answers the stored message instead, with `false`.
    #[cfg(test)]
    pub(crate) async fn insert_message(
        &self,
        channel_id: ChannelId,
        author: User,
        body: String,
        client_id: Option<String>,
        now: i64,
    ) -> Result<(Message, bool), StoreError> {
        self.insert_message_with_files(channel_id, author, body, client_id, Vec::new(), now).await
    }

    /// [`Store::insert_message`] carrying files the author uploaded (`NotFound` for a file
    /// that is not theirs; nothing is stored then).
    pub(crate) async fn insert_message_with_files(
        &self,
        channel_id: ChannelId,
        author: User,
        body: String,
        client_id: Option<String>,
        attachments: Vec<i64>,
        now: i64,
    ) -> Result<(Message, bool), StoreError> {
        self.write(move |conn| {
            if let Some(client_id) = &client_id {
                let stored = conn
                    .query_row(
                        &format!("{MESSAGE_SELECT} WHERE m.author_id = ?1 AND m.client_id = ?2"),
                        params![author.id, client_id],
                        message_row,
                    )
                    .optional()?;
                if let Some(mut stored) = stored {
                    super::files::fill_attachments(conn, std::slice::from_mut(&mut stored))?;
                    return Ok((stored, false));
                }
            }
            conn.prepare_cached(
                "INSERT INTO messages (channel_id, author_id, body, created_at, client_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![channel_id, author.id, body, now, client_id])?;
            let id = MessageId(conn.last_insert_rowid());
            let attachments = super::files::attach_files(conn, id, author.id, &attachments)?;
            let message = Message {
                id,
                channel_id,
                author_id: author.id,
                author: author.username,
                body,
                created_at: now,
                edited_at: None,
                client_id,
                attachments,
            };
            Ok((message, true))
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

    /// Up to `limit` messages of a channel with ids above `after`, oldest first: the first
    /// page of what came after it.
    pub async fn history_after(
        &self,
        channel_id: ChannelId,
        after: MessageId,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{MESSAGE_SELECT} WHERE m.channel_id = ?1 AND m.id > ?2 ORDER BY m.id ASC LIMIT ?3"
            ))?;
            let mut messages =
                stmt.query_map(params![channel_id, after, limit + 1], message_row)?.collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            super::files::fill_attachments(conn, &mut messages)?;
            Ok(HistoryPage { messages, has_more })
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
            super::files::fill_attachments(conn, &mut messages)?;
            Ok(HistoryPage { messages, has_more })
        })
        .await
    }
}
const MESSAGE_SELECT: &str = "SELECT m.id, m.channel_id, m.author_id, u.username, m.body, m.created_at, m.edited_at,
     m.client_id FROM messages m JOIN users u ON u.id = m.author_id";

fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        author_id: row.get(2)?,
        author: row.get(3)?,
        body: row.get(4)?,
        created_at: row.get(5)?,
        edited_at: row.get(6)?,
        client_id: row.get(7)?,
        attachments: Vec::new(),
    })
}

fn load_message(conn: &Connection, message_id: MessageId) -> Result<Option<Message>, StoreError> {
    let mut message =
        conn.query_row(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"), [message_id], message_row).optional()?;
    if let Some(message) = message.as_mut() {
        super::files::fill_attachments(conn, std::slice::from_mut(message))?;
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use crate::ids::ChannelId;
    use crate::proto::Role;
    use crate::store::tests::open;

    #[tokio::test]
    async fn client_ids_store_a_message_once_per_author() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let bob = store.create_user("bob".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let send = |user, id: Option<&str>, body: &str| {
            store.insert_message(ChannelId(1), user, body.into(), id.map(str::to_string), 5)
        };
        let (first, created) = send(ann.clone(), Some("abc"), "hello").await.expect("stores");
        assert!(created);
        assert_eq!(first.client_id.as_deref(), Some("abc"));
        let (again, created) = send(ann.clone(), Some("abc"), "hello").await.expect("answers");
        assert_eq!((again, created), (first.clone(), false), "a repeat answers the stored message");
        let (bobs, created) = send(bob.clone(), Some("abc"), "hello").await.expect("stores");
        assert!(created && bobs.id != first.id, "ids are per author");
        for _ in 0..2 {
            assert!(send(ann.clone(), None, "no id").await.expect("stores").1, "no id: stored every time");
        }
        assert_eq!(store.history(ChannelId(1), None, 10).await.expect("ok").messages.len(), 4);
    }

    #[tokio::test]
    async fn history_after_pages_forward() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(store.insert_message(ChannelId(1), ann.clone(), format!("m{i}"), None, i).await.expect("ok").0.id);
        }
        let page = store.history_after(ChannelId(1), ids[1], 3).await.expect("ok");
        assert_eq!(page.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[2..5]);
        assert!(page.has_more);
        let last = store.history_after(ChannelId(1), ids[4], 3).await.expect("ok");
        assert_eq!(last.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[5..]);
        assert!(!last.has_more);
        assert!(store.history_after(ChannelId(1), ids[6], 3).await.expect("ok").messages.is_empty());
        assert!(store.history_after(ChannelId(2), ids[0], 3).await.expect("ok").messages.is_empty(), "per channel");
    }
}
