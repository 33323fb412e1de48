//! The data-directory locks: at most one process at a time runs a server on, or restores
//! into, a data directory, and no backup reads it while a restore rewrites it.
//!
//! Operating-system file locks on two files in the data directory, held as long as the
//! [`DataDirLock`] lives: `itc-server.lock`, which a server and a restore hold exclusively,
//! and `itc-backup.lock`, which backups hold shared (several at once, beside a running server
//! or none) and a restore exclusively. So a backup runs the same with the server up or
//! stopped, and a restore waits for nobody: it is refused while either is there. The operating
//! system releases a lock when the process ends, even after a crash or `kill -9`, so a stale
//! lock cannot block a restart. The files themselves stay; only the locks on them matter.

use crate::config::DataDir;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// The server's lock file's name inside the data directory.
pub const FILE_NAME: &str = "itc-server.lock";
/// The backups' lock file's name inside the data directory.
pub(crate) const BACKUP_FILE_NAME: &str = "itc-backup.lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the lock: a server is running on this data directory.
    #[error("another itc-server is using the data directory {0} (stop it first)")]
    InUse(String),
    /// A backup is reading the data directory, so it cannot be restored into now.
    #[error("a backup of the data directory {0} is under way; restore when it has finished")]
    BackingUp(String),
    /// A restore is rewriting the data directory, so it cannot be backed up now.
    #[error("a restore into the data directory {0} is under way; back up when it has finished")]
    Restoring(String),
    /// The lock file could not be opened or locked.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Holds data-directory locks until dropped.
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _files: Vec<File>,
}

impl DataDirLock {
    /// A server's lock, without waiting: [`LockError::InUse`] if another server or a restore
    /// holds it. Backups may run beside it.
    pub(crate) fn acquire(data_dir: &DataDir) -> Result<DataDirLock, LockError> {
        let server = lock(data_dir, FILE_NAME, Mode::Exclusive, LockError::InUse)?;
        Ok(DataDirLock { _files: vec![server] })
    }

    /// A restore's lock, without waiting: refused while a server runs ([`LockError::InUse`]) or
    /// a backup reads the data directory ([`LockError::BackingUp`]).
    pub(crate) fn for_restore(data_dir: &DataDir) -> Result<DataDirLock, LockError> {
        let server = lock(data_dir, FILE_NAME, Mode::Exclusive, LockError::InUse)?;
        let backups = lock(data_dir, BACKUP_FILE_NAME, Mode::Exclusive, LockError::BackingUp)?;
        Ok(DataDirLock { _files: vec![server, backups] })
    }

    /// A backup's lock, shared with other backups and with a running server, without
    /// waiting: refused only while a restore runs ([`LockError::Restoring`]).
    pub(crate) fn for_backup(data_dir: &DataDir) -> Result<DataDirLock, LockError> {
        let backups = lock(data_dir, BACKUP_FILE_NAME, Mode::Shared, LockError::Restoring)?;
        Ok(DataDirLock { _files: vec![backups] })
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Exclusive,
    Shared,
}

/// Opens (creating) the lock file `name` and locks it in `mode`; `taken` names the holder
/// when another holds it in a way that excludes us.
fn lock(data_dir: &DataDir, name: &str, mode: Mode, taken: fn(String) -> LockError) -> Result<File, LockError> {
    let path: PathBuf = data_dir.root().join(name);
    let io_err = |source| LockError::Io { path: path.display().to_string(), source };
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err)?;
    let locked = match mode {
        Mode::Exclusive => file.try_lock(),
        Mode::Shared => file.try_lock_shared(),
    };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(taken(data_dir.root().display().to_string())),
        Err(std::fs::TryLockError::Error(source)) => Err(io_err(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = DataDir::new(dir.path());
        let held = DataDirLock::acquire(&data_dir).expect("first lock");
        let err = DataDirLock::acquire(&data_dir).expect_err("second lock refused");
        assert!(matches!(err, LockError::InUse(_)), "{err}");
        assert!(err.to_string().contains("another itc-server is using the data directory"), "{err}");
        drop(held);
        DataDirLock::acquire(&data_dir).expect("free again after drop");
    }

    #[test]
    fn backups_run_beside_a_server_or_none_but_never_beside_a_restore() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = DataDir::new(dir.path());
        let server = DataDirLock::acquire(&data_dir).expect("a server");
        let backup = DataDirLock::for_backup(&data_dir).expect("a backup beside the server");
        let second = DataDirLock::for_backup(&data_dir).expect("two backups at once");
        drop(server);
        let err = DataDirLock::for_restore(&data_dir).expect_err("no restore under a backup");
        assert!(matches!(err, LockError::BackingUp(_)), "{err}");
        drop((backup, second));
        let server = DataDirLock::acquire(&data_dir).expect("a server starts with no backup");
        assert!(matches!(DataDirLock::for_restore(&data_dir), Err(LockError::InUse(_))), "no restore under a server");
        drop(server);

        let restore = DataDirLock::for_restore(&data_dir).expect("a restore with nothing else");
        let err = DataDirLock::for_backup(&data_dir).expect_err("no backup during a restore");
        assert!(matches!(err, LockError::Restoring(_)), "{err}");
        assert!(matches!(DataDirLock::acquire(&data_dir), Err(LockError::InUse(_))), "no server during a restore");
        drop(restore);
        DataDirLock::for_backup(&data_dir).expect("free again after the restore");
    }
}
