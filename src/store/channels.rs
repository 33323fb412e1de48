//! Categories and channels: listing what a user can read, creating, renaming and deleting them,
//! and the direct channel between two users.

use super::{Store, StoreError};
use crate::ids::{ChannelId, UserId};
use crate::proto::{Category, Channel, ChannelKind, User};
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// All categories and the channels `user_id` can read (every public channel, and direct
    /// channels the user is in).
    pub async fn list_channels(&self, user_id: UserId) -> Result<(Vec<Category>, Vec<Channel>), StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare("SELECT id, name, position FROM categories ORDER BY position, id")?;
            let categories = stmt
                .query_map([], |row| Ok(Category { id: row.get(0)?, name: row.get(1)?, position: row.get(2)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = conn.prepare(
                "SELECT id FROM channels c WHERE kind != 'direct'
                    OR EXISTS (SELECT 1 FROM direct_members m WHERE m.channel_id = c.id AND m.user_id = ?1)
                 ORDER BY position, id",
            )?;
            let ids = stmt.query_map([user_id], |row| row.get::<_, ChannelId>(0))?.collect::<Result<Vec<_>, _>>()?;
            let channels = ids
                .into_iter()
                .map(|id| load_channel(conn, id)?.ok_or(StoreError::NotFound))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((categories, channels))
        })
        .await
    }

    /// One channel.
    pub async fn channel(&self, channel_id: ChannelId) -> Result<Option<Channel>, StoreError> {
        self.read(move |conn| load_channel(conn, channel_id)).await
    }

    /// Creates a category at the end.
    pub async fn create_category(&self, name: String) -> Result<Category, StoreError> {
        self.write(move |conn| {
            let position: i64 =
                conn.query_row("SELECT COALESCE(MAX(position) + 1, 0) FROM categories", [], |row| row.get(0))?;
            conn.execute("INSERT INTO categories (name, position) VALUES (?1, ?2)", params![name, position])?;
            Ok(Category { id: conn.last_insert_rowid(), name, position })
        })
        .await
    }

    /// Renames a category.
    pub async fn rename_category(&self, category_id: i64, name: String) -> Result<Category, StoreError> {
        self.write(move |conn| {
            if conn.execute("UPDATE categories SET name = ?1 WHERE id = ?2", params![name, category_id])? == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(conn.query_row("SELECT id, name, position FROM categories WHERE id = ?1", [category_id], |row| {
                Ok(Category { id: row.get(0)?, name: row.get(1)?, position: row.get(2)? })
            })?)
        })
        .await
    }

    /// Deletes a category; its channels become uncategorised.
    pub async fn delete_category(&self, category_id: i64) -> Result<(), StoreError> {
        self.write(move |conn| match conn.execute("DELETE FROM categories WHERE id = ?1", [category_id])? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        })
        .await
    }

    /// Creates a public channel at the end.
    pub async fn create_channel(
        &self,
        name: String,
        category_id: Option<i64>,
        kind: ChannelKind,
    ) -> Result<Channel, StoreError> {
        self.write(move |conn| {
            if let Some(category_id) = category_id {
                let exists: bool =
                    conn.query_row("SELECT EXISTS (SELECT 1 FROM categories WHERE id = ?1)", [category_id], |r| {
                        r.get(0)
                    })?;
                if !exists {
                    return Err(StoreError::NotFound);
                }
            }
            let position: i64 =
                conn.query_row("SELECT COALESCE(MAX(position) + 1, 0) FROM channels", [], |r| r.get(0))?;
            conn.execute(
                "INSERT INTO channels (category_id, name, kind, position) VALUES (?1, ?2, ?3, ?4)",
                params![category_id, name, kind_name(kind), position],
            )?;
            load_channel(conn, ChannelId(conn.last_insert_rowid()))?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Renames a public channel.
    pub async fn rename_channel(&self, channel_id: ChannelId, name: String) -> Result<Channel, StoreError> {
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE channels SET name = ?1 WHERE id = ?2 AND kind != 'direct'",
                params![name, channel_id],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            load_channel(conn, channel_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Deletes a public channel and its messages, and the files only those carried. Answers the
    /// SHA-256s of the blobs no file names any more, for the caller to remove from `uploads/`.
    pub async fn delete_channel(&self, channel_id: ChannelId) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let carried =
                super::files::carried_files(conn, "SELECT id FROM messages WHERE channel_id = ?1", channel_id.0)?;
            match conn.execute("DELETE FROM channels WHERE id = ?1 AND kind != 'direct'", [channel_id])? {
                0 => Err(StoreError::NotFound),
                _ => super::files::collect_files(conn, &carried),
            }
        })
        .await
    }

    /// The direct channel between two users, created on first use. Returns it and whether it is new.
    pub(crate) async fn direct_channel(&self, a: User, b: User) -> Result<(Channel, bool), StoreError> {
        self.write(move |conn| {
            let (low, high) = if a.id <= b.id { (&a, &b) } else { (&b, &a) };
            let key = format!("{}:{}", low.id, high.id);
            let existing: Option<ChannelId> =
                conn.query_row("SELECT id FROM channels WHERE direct_key = ?1", [&key], |row| row.get(0)).optional()?;
            let (id, created) = match existing {
                Some(id) => (id, false),
                None => {
                    conn.execute(
                        "INSERT INTO channels (category_id, name, kind, position, direct_key)
                         VALUES (NULL, ?1, 'direct', 0, ?2)",
                        params![format!("{}+{}", low.username, high.username), key],
                    )?;
                    let id = ChannelId(conn.last_insert_rowid());
                    let mut insert =
                        conn.prepare("INSERT OR IGNORE INTO direct_members (channel_id, user_id) VALUES (?1, ?2)")?;
                    insert.execute(params![id, low.id])?;
                    insert.execute(params![id, high.id])?;
                    (id, true)
                }
            };
            Ok((load_channel(conn, id)?.ok_or(StoreError::NotFound)?, created))
        })
        .await
    }
}
fn kind_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Text => "text",
        ChannelKind::Voice => "voice",
        ChannelKind::Direct => "direct",
    }
}

pub(super) fn load_channel(conn: &Connection, channel_id: ChannelId) -> Result<Option<Channel>, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, category_id, name, kind, slow_mode_seconds FROM channels WHERE id = ?1",
            [channel_id],
            |row| {
                Ok((
                    row.get::<_, ChannelId>(0)?,
                    row.get(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, u32>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, category_id, name, kind, slow_mode_seconds)) = row else {
        return Ok(None);
    };
    let kind = match kind.as_str() {
        "voice" => ChannelKind::Voice,
        "direct" => ChannelKind::Direct,
        _ => ChannelKind::Text,
    };
    let members = if kind == ChannelKind::Direct {
        let mut stmt =
            conn.prepare_cached("SELECT user_id FROM direct_members WHERE channel_id = ?1 ORDER BY user_id")?;
        let members = stmt.query_map([id], |row| row.get(0))?.collect::<Result<Vec<UserId>, _>>()?;
        members
    } else {
        Vec::new()
    };
    Ok(Some(Channel { id, category_id, name, kind, members, slow_mode_seconds }))
}

#[cfg(test)]
mod tests {
    use crate::proto::Role;
    use crate::store::tests::open;

    #[tokio::test]
    async fn direct_channel_is_shared_and_private() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let bob = store.create_user("bob".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let eve = store.create_user("eve".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let (first, created) = store.direct_channel(ann.clone(), bob.clone()).await.expect("ok");
        let (again, created_again) = store.direct_channel(bob.clone(), ann.clone()).await.expect("ok");
        assert!(created && !created_again);
        assert_eq!(first, again);
        assert_eq!(first.members, vec![ann.id, bob.id]);
        let (_, visible_to_eve) = store.list_channels(eve.id).await.expect("ok");
        assert!(visible_to_eve.iter().all(|c| c.id != first.id));
        let (_, visible_to_bob) = store.list_channels(bob.id).await.expect("ok");
        assert!(visible_to_bob.iter().any(|c| c.id == first.id));
    }
}
