//! Chat messages: storing, editing and deleting them, and pages of a channel's history or of a
//! thread's replies. Every message read here comes with its thread summary, reactions and link
//! preview (their tables are in `reactions` and `previews`; deleting a message deletes them and
//! its thread's replies through foreign keys).

use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{HistoryPage, Message, ThreadSummary, User};
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
            insert_row(conn, NewMessage { channel_id, thread_id: None, author, body, client_id, attachments, now })
        })
        .await
    }

    /// Stores a reply in the thread of `root` (a reply's root when `root` is itself a reply), like
    /// [`Store::insert_message`]; answers the reply, whether it was stored now, and the thread.
    pub(crate) async fn insert_reply(
        &self,
        root: MessageId,
        author: User,
        body: String,
        client_id: Option<String>,
        now: i64,
    ) -> Result<(Message, bool, ThreadSummary), StoreError> {
        self.write(move |conn| {
            let (channel_id, thread_id): (ChannelId, Option<MessageId>) = conn
                .query_row("SELECT channel_id, thread_id FROM messages WHERE id = ?1", [root], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?
                .ok_or(StoreError::NotFound)?;
            let thread_id = thread_id.unwrap_or(root);
            let (reply, created) = insert_row(
                conn,
                NewMessage {
                    channel_id,
                    thread_id: Some(thread_id),
                    author,
                    body,
                    client_id,
                    attachments: Vec::new(),
                    now,
                },
            )?;
            let thread = load_message(conn, thread_id)?.and_then(|root| root.thread).ok_or(StoreError::NotFound)?;
            Ok((reply, created, thread))
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

    /// Deletes a message for good, with its thread's replies, and the files only they carried.
    /// Answers the SHA-256s of the blobs no file names any more, for the caller to remove from
    /// `uploads/`.
    pub async fn delete_message(&self, message_id: MessageId) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let carried = super::files::carried_files(
                conn,
                "SELECT id FROM messages WHERE id = ?1 OR thread_id = ?1",
                message_id.0,
            )?;
            match conn.execute("DELETE FROM messages WHERE id = ?1", [message_id])? {
                0 => Err(StoreError::NotFound),
                _ => super::files::collect_files(conn, &carried),
            }
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
        self.page_after(Scope::Channel(channel_id), after, limit).await
    }

    /// Up to `limit` replies of the thread of `root` with ids above `after`, oldest first.
    pub(crate) async fn thread_after(
        &self,
        root: MessageId,
        after: MessageId,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        self.page_after(Scope::Thread(root), after, limit).await
    }

    /// Up to `limit` replies of the thread of `root` with ids below `before`, oldest first.
    pub(crate) async fn thread_history(
        &self,
        root: MessageId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        self.page_before(Scope::Thread(root), before, limit).await
    }

    async fn page_after(&self, scope: Scope, after: MessageId, limit: u32) -> Result<HistoryPage, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{MESSAGE_SELECT} WHERE {} AND m.id > ?2 ORDER BY m.id ASC LIMIT ?3",
                scope.sql()
            ))?;
            let mut messages =
                stmt.query_map(params![scope.id(), after, limit + 1], message_row)?.collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            decorate(conn, &mut messages)?;
            Ok(HistoryPage { messages, has_more })
        })
        .await
    }

    async fn page_before(
        &self,
        scope: Scope,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{MESSAGE_SELECT} WHERE {} AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3",
                scope.sql()
            ))?;
            let mut messages = stmt
                .query_map(params![scope.id(), before.unwrap_or(MessageId(i64::MAX)), limit + 1], message_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            messages.reverse();
            decorate(conn, &mut messages)?;
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
        self.page_before(Scope::Channel(channel_id), before, limit).await
    }
}

/// What a page of history is of: a channel's messages (thread replies aside) or one thread's
/// replies.
#[derive(Clone, Copy)]
enum Scope {
    Channel(ChannelId),
    Thread(MessageId),
}

impl Scope {
    /// The condition on `m` with the scope's id as `?1`.
    fn sql(self) -> &'static str {
        match self {
            Scope::Channel(_) => "m.channel_id = ?1 AND m.thread_id IS NULL",
            Scope::Thread(_) => "m.thread_id = ?1",
        }
    }

    fn id(self) -> i64 {
        match self {
            Scope::Channel(id) => id.get(),
            Scope::Thread(id) => id.get(),
        }
    }
}

/// A message to store.
struct NewMessage {
    channel_id: ChannelId,
    thread_id: Option<MessageId>,
    author: User,
    body: String,
    client_id: Option<String>,
    /// Ids of files the author uploaded, for the message to carry.
    attachments: Vec<i64>,
    now: i64,
}

/// Stores a message, or with a `client_id` the author already used, answers the stored one
/// with `false`.
fn insert_row(conn: &Connection, new: NewMessage) -> Result<(Message, bool), StoreError> {
    let NewMessage { channel_id, thread_id, author, body, client_id, attachments, now } = new;
    if let Some(client_id) = &client_id {
        let stored = conn
            .query_row(
                &format!("{MESSAGE_SELECT} WHERE m.author_id = ?1 AND m.client_id = ?2"),
                params![author.id, client_id],
                message_row,
            )
            .optional()?;
        if let Some(mut stored) = stored {
            decorate(conn, std::slice::from_mut(&mut stored))?;
            return Ok((stored, false));
        }
    }
    conn.prepare_cached(
        "INSERT INTO messages (channel_id, author_id, body, created_at, client_id, thread_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![channel_id, author.id, body, now, client_id, thread_id])?;
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
        thread_id,
        thread: None,
        reactions: Vec::new(),
        preview: None,
        attachments,
    };
    Ok((message, true))
}

pub(super) const MESSAGE_SELECT: &str = "SELECT m.id, m.channel_id, m.author_id, u.username, m.body, m.created_at,
     m.edited_at, m.client_id, m.thread_id,
     (SELECT COUNT(*) FROM messages r WHERE r.thread_id = m.id),
     (SELECT MAX(r.created_at) FROM messages r WHERE r.thread_id = m.id)
     FROM messages m JOIN users u ON u.id = m.author_id";

/// A row of [`MESSAGE_SELECT`], without its reactions and preview (see [`decorate`]).
pub(super) fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let reply_count: u32 = row.get(9)?;
    let last_reply_at: Option<i64> = row.get(10)?;
    Ok(Message {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        author_id: row.get(2)?,
        author: row.get(3)?,
        body: row.get(4)?,
        created_at: row.get(5)?,
        edited_at: row.get(6)?,
        client_id: row.get(7)?,
        thread_id: row.get(8)?,
        thread: last_reply_at
            .filter(|_| reply_count > 0)
            .map(|last_reply_at| ThreadSummary { reply_count, last_reply_at }),
        reactions: Vec::new(),
        preview: None,
        attachments: Vec::new(),
    })
}

/// Fills in the messages' reactions, link previews and files.
pub(super) fn decorate(conn: &Connection, messages: &mut [Message]) -> Result<(), StoreError> {
    for message in messages.iter_mut() {
        message.reactions = super::reactions::load(conn, message.id)?;
        message.preview = super::previews::load(conn, message.id)?.map(Box::new);
    }
    super::files::fill_attachments(conn, messages)
}

pub(super) fn load_message(conn: &Connection, message_id: MessageId) -> Result<Option<Message>, StoreError> {
    let mut message =
        conn.query_row(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"), [message_id], message_row).optional()?;
    if let Some(message) = message.as_mut() {
        decorate(conn, std::slice::from_mut(message))?;
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
