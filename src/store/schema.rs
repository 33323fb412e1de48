//! The database schema: its migrations, applied in order on open, and the settings every
//! connection gets.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: accounts, sessions, channels, messages; the first category and #general.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        must_change_password INTEGER NOT NULL DEFAULT 0,
        status TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE categories (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        position INTEGER NOT NULL
    );
    CREATE TABLE channels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        category_id INTEGER REFERENCES categories(id) ON DELETE SET NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        position INTEGER NOT NULL,
        direct_key TEXT UNIQUE
    );
    CREATE TABLE direct_members (
        channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (channel_id, user_id)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
        author_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        edited_at INTEGER
    );
    CREATE INDEX messages_by_channel ON messages(channel_id, id);
    INSERT INTO categories (id, name, position) VALUES (1, 'Text Channels', 0);
    INSERT INTO channels (category_id, name, kind, position) VALUES (1, 'general', 'text', 0);",
    // 2: invites.
    "CREATE TABLE invites (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        secret_hash BLOB NOT NULL UNIQUE,
        role TEXT NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER,
        note TEXT,
        created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );",
    // 3: the VPN: one server key pair (and an optional server-wide bandwidth cap set by an
    // admin, overriding vpn.max_bandwidth_kbps), and one row per peer (a member's device).
    "CREATE TABLE vpn_server (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        private_key BLOB NOT NULL,
        max_bandwidth_kbps INTEGER
    );
    CREATE TABLE vpn_peers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        public_key BLOB NOT NULL UNIQUE,
        address TEXT NOT NULL UNIQUE,
        max_bandwidth_kbps INTEGER,
        created_at INTEGER NOT NULL,
        UNIQUE (user_id, name)
    );",
    // 4: exactly-once sending: the id a client chose for a message, unique per author.
    "ALTER TABLE messages ADD COLUMN client_id TEXT;
    CREATE UNIQUE INDEX messages_by_client_id ON messages(author_id, client_id) WHERE client_id IS NOT NULL;",
    // 5: read markers: the newest message each user has read in each channel.
    "CREATE TABLE read_markers (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
        last_read_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, channel_id)
    ) WITHOUT ROWID;",
    // 6: roles: the first admin becomes the owner.
    "UPDATE users SET role = 'owner' WHERE id = (SELECT MIN(id) FROM users WHERE role = 'admin');",
    // 7: per-role overrides of channels and categories (NULL inherits), and slow mode.
    "CREATE TABLE permission_overrides (
        scope TEXT NOT NULL CHECK (scope IN ('channel', 'category')),
        scope_id INTEGER NOT NULL,
        role TEXT NOT NULL,
        can_view INTEGER,
        can_send INTEGER,
        can_speak INTEGER,
        can_manage INTEGER,
        PRIMARY KEY (scope, scope_id, role)
    ) WITHOUT ROWID;
    ALTER TABLE channels ADD COLUMN slow_mode_seconds INTEGER NOT NULL DEFAULT 0;",
    // 8: moderation: bans, timeouts, and the audit log (which keeps warnings too).
    "CREATE TABLE bans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        address TEXT,
        reason TEXT,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        lifted_at INTEGER
    );
    ALTER TABLE users ADD COLUMN timeout_until INTEGER;
    ALTER TABLE users ADD COLUMN timeout_reason TEXT;
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        target_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        reason TEXT
    );
    CREATE INDEX audit_by_target ON audit_log(target_user_id, id);",
    // 9: automatic moderation keywords.
    "CREATE TABLE keyword_filters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        word TEXT NOT NULL UNIQUE COLLATE NOCASE,
        timeout_seconds INTEGER,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );",
    // 10: approval mode: accounts waiting for an admin.
    "ALTER TABLE users ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;",
    // 11: threads: a reply names its thread's root; deleting the root deletes its replies.
    "ALTER TABLE messages ADD COLUMN thread_id INTEGER REFERENCES messages(id) ON DELETE CASCADE;
    CREATE INDEX messages_by_thread ON messages(thread_id, id) WHERE thread_id IS NOT NULL;",
    // 12: reactions: one row per (message, emoji, member).
    "CREATE TABLE reactions (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        emoji TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (message_id, emoji, user_id)
    ) WITHOUT ROWID;",
    // 13: full-text search: an FTS5 index of message bodies kept in step by triggers, built
    // here for the messages already stored.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(
        body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
    END;
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');",
    // 14: mentions: who each message mentions by `@name`.
    "CREATE TABLE mentions (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX mentions_by_message ON mentions(message_id);",
    // 15: link previews: fetched pages by URL (a failed fetch is kept too, with no title), and
    // the link each message shows.
    "CREATE TABLE link_previews (
        url TEXT PRIMARY KEY,
        title TEXT,
        description TEXT,
        image TEXT,
        fetched_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE message_previews (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        url TEXT NOT NULL
    );",
    // 16: access tokens for the REST API: only the SHA-256 of each secret is kept.
    "CREATE TABLE access_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        secret_hash BLOB NOT NULL UNIQUE,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER
    );",
    // 17: files: content-addressed blobs under uploads/ (by SHA-256), the files that name them
    // (the uploader's name is metadata only), and which messages carry which files.
    "CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        name TEXT NOT NULL,
        content_type TEXT,
        uploader_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL,
        width INTEGER,
        height INTEGER,
        thumbnail_sha256 TEXT REFERENCES blobs(sha256),
        metadata_stripped INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE message_files (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        file_id INTEGER NOT NULL REFERENCES files(id),
        position INTEGER NOT NULL,
        PRIMARY KEY (message_id, file_id)
    ) WITHOUT ROWID;
    CREATE INDEX message_files_by_file ON message_files(file_id);",
    // 18: custom emoji: a shortcode naming an uploaded picture.
    "CREATE TABLE custom_emoji (
        shortcode TEXT PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id),
        created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL
    );",
    // 19: supervised members: their guardian (none once the guardian's account is deleted),
    // quiet hours (minutes of the day, UTC) and the direct-message contacts the guardian allows.
    "CREATE TABLE supervision (
        user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        guardian_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        quiet_start INTEGER,
        quiet_end INTEGER,
        since INTEGER NOT NULL
    );
    CREATE TABLE supervision_contacts (
        user_id INTEGER NOT NULL REFERENCES supervision(user_id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, contact_id)
    ) WITHOUT ROWID;",
    // 20: uploads in progress, kept over a restart (their bytes stay in uploads/tmp/).
    "CREATE TABLE uploads_in_progress (
        upload_id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT,
        channel_id INTEGER,
        keep_metadata INTEGER NOT NULL,
        confirmed INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;",
];

pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
}

pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{configure, MIGRATIONS};
    use crate::ids::ChannelId;
    use crate::proto::Role;
    use crate::store::tests::open;
    use crate::store::Store;

    #[tokio::test]
    async fn a_database_from_before_client_ids_keeps_its_messages_and_gains_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).expect("opens");
            configure(&conn).expect("configures");
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).expect("old migration");
            }
            conn.execute_batch(
                "PRAGMA user_version = 3;
                 INSERT INTO users (id, username, password_hash, role, created_at) VALUES (7, 'ann', 'h', 'member', 1);
                 INSERT INTO messages (channel_id, author_id, body, created_at) VALUES (1, 7, 'from before', 2);",
            )
            .expect("old rows");
        }
        let store = Store::open(&path).expect("migrates");
        let old = store.history(ChannelId(1), None, 10).await.expect("history");
        assert_eq!(old.messages.len(), 1);
        assert_eq!((old.messages[0].body.as_str(), old.messages[0].client_id.as_deref()), ("from before", None));
        let ann = store.user_by_name("ann".into()).await.expect("ok").expect("ann").user;
        let send = |id: &str| store.insert_message(ChannelId(1), ann.clone(), "hi".into(), Some(id.into()), 3);
        let (first, created) = send("c1").await.expect("stores");
        assert!(created);
        assert_eq!(send("c1").await.expect("answers"), (first, false));
        assert_eq!(store.history(ChannelId(1), None, 10).await.expect("history").messages.len(), 2);
    }

    #[tokio::test]
    async fn messages_from_before_search_are_indexed_by_the_migration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).expect("opens");
            configure(&conn).expect("configures");
            for sql in &MIGRATIONS[..5] {
                conn.execute_batch(sql).expect("old migration");
            }
            conn.execute_batch(
                "PRAGMA user_version = 5;
                 INSERT INTO users (id, username, password_hash, role, created_at) VALUES (7, 'ann', 'h', 'member', 1);
                 INSERT INTO messages (channel_id, author_id, body, created_at) VALUES (1, 7, 'an old picnic', 2);
                 INSERT INTO messages (channel_id, author_id, body, created_at) VALUES (1, 7, 'unrelated', 3);",
            )
            .expect("old rows");
        }
        let store = Store::open(&path).expect("migrates");
        let found = store.search("picnic".into(), vec![ChannelId(1)], None, 10).await.expect("searches");
        assert_eq!(found.hits.iter().map(|hit| hit.message.body.as_str()).collect::<Vec<_>>(), ["an old picnic"]);
    }

    #[tokio::test]
    async fn first_open_has_general_and_one_admin() {
        let (_dir, store) = open().await;
        assert!(store.ensure_default_admin("chatter".into(), "h".into(), 1).await.expect("ok"));
        assert!(!store.ensure_default_admin("chatter".into(), "h".into(), 1).await.expect("ok"));
        let admin = store.user_by_name("CHATTER".into()).await.expect("ok").expect("exists");
        assert_eq!(admin.user.role, Role::Owner);
        assert!(admin.must_change_password);
        let (categories, channels) = store.list_channels(admin.user.id).await.expect("ok");
        assert_eq!(categories.len(), 1);
        assert_eq!(channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["general"]);
    }
}
