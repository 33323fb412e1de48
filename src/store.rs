//! Persistent state in SQLite: users, sessions, invites, categories, channels, direct channels,
//! messages, VPN peers and the VPN's server key.
//!
//! All SQL of the engine lives here, behind typed async functions whose signatures carry no
//! SQLite types (so another database can stand behind them later). Writes go through one
//! writer thread that commits every job waiting at that moment in one transaction (group
//! commit, `synchronous=FULL`): a write's future resolves only after its transaction is durable.
//! Each job runs in its own savepoint, so one failing job does not undo its batch-mates.
//! Reads use a small pool of connections on the same WAL database.

use crate::proto::{
    Category, Channel, ChannelKind, HistoryPage, InviteInfo, InviteState, Message, Role, User, UserPresence,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 1000;
/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;
/// Jobs that may wait for the writer before callers wait for room.
const WRITE_QUEUE: usize = 4096;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("database {path}: {reason}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A user name that already exists.
    #[error("user name is taken")]
    UsernameTaken,
    /// The row the operation names does not exist.
    #[error("not found")]
    NotFound,
    /// The disk is full. Nothing of the operation was kept.
    #[error("the disk is full")]
    DiskFull,
    /// The database failed (an I/O error, ...). Nothing of the operation was kept.
    #[error("database error: {0}")]
    Database(String),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
    /// An invite cannot create an account.
    #[error("{0}")]
    InviteUnusable(InviteUnusable),
    /// Every address of `vpn.subnet` is taken.
    #[error("every address of the VPN subnet is taken; revoke a peer or widen vpn.subnet")]
    VpnAddressesUsedUp,
    /// Another peer already has this WireGuard public key.
    #[error("another VPN peer already has this public key")]
    VpnKeyTaken,
}

/// A VPN peer: a member's device with a WireGuard public key and a tunnel address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnPeerRecord {
    /// Row id.
    pub id: i64,
    /// The member it belongs to.
    pub user_id: i64,
    /// The member's name.
    pub username: String,
    /// The device's label (e.g. "phone", "itc").
    pub name: String,
    /// Its WireGuard public key (the private key is never stored).
    pub public_key: [u8; 32],
    /// Its tunnel address.
    pub address: std::net::Ipv4Addr,
    /// Its own cap in kbit/s each way; `None` follows the server-wide cap.
    pub max_bandwidth_kbps: Option<u32>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Why an invite cannot create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteUnusable {
    /// No invite has this secret.
    #[error("this invite is not known here; check that it was copied whole")]
    Unknown,
    /// It has created all the accounts it may.
    #[error("this invite has already been used; ask for a new one")]
    UsedUp,
    /// Its time is over.
    #[error("this invite has expired; ask for a new one")]
    Expired,
    /// An admin revoked it.
    #[error("this invite was withdrawn; ask for a new one")]
    Revoked,
}

/// What a new invite allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// SHA-256 of the secret; the secret itself is never stored.
    pub secret_hash: Vec<u8>,
    /// The role of the accounts it creates.
    pub role: Role,
    /// Accounts it can create.
    pub max_uses: u32,
    /// Unix milliseconds; none = never.
    pub expires_at: Option<i64>,
    /// The admin's note.
    pub note: Option<String>,
    /// The admin who made it.
    pub created_by: Option<i64>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        CommitFailure::from(err).into()
    }
}

/// Why a write transaction failed, as every job of its batch is told.
#[derive(Debug, Clone)]
enum CommitFailure {
    /// SQLite reported `SQLITE_FULL` (it maps the operating system's "no space left" to it).
    DiskFull,
    /// Anything else.
    Other(String),
}

impl From<rusqlite::Error> for CommitFailure {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => CommitFailure::DiskFull,
            _ => CommitFailure::Other(err.to_string()),
        }
    }
}

impl From<CommitFailure> for StoreError {
    fn from(failure: CommitFailure) -> Self {
        match failure {
            CommitFailure::DiskFull => StoreError::DiskFull,
            CommitFailure::Other(reason) => StoreError::Database(reason),
        }
    }
}

/// A user row with what only the server may see.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Must change the password before anything else.
    pub must_change_password: bool,
    /// Custom status text.
    pub status: Option<String>,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One write: run inside the batch transaction, then told whether the batch committed.
trait WriteJob: Send {
    fn run(&mut self, conn: &Connection);
    /// Whether `run` failed because the disk is full.
    fn found_disk_full(&self) -> bool;
    fn finish(self: Box<Self>, committed: Result<(), CommitFailure>);
}

struct Job<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: Reply<T>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) {
        let Some(work) = self.work.take() else { return };
        let outcome = match conn.execute_batch("SAVEPOINT job") {
            Err(err) => Err(err.into()),
            Ok(()) => {
                let outcome = work(conn);
                let end = if outcome.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
                conn.execute_batch(end).map_err(StoreError::from).and(outcome)
            }
        };
        self.outcome = Some(outcome);
    }

    fn found_disk_full(&self) -> bool {
        matches!(self.outcome, Some(Err(StoreError::DiskFull)))
    }

    fn finish(self: Box<Self>, committed: Result<(), CommitFailure>) {
        let outcome = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(failure), _) => Err(failure.into()),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        let _ = self.reply.send(outcome);
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: Arc<PathBuf>,
    /// Set by the writer when its last batch met a full disk; cleared when one commits again.
    disk_full: Arc<AtomicBool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

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

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
        tx.commit()?;
    }
    Ok(())
}

/// Pages copied per step of a snapshot (4 MiB with the default page size), between progress reports.
const SNAPSHOT_STEP_PAGES: i32 = 1024;

/// Copies the database at `source` into a new file `dest`, as one consistent snapshot, while
/// other connections (this server's writer, or another process) keep writing.
///
/// One read transaction on the source pins the snapshot: everything committed before this
/// call started is in the copy, and writers are never blocked (WAL). SQLite's online backup
/// API copies the pages in steps, calling `progress(pages_done, pages_total)` after each. The
/// copy is then switched to a rollback journal, so that it is one self-contained file, and
/// checked with [`check_integrity`]. Blocking: call it from a blocking thread.
pub fn snapshot(source: &Path, dest: &Path, mut progress: impl FnMut(u64, u64)) -> Result<(), StoreError> {
    let open_err = |path: &Path| {
        let path = path.display().to_string();
        move |err: rusqlite::Error| StoreError::Open { path, reason: err.to_string() }
    };
    let from = open_existing(source).map_err(open_err(source))?;
    from.execute_batch("BEGIN DEFERRED")?;
    from.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    let mut to = Connection::open(dest).map_err(open_err(dest))?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        loop {
            let step = backup.step(SNAPSHOT_STEP_PAGES)?;
            let pages = backup.progress();
            let total = u64::try_from(pages.pagecount).unwrap_or(0);
            let remaining = u64::try_from(pages.remaining).unwrap_or(0);
            progress(total.saturating_sub(remaining), total);
            match step {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
    from.execute_batch("COMMIT")?;
    to.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))?;
    drop(to);
    check_integrity(dest)
}

/// Runs `PRAGMA integrity_check` on the database file at `path` (which must exist).
/// Blocking: call it from a blocking thread.
pub fn check_integrity(path: &Path) -> Result<(), StoreError> {
    let conn = open_existing(path)
        .map_err(|err| StoreError::Open { path: path.display().to_string(), reason: err.to_string() })?;
    let problems = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<String>>>())
        .unwrap_or_else(|err| vec![err.to_string()]);
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Database(format!("integrity check failed: {}", problems.join("; "))))
}

/// Opens an existing database file for reading and writing, never creating one.
fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

impl Store {
    /// Opens (creating and migrating as needed) the database at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err =
            |err: rusqlite::Error| StoreError::Open { path: path.display().to_string(), reason: err.to_string() };
        let mut conn = Connection::open(path).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        migrate(&mut conn).map_err(open_err)?;
        let (writer, jobs) = mpsc::channel(WRITE_QUEUE);
        let disk_full = Arc::new(AtomicBool::new(false));
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn({
                let disk_full = disk_full.clone();
                move || run_writer(conn, jobs, &disk_full)
            })
            .map_err(|err| StoreError::Open { path: path.display().to_string(), reason: err.to_string() })?;
        Ok(Store { writer, readers: Arc::new(Mutex::new(Vec::new())), path: Arc::new(path.to_path_buf()), disk_full })
    }

    /// Whether the last write met a full disk (until a write commits again).
    pub fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::Relaxed)
    }

    /// The database file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in the writer's next transaction; resolves after the commit is durable.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Box::new(Job { work: Some(work), outcome: None, reply });
        self.writer.send(job).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` on a pooled read connection, off the async threads.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => {
                    let conn = Connection::open(path.as_path())?;
                    configure(&conn)?;
                    conn
                }
            };
            let result = work(&conn);
            let mut idle = readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    // ---- users -------------------------------------------------------------------------------

    /// Creates the default admin if there are no users at all. Returns whether it did.
    pub async fn ensure_default_admin(
        &self,
        username: String,
        password_hash: String,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let users: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
            if users > 0 {
                return Ok(false);
            }
            conn.execute(
                "INSERT INTO users (username, password_hash, role, must_change_password, created_at)
                 VALUES (?1, ?2, 'admin', 1, ?3)",
                params![username, password_hash, now],
            )?;
            Ok(true)
        })
        .await
    }

    /// Creates an account.
    pub async fn create_user(
        &self,
        username: String,
        password_hash: String,
        role: Role,
        now: i64,
    ) -> Result<User, StoreError> {
        self.write(move |conn| insert_user(conn, username, password_hash, role, now)).await
    }

    // ---- invites -----------------------------------------------------------------------------

    /// Stores a new invite.
    pub async fn create_invite(&self, invite: NewInvite, now: i64) -> Result<InviteInfo, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO invites (secret_hash, role, max_uses, expires_at, note, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    invite.secret_hash,
                    invite.role.as_str(),
                    invite.max_uses,
                    invite.expires_at,
                    invite.note,
                    invite.created_by,
                    now
                ],
            )?;
            load_invite(conn, conn.last_insert_rowid(), now)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Every invite, newest first, with its state at `now`.
    pub async fn list_invites(&self, now: i64) -> Result<Vec<InviteInfo>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!("{INVITE_SELECT} ORDER BY i.id DESC"))?;
            let invites = stmt.query_map([now], invite_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(invites)
        })
        .await
    }

    /// Revokes an invite (revoking twice keeps the first time).
    pub async fn revoke_invite(&self, invite_id: i64, now: i64) -> Result<InviteInfo, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE invites SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![invite_id, now],
            )?;
            load_invite(conn, invite_id, now)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Creates an account with the invite whose secret hashes to `secret_hash`, and counts the
    /// use, in one transaction: two people racing for a single-use invite get one account.
    pub async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        username: String,
        password_hash: String,
        now: i64,
    ) -> Result<User, StoreError> {
        self.write(move |conn| {
            let found = conn
                .query_row(&format!("{INVITE_SELECT} WHERE i.secret_hash = ?2"), params![now, secret_hash], invite_row)
                .optional()?;
            let invite = found.ok_or(StoreError::InviteUnusable(InviteUnusable::Unknown))?;
            match invite.state {
                InviteState::Active => {}
                InviteState::UsedUp => return Err(StoreError::InviteUnusable(InviteUnusable::UsedUp)),
                InviteState::Expired => return Err(StoreError::InviteUnusable(InviteUnusable::Expired)),
                InviteState::Revoked => return Err(StoreError::InviteUnusable(InviteUnusable::Revoked)),
            }
            let user = insert_user(conn, username, password_hash, invite.role, now)?;
            conn.execute("UPDATE invites SET uses = uses + 1 WHERE id = ?1", [invite.id])?;
            Ok(user)
        })
        .await
    }

    /// Looks a user up by name (case-insensitive).
    pub async fn user_by_name(&self, username: String) -> Result<Option<UserRecord>, StoreError> {
        self.read(move |conn| {
            Ok(conn.query_row(&format!("{USER_SELECT} WHERE username = ?1"), [username], user_record).optional()?)
        })
        .await
    }

    /// Replaces a user's password hash and clears the must-change flag; ends their other sessions.
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: String,
        keep_token_hash: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?1, must_change_password = 0 WHERE id = ?2",
                params![password_hash, user_id],
            )?;
            conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
                params![user_id, keep_token_hash],
            )?;
            Ok(())
        })
        .await
    }

    /// Sets a user's role.
    pub async fn set_role(&self, username: String, role: Role) -> Result<User, StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE users SET role = ?1 WHERE username = ?2", params![role.as_str(), username])?;
            let record =
                conn.query_row(&format!("{USER_SELECT} WHERE username = ?1"), [username], user_record).optional()?;
            record.map(|r| r.user).ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Sets or clears a user's custom status.
    pub async fn set_status(&self, user_id: i64, status: Option<String>) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE users SET status = ?1 WHERE id = ?2", params![status, user_id])?;
            Ok(())
        })
        .await
    }

    /// Every account, by name; `online` is left false for the caller to fill.
    pub async fn list_users(&self) -> Result<Vec<UserPresence>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{USER_SELECT} ORDER BY username"))?;
            let rows = stmt.query_map([], user_record)?;
            let mut users = Vec::new();
            for row in rows {
                let record = row?;
                users.push(UserPresence { user: record.user, online: false, status: record.status });
            }
            Ok(users)
        })
        .await
    }

    // ---- VPN ---------------------------------------------------------------------------------

    /// The VPN's private key: the stored one, or `candidate` stored now if there is none.
    pub async fn vpn_server_key(&self, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        self.write(move |conn| {
            conn.execute("INSERT OR IGNORE INTO vpn_server (id, private_key) VALUES (1, ?1)", [candidate.to_vec()])?;
            let key: Vec<u8> =
                conn.query_row("SELECT private_key FROM vpn_server WHERE id = 1", [], |row| row.get(0))?;
            key.try_into().map_err(|_| StoreError::Database("the stored VPN key is damaged".into()))
        })
        .await
    }

    /// The server-wide VPN cap an admin set (kbit/s), if any.
    pub async fn vpn_global_limit(&self) -> Result<Option<u32>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT max_bandwidth_kbps FROM vpn_server WHERE id = 1", [], |row| row.get(0))
                .optional()?
                .flatten())
        })
        .await
    }

    /// Sets (or with `None` clears) the server-wide VPN cap; the server key must exist.
    pub async fn set_vpn_global_limit(&self, kbps: Option<u32>) -> Result<(), StoreError> {
        self.write(move |conn| {
            match conn.execute("UPDATE vpn_server SET max_bandwidth_kbps = ?1 WHERE id = 1", [kbps])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Every VPN peer, oldest first.
    pub async fn list_vpn_peers(&self) -> Result<Vec<VpnPeerRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{VPN_PEER_SELECT} ORDER BY p.id"))?;
            let rows = stmt.query_map([], vpn_peer_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.into_iter().flatten().collect())
        })
        .await
    }

    /// Gives `user_id`'s device `name` the WireGuard key `public_key`: a new peer with the
    /// lowest free address of `subnet`, or, if the device already has one, its new key (same
    /// address, same cap).
    pub async fn put_vpn_peer(
        &self,
        user_id: i64,
        name: String,
        public_key: [u8; 32],
        subnet: crate::subnet::Subnet,
        now: i64,
    ) -> Result<VpnPeerRecord, StoreError> {
        self.write(move |conn| {
            let existing: Option<i64> = conn
                .query_row("SELECT id FROM vpn_peers WHERE user_id = ?1 AND name = ?2", params![user_id, name], |row| {
                    row.get(0)
                })
                .optional()?;
            let written = match existing {
                Some(id) => conn
                    .execute("UPDATE vpn_peers SET public_key = ?1 WHERE id = ?2", params![public_key.to_vec(), id])
                    .map(|_| id),
                None => {
                    let mut stmt = conn.prepare("SELECT address FROM vpn_peers")?;
                    let taken: Vec<std::net::Ipv4Addr> = stmt
                        .query_map([], |row| row.get::<_, String>(0))?
                        .filter_map(|address| address.ok()?.parse().ok())
                        .collect();
                    let address = subnet.first_free(&taken).ok_or(StoreError::VpnAddressesUsedUp)?;
                    conn.execute(
                        "INSERT INTO vpn_peers (user_id, name, public_key, address, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![user_id, name, public_key.to_vec(), address.to_string(), now],
                    )
                    .map(|_| conn.last_insert_rowid())
                }
            };
            let id = match written {
                Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::VpnKeyTaken)
                }
                other => other?,
            };
            load_vpn_peer(conn, id)
        })
        .await
    }

    /// Removes a VPN peer; returns what it was.
    pub async fn delete_vpn_peer(&self, peer_id: i64) -> Result<VpnPeerRecord, StoreError> {
        self.write(move |conn| {
            let peer = load_vpn_peer(conn, peer_id)?;
            conn.execute("DELETE FROM vpn_peers WHERE id = ?1", [peer_id])?;
            Ok(peer)
        })
        .await
    }

    /// Sets (or with `None` clears) one peer's own cap.
    pub async fn set_vpn_peer_limit(&self, peer_id: i64, kbps: Option<u32>) -> Result<VpnPeerRecord, StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE vpn_peers SET max_bandwidth_kbps = ?1 WHERE id = ?2", params![kbps, peer_id])?;
            load_vpn_peer(conn, peer_id)
        })
        .await
    }

    // ---- sessions ----------------------------------------------------------------------------

    /// Stores a new session token's hash.
    pub async fn create_session(
        &self,
        token_hash: Vec<u8>,
        user_id: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![token_hash, user_id, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    /// The user and expiry of an unexpired session token.
    pub async fn session_user(&self, token_hash: Vec<u8>, now: i64) -> Result<Option<(UserRecord, i64)>, StoreError> {
        self.read(move |conn| {
            let sql = "SELECT u.id, u.username, u.role, u.password_hash, u.must_change_password, u.status, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2";
            Ok(conn.query_row(sql, params![token_hash, now], |row| Ok((user_record(row)?, row.get(6)?))).optional()?)
        })
        .await
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: Vec<u8>) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
            Ok(())
        })
        .await
    }

    // ---- categories and channels --------------------------------------------------------------

    /// All categories and the channels `user_id` can read (every public channel, and direct
    /// channels the user is in).
    pub async fn list_channels(&self, user_id: i64) -> Result<(Vec<Category>, Vec<Channel>), StoreError> {
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
            let ids = stmt.query_map([user_id], |row| row.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
            let channels = ids
                .into_iter()
                .map(|id| load_channel(conn, id)?.ok_or(StoreError::NotFound))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((categories, channels))
        })
        .await
    }

    /// One channel.
    pub async fn channel(&self, channel_id: i64) -> Result<Option<Channel>, StoreError> {
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
            load_channel(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Renames a public channel.
    pub async fn rename_channel(&self, channel_id: i64, name: String) -> Result<Channel, StoreError> {
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

    /// Deletes a public channel and its messages.
    pub async fn delete_channel(&self, channel_id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            match conn.execute("DELETE FROM channels WHERE id = ?1 AND kind != 'direct'", [channel_id])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    /// The direct channel between two users, created on first use. Returns it and whether it is new.
    pub async fn direct_channel(&self, a: User, b: User) -> Result<(Channel, bool), StoreError> {
        self.write(move |conn| {
            let (low, high) = if a.id <= b.id { (&a, &b) } else { (&b, &a) };
            let key = format!("{}:{}", low.id, high.id);
            let existing: Option<i64> =
                conn.query_row("SELECT id FROM channels WHERE direct_key = ?1", [&key], |row| row.get(0)).optional()?;
            let (id, created) = match existing {
                Some(id) => (id, false),
                None => {
                    conn.execute(
                        "INSERT INTO channels (category_id, name, kind, position, direct_key)
                         VALUES (NULL, ?1, 'direct', 0, ?2)",
                        params![format!("{}+{}", low.username, high.username), key],
                    )?;
                    let id = conn.last_insert_rowid();
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

    // ---- messages ----------------------------------------------------------------------------

    /// Stores a message; resolves once it is durable.
    pub async fn insert_message(
        &self,
        channel_id: i64,
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
                id: conn.last_insert_rowid(),
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
    pub async fn message(&self, message_id: i64) -> Result<Option<Message>, StoreError> {
        self.read(move |conn| load_message(conn, message_id)).await
    }

    /// Replaces a message's body.
    pub async fn edit_message(&self, message_id: i64, body: String, now: i64) -> Result<Message, StoreError> {
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
    pub async fn delete_message(&self, message_id: i64) -> Result<(), StoreError> {
        self.write(move |conn| match conn.execute("DELETE FROM messages WHERE id = ?1", [message_id])? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        })
        .await
    }

    /// Up to `limit` messages of a channel with ids below `before`, oldest first.
    pub async fn history(&self, channel_id: i64, before: Option<i64>, limit: u32) -> Result<HistoryPage, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{MESSAGE_SELECT} WHERE m.channel_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
            ))?;
            let mut messages = stmt
                .query_map(params![channel_id, before.unwrap_or(i64::MAX), limit + 1], message_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            messages.reverse();
            Ok(HistoryPage { messages, has_more })
        })
        .await
    }
}

/// The writer thread: batch every waiting job into one transaction, commit, then answer.
fn run_writer(conn: Connection, mut jobs: mpsc::Receiver<Box<dyn WriteJob>>, disk_full: &AtomicBool) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = match conn.execute_batch("BEGIN IMMEDIATE") {
            Err(err) => Err(CommitFailure::from(err)),
            Ok(()) => {
                for job in batch.iter_mut() {
                    job.run(&conn);
                }
                conn.execute_batch("COMMIT").map_err(|err| {
                    let _ = conn.execute_batch("ROLLBACK");
                    CommitFailure::from(err)
                })
            }
        };
        let full = matches!(committed, Err(CommitFailure::DiskFull)) || batch.iter().any(|job| job.found_disk_full());
        match (disk_full.swap(full, Ordering::Relaxed), full) {
            (false, true) => tracing::info!("the disk is full: writes fail until there is room again"),
            (true, false) => tracing::info!("the disk has room again: writes succeed"),
            _ => {}
        }
        if let Err(CommitFailure::Other(reason)) = &committed {
            tracing::error!(%reason, jobs = batch.len(), "database commit failed; the batch was not saved");
        }
        for job in batch {
            job.finish(committed.clone());
        }
    }
}

fn insert_user(
    conn: &Connection,
    username: String,
    password_hash: String,
    role: Role,
    now: i64,
) -> Result<User, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![username, password_hash, role.as_str(), now],
    );
    match inserted {
        Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::UsernameTaken)
        }
        Err(err) => Err(err.into()),
        Ok(_) => Ok(User { id: conn.last_insert_rowid(), username, role }),
    }
}

/// Invites with their creator's name; `?1` is now (Unix ms), for the state.
const INVITE_SELECT: &str = "SELECT i.id, i.role, i.max_uses, i.uses, i.expires_at, i.note, i.created_at, u.username,
     CASE WHEN i.revoked_at IS NOT NULL THEN 'revoked'
          WHEN i.uses >= i.max_uses THEN 'used_up'
          WHEN i.expires_at IS NOT NULL AND i.expires_at <= ?1 THEN 'expired'
          ELSE 'active' END
     FROM invites i LEFT JOIN users u ON u.id = i.created_by";

fn invite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<InviteInfo> {
    let state = match row.get::<_, String>(8)?.as_str() {
        "revoked" => InviteState::Revoked,
        "used_up" => InviteState::UsedUp,
        "expired" => InviteState::Expired,
        _ => InviteState::Active,
    };
    Ok(InviteInfo {
        id: row.get(0)?,
        role: role_from_name(&row.get::<_, String>(1)?),
        max_uses: row.get(2)?,
        uses: row.get(3)?,
        expires_at: row.get(4)?,
        note: row.get(5)?,
        created_at: row.get(6)?,
        created_by: row.get(7)?,
        state,
    })
}

fn load_invite(conn: &Connection, invite_id: i64, now: i64) -> Result<Option<InviteInfo>, StoreError> {
    Ok(conn.query_row(&format!("{INVITE_SELECT} WHERE i.id = ?2"), params![now, invite_id], invite_row).optional()?)
}

fn role_from_name(name: &str) -> Role {
    if name == "admin" {
        Role::Admin
    } else {
        Role::Member
    }
}

const VPN_PEER_SELECT: &str = "SELECT p.id, p.user_id, u.username, p.name, p.public_key, p.address,
     p.max_bandwidth_kbps, p.created_at FROM vpn_peers p JOIN users u ON u.id = p.user_id";

/// A peer row; `None` for a row whose key or address is damaged (it is skipped, not served).
fn vpn_peer_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<VpnPeerRecord>> {
    let key: Vec<u8> = row.get(4)?;
    let address: String = row.get(5)?;
    let (Ok(public_key), Ok(address)) = (<[u8; 32]>::try_from(key), address.parse()) else {
        return Ok(None);
    };
    Ok(Some(VpnPeerRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        name: row.get(3)?,
        public_key,
        address,
        max_bandwidth_kbps: row.get(6)?,
        created_at: row.get(7)?,
    }))
}

fn load_vpn_peer(conn: &Connection, peer_id: i64) -> Result<VpnPeerRecord, StoreError> {
    conn.query_row(&format!("{VPN_PEER_SELECT} WHERE p.id = ?1"), [peer_id], vpn_peer_row)
        .optional()?
        .flatten()
        .ok_or(StoreError::NotFound)
}

const USER_SELECT: &str = "SELECT id, username, role, password_hash, must_change_password, status FROM users";

fn user_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        user: User { id: row.get(0)?, username: row.get(1)?, role: role_from_name(&row.get::<_, String>(2)?) },
        password_hash: row.get(3)?,
        must_change_password: row.get(4)?,
        status: row.get(5)?,
    })
}

fn kind_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Text => "text",
        ChannelKind::Voice => "voice",
        ChannelKind::Direct => "direct",
    }
}

fn load_channel(conn: &Connection, channel_id: i64) -> Result<Option<Channel>, StoreError> {
    let row = conn
        .query_row("SELECT id, category_id, name, kind FROM channels WHERE id = ?1", [channel_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get::<_, String>(2)?, row.get::<_, String>(3)?))
        })
        .optional()?;
    let Some((id, category_id, name, kind)) = row else {
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
        let members = stmt.query_map([id], |row| row.get(0))?.collect::<Result<Vec<i64>, _>>()?;
        members
    } else {
        Vec::new()
    };
    Ok(Some(Channel { id, category_id, name, kind, members }))
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

fn load_message(conn: &Connection, message_id: i64) -> Result<Option<Message>, StoreError> {
    Ok(conn.query_row(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"), [message_id], message_row).optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("opens");
        (dir, store)
    }

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

    #[tokio::test]
    async fn concurrent_writes_commit_together_and_failures_stay_alone() {
        let (_dir, store) = open().await;
        let user = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            let user = user.clone();
            tasks.push(tokio::spawn(async move {
                if i % 50 == 0 {
                    // A duplicate user in the same batch must fail alone.
                    store.create_user("ann".into(), "h".into(), Role::Member, 1).await.map(|_| 0)
                } else {
                    store.insert_message(1, user, format!("m{i}"), i).await.map(|m| m.id)
                }
            }));
        }
        let mut ok = 0;
        for task in tasks {
            match task.await.expect("joins") {
                Ok(_) => ok += 1,
                Err(StoreError::UsernameTaken) => {}
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!(ok, 196);
        let page = store.history(1, None, 100).await.expect("ok");
        assert_eq!(page.messages.len(), 100);
        assert!(page.has_more);
        let older = store.history(1, Some(page.messages[0].id), 100).await.expect("ok");
        assert_eq!(older.messages.len(), 96);
        assert!(!older.has_more);
        assert!(older.messages.windows(2).all(|w| w[0].id < w[1].id));
    }

    #[tokio::test]
    async fn invites_expire_on_time_and_count_their_uses() {
        let (_dir, store) = open().await;
        let new = |secret: &[u8], expires_at| NewInvite {
            secret_hash: secret.to_vec(),
            role: Role::Member,
            max_uses: 2,
            expires_at,
            note: None,
            created_by: None,
        };
        let timed = store.create_invite(new(b"timed", Some(1_000)), 100).await.expect("creates");
        assert_eq!(timed.state, InviteState::Active);
        assert_eq!(store.list_invites(2_000).await.expect("lists")[0].state, InviteState::Expired);
        let late = store.redeem_invite(b"timed".to_vec(), "ann".into(), "h".into(), 2_000).await;
        assert!(matches!(late, Err(StoreError::InviteUnusable(InviteUnusable::Expired))), "{late:?}");
        let user = store.redeem_invite(b"timed".to_vec(), "ann".into(), "h".into(), 999).await.expect("in time");
        assert_eq!(user.role, Role::Member);
        let taken = store.redeem_invite(b"timed".to_vec(), "ANN".into(), "h".into(), 999).await;
        assert!(matches!(taken, Err(StoreError::UsernameTaken)), "{taken:?}");
        store.redeem_invite(b"timed".to_vec(), "bob".into(), "h".into(), 999).await.expect("second use");
        let listed = store.list_invites(999).await.expect("lists");
        assert_eq!((listed[0].uses, listed[0].state), (2, InviteState::UsedUp), "the failed attempt did not count");
    }

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

    #[tokio::test]
    async fn snapshot_is_consistent_while_another_connection_writes() {
        let (dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let body = "x".repeat(3000);
        for i in 0..2000 {
            store.insert_message(1, ann.clone(), body.clone(), i).await.expect("ok");
        }
        let copy = dir.path().join("copy.db");
        let writer = Connection::open(store.path()).expect("opens");
        let mut steps = 0;
        snapshot(store.path(), &copy, |done, total| {
            assert!(done <= total);
            steps += 1;
            // Writes landing between steps must not restart the copy or enter it.
            writer
                .execute(
                    "INSERT INTO messages (channel_id, author_id, body, created_at) VALUES (1, ?1, 'late', 0)",
                    [ann.id],
                )
                .expect("writes during the snapshot");
        })
        .expect("snapshot");
        assert!(steps > 1, "copied in several steps");
        let copied = Connection::open(&copy).expect("opens copy");
        let count: i64 = copied.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)).expect("counts");
        assert_eq!(count, 2000);
        let mode: String = copied.query_row("PRAGMA journal_mode", [], |row| row.get(0)).expect("mode");
        assert_eq!(mode, "delete");
        assert!(matches!(snapshot(&dir.path().join("missing.db"), &copy, |_, _| {}), Err(StoreError::Open { .. })));
    }

    #[test]
    fn integrity_check_finds_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch("CREATE TABLE t (x TEXT); CREATE INDEX tx ON t(x);").expect("creates");
        for i in 0..500 {
            conn.execute("INSERT INTO t VALUES (?1)", [format!("row {i}")]).expect("inserts");
        }
        drop(conn);
        check_integrity(&path).expect("a sound database passes");
        // Page 2 is the table's root: give it a b-tree page type that does not exist.
        let mut bytes = std::fs::read(&path).expect("reads");
        bytes[4096] = 0x01;
        std::fs::write(&path, bytes).expect("writes");
        let err = check_integrity(&path).expect_err("the damage is found");
        assert!(err.to_string().contains("integrity check failed"), "{err}");
    }

    #[tokio::test]
    async fn sessions_expire() {
        let (_dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        store.create_session(vec![1, 2], ann.id, 1000, 0).await.expect("ok");
        assert!(store.session_user(vec![1, 2], 999).await.expect("ok").is_some());
        assert!(store.session_user(vec![1, 2], 1000).await.expect("ok").is_none());
        assert!(store.session_user(vec![9], 0).await.expect("ok").is_none());
    }
}
