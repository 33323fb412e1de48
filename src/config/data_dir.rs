//! The data directory: where the server keeps its files, and how config paths resolve in it.

use std::path::{Path, PathBuf};

/// The config file's name inside the data directory.
pub const FILE_NAME: &str = "server.toml";

/// The folder for uploaded files, inside the data directory.
const UPLOADS_FOLDER: &str = "uploads";
/// The folder of uploads in progress, inside `uploads/`.
const UNFINISHED_FOLDER: &str = "tmp";

/// Where the server keeps its files.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path from the config, relative to the data directory unless absolute.
    pub fn resolve(&self, configured: &str) -> PathBuf {
        let path = Path::new(configured);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// The default config file location.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(FILE_NAME)
    }

    /// The folder for uploaded files, `uploads/` (the server creates it when it starts;
    /// backups and restores carry it, but for the uploads still in progress).
    pub fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS_FOLDER)
    }

    /// The folder of uploads in progress, `uploads/tmp/` (emptied when the server starts;
    /// backups leave it out).
    pub fn unfinished_uploads(&self) -> PathBuf {
        self.uploads().join(UNFINISHED_FOLDER)
    }
}
