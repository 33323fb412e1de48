//! The data-directory lock: at most one process at a time runs a server on, or restores into,
//! a data directory.
//!
//! The lock is an exclusive operating-system file lock on `itc-server.lock` in the data
//! directory, held as long as the [`DataDirLock`] lives. The operating system releases it when
//! the process ends, even after a crash or `kill -9`, so a stale lock cannot block a restart.
//! The file itself stays; only the lock on it matters.

use crate::config::DataDir;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// The lock file's name inside the data directory.
pub const FILE_NAME: &str = "itc-server.lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the lock: a server is running on this data directory.
    #[error("another itc-server is using the data directory {0} (stop it first)")]
    InUse(String),
    /// The lock file could not be opened or locked.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Holds the data directory's lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock without waiting; [`LockError::InUse`] if another process holds it.
    pub fn acquire(data_dir: &DataDir) -> Result<DataDirLock, LockError> {
        let path: PathBuf = data_dir.root().join(FILE_NAME);
        let io_err = |source| LockError::Io { path: path.display().to_string(), source };
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::InUse(data_dir.root().display().to_string())),
            Err(std::fs::TryLockError::Error(source)) => Err(io_err(source)),
        }
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
}
