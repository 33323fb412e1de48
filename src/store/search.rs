//! Full-text search over message bodies (the FTS5 table `messages_fts`, which triggers keep in
//! step with `messages`), limited to the channels the caller names.

use super::messages::load_message;
use super::{Store, StoreError};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{SearchHit, SearchPage, HIGHLIGHT_END, HIGHLIGHT_START};
use rusqlite::params;

/// Words of a snippet around the matches.
const SNIPPET_WORDS: u32 = 16;

impl Store {
    /// Up to `limit` messages in `channels` whose text has every word of `query`, newest first,
    /// below `before`. A query without a word finds nothing.
    pub(crate) async fn search(
        &self,
        query: String,
        channels: Vec<ChannelId>,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<SearchPage, StoreError> {
        let Some(expression) = fts_expression(&query) else {
            return Ok(SearchPage { hits: Vec::new(), has_more: false });
        };
        let channels = serde_json::to_string(&channels).map_err(|err| StoreError::Database(err.to_string()))?;
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT m.id, snippet(messages_fts, 0, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', {SNIPPET_WORDS})
                 FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
                 WHERE messages_fts MATCH ?1 AND m.channel_id IN (SELECT value FROM json_each(?2)) AND m.id < ?3
                 ORDER BY m.id DESC LIMIT ?4"
            ))?;
            let found = stmt
                .query_map(params![expression, channels, before.unwrap_or(MessageId(i64::MAX)), limit + 1], |row| {
                    Ok((row.get::<_, MessageId>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = found.len() > limit as usize;
            let mut hits = Vec::new();
            for (id, snippet) in found.into_iter().take(limit as usize) {
                if let Some(message) = load_message(conn, id)? {
                    hits.push(SearchHit { message, snippet });
                }
            }
            Ok(SearchPage { hits, has_more })
        })
        .await
    }
}

/// The FTS5 expression for what a person typed: every word must occur (each quoted, so no
/// character is an operator), a word ending in `*` as a prefix. `None` without a word.
fn fts_expression(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(stem) => (stem.trim_end_matches('*'), true),
                None => (word, false),
            };
            let word = word.replace('"', "\"\"");
            let has_text = word.chars().any(char::is_alphanumeric);
            has_text.then(|| format!("\"{word}\"{}", if prefix { "*" } else { "" }))
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::fts_expression;
    use crate::ids::ChannelId;
    use crate::proto::Role;
    use crate::store::tests::open;

    #[test]
    fn typed_text_becomes_quoted_terms() {
        assert_eq!(fts_expression("pizza  tonight").as_deref(), Some(r#""pizza" "tonight""#));
        assert_eq!(fts_expression("piz* \"a\"").as_deref(), Some(r#""piz"* """a""""#));
        assert_eq!(fts_expression("OR AND NOT ( ) * -").as_deref(), Some(r#""OR" "AND" "NOT""#));
        assert_eq!(fts_expression("  * \" "), None);
    }

    #[tokio::test]
    async fn the_index_follows_sends_edits_and_deletes_and_pages() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let mut ids = Vec::new();
        for i in 0..5 {
            let body = format!("pizza night number {i}");
            ids.push(store.insert_message(ChannelId(1), ann.clone(), body, None, i).await.expect("ok").0.id);
        }
        let search = |q: &str, channels: Vec<ChannelId>, before| store.search(q.into(), channels, before, 2);
        let page = search("PIZZA nig*", vec![ChannelId(1)], None).await.expect("ok");
        assert_eq!(page.hits.iter().map(|h| h.message.id).collect::<Vec<_>>(), [ids[4], ids[3]]);
        assert!(page.has_more);
        assert!(page.hits[0].snippet.contains("\u{2}pizza\u{3}"), "{}", page.hits[0].snippet);
        let next = search("pizza", vec![ChannelId(1)], Some(ids[3])).await.expect("ok");
        assert_eq!(next.hits.iter().map(|h| h.message.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
        assert!(search("pizza", vec![ChannelId(2)], None).await.expect("ok").hits.is_empty(), "other channels");
        assert!(search("pizza", Vec::new(), None).await.expect("ok").hits.is_empty(), "no channel");
        store.edit_message(ids[4], "pasta instead".into(), 9).await.expect("edits");
        store.delete_message(ids[3]).await.expect("deletes");
        let all = store.search("pizza".into(), vec![ChannelId(1)], None, 50).await.expect("ok");
        assert_eq!(all.hits.iter().map(|h| h.message.id).collect::<Vec<_>>(), [ids[2], ids[1], ids[0]]);
        let pasta = store.search("pasta".into(), vec![ChannelId(1)], None, 50).await.expect("ok");
        assert_eq!(pasta.hits.iter().map(|h| h.message.id).collect::<Vec<_>>(), [ids[4]]);

        // Deleting a thread's root deletes its replies, and the index forgets them too.
        store.insert_reply(ids[2], ann.clone(), "waffles reply".into(), None, 10).await.expect("replies");
        let indexed = |word: &'static str| {
            let conn = rusqlite::Connection::open(store.path()).expect("opens");
            let count: i64 = conn
                .query_row("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?1", [word], |row| row.get(0))
                .expect("counts");
            count
        };
        assert_eq!((indexed("waffles"), indexed("pizza"), indexed("pasta")), (1, 3, 1));
        store.delete_message(ids[2]).await.expect("deletes the root");
        assert_eq!((indexed("waffles"), indexed("pizza")), (0, 2), "the reply and the root left the index");
    }
}
