//! Persistent state in SQLite: users, sessions, invites, categories, channels, direct channels,
//! messages, VPN peers and the VPN's server key.
//!
//! All SQL of the engine lives here, behind typed async functions whose signatures carry no
//! SQLite types (so another database can stand behind them later). Writes go through one
//! writer thread that commits every job waiting at that moment in one transaction (group
//! commit, `synchronous=FULL`): a write's future resolves only after its transaction is durable.
//! Each job runs in its own savepoint, so one failing job does not undo its batch-mates.
//! Reads use a small pool of connections on the same WAL database.
//!
//! This file owns the `Store` handle, its writer thread and read pool, and the error type; the
//! operations live next to their tables: `users` (accounts and login sessions), `invites`,
//! `channels` (categories, channels, direct channels), `messages`, `reads` (read markers and
//! unread counts), `moderation` (overrides, slow mode, bans, timeouts, the audit log, keyword
//! filters, approvals), `reactions`, `search` (the full-text index), `mentions`, `previews` (link
//! previews and their cache), `data_rights` (a member's export, deleting an account), `tokens`
//! (access tokens for the REST API), `supervision` (supervised members), `files` (uploaded
//! files, the files messages carry, custom emoji), `uploads` (uploads in progress, kept over a
//! restart), `vpn` (the VPN's key, cap and
//! peers), `schema` (migrations and connection settings) and `snapshot` (backup copies and
//! integrity checks).

mod channels;
mod data_rights;
mod files;
mod invites;
mod mentions;
mod messages;
mod moderation;
mod previews;
mod reactions;
mod reads;
mod schema;
mod search;
mod snapshot;
mod supervision;
mod tokens;
mod uploads;
mod users;
mod vpn;

pub use files::{NewFile, NewImage, StoredFile};
pub use invites::{InviteUnusable, NewInvite};
pub use moderation::{ActiveTimeout, NewAuditEntry, NewBan, Scope, ScopedOverride};
pub use reactions::MAX_REACTIONS_PER_MEMBER;
pub use snapshot::{check_integrity, snapshot};
pub use supervision::SupervisionRecord;
pub use tokens::{NewToken, TokenHolder};
pub use uploads::UnfinishedUpload;
pub use users::UserRecord;
pub use vpn::VpnPeerRecord;

use crate::ids::{ChannelId, MessageId, UserId};
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::Connection;
use schema::{configure, migrate};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 1000;
/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;
/// Page cache of a pooled read connection, KiB (SQLite's default is 2,000 KiB per
/// connection). In WAL mode a reader drops its whole cache whenever another connection
/// committed since its last read, so on a server that writes all the time a big reader cache
/// buys little: the pages come back from the operating system's file cache.
const READER_CACHE_KIB: u32 = 256;
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
    /// The thing to add exists already (a keyword filter).
    #[error("that exists already")]
    Duplicate,
    /// Another peer already has this WireGuard public key.
    #[error("another VPN peer already has this public key")]
    VpnKeyTaken,
    /// A limit on stored things is reached (the message says which).
    #[error("{0}")]
    LimitReached(String),
    /// A custom emoji already has this shortcode.
    #[error("a custom emoji already has this shortcode")]
    EmojiTaken,
    /// The server keeps as many custom emoji as it may.
    #[error("the server has as many custom emoji as it may keep")]
    EmojiLimit,
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
                    conn.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB}"))?;
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

/// Binds and reads the typed row ids as SQLite integers: the one place they meet SQL.
macro_rules! sql_row_id {
    ($($id:ident),*) => {$(
        impl ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.get()))
            }
        }

        impl FromSql for $id {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<$id> {
                i64::column_result(value).map($id)
            }
        }
    )*};
}

sql_row_id!(UserId, ChannelId, MessageId);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Role;

    pub(super) async fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("opens");
        (dir, store)
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
                    store.create_user("ann".into(), "h".into(), Role::Member, 1).await.map(|_| ())
                } else {
                    store.insert_message(ChannelId(1), user, format!("m{i}"), None, i).await.map(|_| ())
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
        let page = store.history(ChannelId(1), None, 100).await.expect("ok");
        assert_eq!(page.messages.len(), 100);
        assert!(page.has_more);
        let older = store.history(ChannelId(1), Some(page.messages[0].id), 100).await.expect("ok");
        assert_eq!(older.messages.len(), 96);
        assert!(!older.has_more);
        assert!(older.messages.windows(2).all(|w| w[0].id < w[1].id));
    }
}
