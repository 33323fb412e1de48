//! Read markers: the newest message each user has read in each channel, and the unread counts
//! derived from them. A marker only moves forward.
//!
//! Unread means: in the channel itself (not a thread's reply), newer than the marker, and not
//! written by the user. Without a marker (a
//! channel never marked), messages from before the user's account was created count as read,
//! so a new member does not start with the whole history unread.

use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::proto::ReadState;
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// The read state of each of `channel_ids` for `user_id`, in the same order.
    pub(crate) async fn read_states(
        &self,
        user_id: UserId,
        channel_ids: Vec<ChannelId>,
    ) -> Result<Vec<ReadState>, StoreError> {
        self.read(move |conn| channel_ids.into_iter().map(|channel_id| read_state(conn, user_id, channel_id)).collect())
            .await
    }

    /// Moves `user_id`'s marker in `channel_id` forward to `message_id` (but never past the
    /// channel's newest message). Answers the read state and whether the marker moved.
    pub(crate) async fn mark_read(
        &self,
        user_id: UserId,
        channel_id: ChannelId,
        message_id: MessageId,
    ) -> Result<(ReadState, bool), StoreError> {
        self.write(move |conn| {
            let newest: Option<MessageId> =
                conn.query_row("SELECT MAX(id) FROM messages WHERE channel_id = ?1", [channel_id], |row| row.get(0))?;
            let old = marker(conn, user_id, channel_id)?;
            let target = newest.map(|newest| newest.min(message_id));
            let moved = match (target, old) {
                (Some(target), Some(old)) => target > old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if let (true, Some(target)) = (moved, target) {
                conn.prepare_cached(
                    "INSERT INTO read_markers (user_id, channel_id, last_read_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id, channel_id) DO UPDATE SET last_read_id = excluded.last_read_id",
                )?
                .execute(params![user_id, channel_id, target])?;
            }
            Ok((read_state(conn, user_id, channel_id)?, moved))
        })
        .await
    }
}

fn marker(conn: &Connection, user_id: UserId, channel_id: ChannelId) -> Result<Option<MessageId>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT last_read_id FROM read_markers WHERE user_id = ?1 AND channel_id = ?2")?
        .query_row(params![user_id, channel_id], |row| row.get(0))
        .optional()?)
}

fn read_state(conn: &Connection, user_id: UserId, channel_id: ChannelId) -> Result<ReadState, StoreError> {
    let last_read_id = marker(conn, user_id, channel_id)?;
    let unread: i64 = match last_read_id {
        Some(last_read_id) => conn
            .prepare_cached(
                "SELECT COUNT(*) FROM messages WHERE channel_id = ?1 AND thread_id IS NULL AND id > ?2
                   AND author_id != ?3",
            )?
            .query_row(params![channel_id, last_read_id, user_id], |row| row.get(0))?,
        None => conn
            .prepare_cached(
                "SELECT COUNT(*) FROM messages WHERE channel_id = ?1 AND thread_id IS NULL AND author_id != ?2
                   AND created_at >= (SELECT created_at FROM users WHERE id = ?2)",
            )?
            .query_row(params![channel_id, user_id], |row| row.get(0))?,
    };
    Ok(ReadState { channel_id, last_read_id, unread: u32::try_from(unread).unwrap_or(u32::MAX) })
}

#[cfg(test)]
mod tests {
    use crate::ids::{ChannelId, MessageId};
    use crate::proto::{ReadState, Role};
    use crate::store::tests::open;

    #[tokio::test]
    async fn markers_move_forward_only_and_count_others_messages() {
        let (_dir, store) = open().await;
        let old = store.create_user("old".into(), "h".into(), Role::Member, 1).await.expect("ok");
        store.insert_message(ChannelId(1), old.clone(), "before ann".into(), None, 5).await.expect("ok");
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 10).await.expect("ok");
        let mut ids = Vec::new();
        for (i, author) in [&old, &ann, &old, &old].into_iter().enumerate() {
            let at = 20 + i as i64;
            ids.push(store.insert_message(ChannelId(1), author.clone(), "m".into(), None, at).await.expect("ok").0.id);
        }
        let state = |last_read_id, unread| ReadState { channel_id: ChannelId(1), last_read_id, unread };
        let states = store.read_states(ann.id, vec![ChannelId(1)]).await.expect("ok");
        assert_eq!(states, [state(None, 3)], "older than the account: read; own: never unread");
        assert_eq!(store.read_states(old.id, vec![ChannelId(1)]).await.expect("ok"), [state(None, 1)]);

        assert_eq!(store.mark_read(ann.id, ChannelId(1), ids[2]).await.expect("ok"), (state(Some(ids[2]), 1), true));
        assert_eq!(store.mark_read(ann.id, ChannelId(1), ids[0]).await.expect("ok"), (state(Some(ids[2]), 1), false));
        let past_the_end = MessageId(ids[3].get() + 100);
        assert_eq!(
            store.mark_read(ann.id, ChannelId(1), past_the_end).await.expect("ok"),
            (state(Some(ids[3]), 0), true)
        );
        assert_eq!(store.read_states(ann.id, vec![ChannelId(1)]).await.expect("ok"), [state(Some(ids[3]), 0)]);
        store.insert_reply(ids[1], old.clone(), "in a thread".into(), None, 30).await.expect("replies");
        assert_eq!(
            store.read_states(ann.id, vec![ChannelId(1)]).await.expect("ok"),
            [state(Some(ids[3]), 0)],
            "a thread's reply does not count toward the channel's unread number"
        );
        store.insert_message(ChannelId(1), old.clone(), "in the channel".into(), None, 31).await.expect("ok");
        assert_eq!(store.read_states(ann.id, vec![ChannelId(1)]).await.expect("ok"), [state(Some(ids[3]), 1)]);
        let empty = store.create_channel("empty".into(), None, crate::proto::ChannelKind::Text).await.expect("ok");
        let (nothing, moved) = store.mark_read(ann.id, empty.id, ids[3]).await.expect("ok");
        assert_eq!((nothing.last_read_id, moved), (None, false), "nothing to read in an empty channel");
    }
}
