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
    use crate::proto::Role;
    use crate::store::tests::open;

    #[tokio::test]
    async fn first_open_has_general_and_one_admin() {
        let (_dir, store) = open().await;
        assert!(store.ensure_default_admin("chatter".into(), "h".into(), 1).await.expect("ok"));
        assert!(!store.ensure_default_admin("chatter".into(), "h".into(), 1).await.expect("ok"));
        let admin = store.user_by_name("CHATTER".into()).await.expect("ok").expect("exists");
        assert_eq!(admin.user.role, Role::Admin);
        assert!(admin.must_change_password);
        let (categories, channels) = store.list_channels(admin.user.id).await.expect("ok");
        assert_eq!(categories.len(), 1);
        assert_eq!(channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["general"]);
    }
}
