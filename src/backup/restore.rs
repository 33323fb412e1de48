//! Restoring an archive into a data directory whose server is stopped.
//!
//! Order of work, so that a refused or failed restore changes nothing: take the data-directory
//! locks (refused while a server runs there or a backup reads it); unpack every file into a staging folder inside
//! the data directory while checking sizes and checksums; check the archived configuration
//! and the database's integrity; refuse another server's archive over an existing server;
//! then move the existing files aside into `replaced-by-restore-<time>/` and the staged ones
//! into place, undoing the moves if one fails.

use super::archive::{self, FileEntry};
use super::{BackupError, Passphrase, Progress, Step};
use crate::config::{Config, ConfigError, DataDir};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The passphrase of an encrypted archive.
    pub passphrase: Option<Passphrase>,
    /// Replace an existing server even when the archive is of a different server (a different
    /// TLS certificate).
    pub replace_other_server: bool,
}

/// A restore that finished.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreReport {
    /// When the backup was taken (RFC 3339, UTC).
    pub created: String,
    /// The restored server's name.
    pub server_name: String,
    /// Files restored.
    pub files: usize,
    /// Where the files that were replaced now are; None when there were none.
    pub set_aside: Option<PathBuf>,
}

/// Restores the archive at `archive_path` into `data_dir` (created if missing), for a stopped
/// server: `DATA_DIR/server.toml` and the database, certificate, key and `uploads/` where the
/// restored configuration puts them, all of which must be inside the data directory.
pub fn restore(
    archive_path: &Path,
    data_dir: &DataDir,
    options: &RestoreOptions,
    mut progress: impl FnMut(Progress),
) -> Result<RestoreReport, BackupError> {
    let root = data_dir.root();
    std::fs::create_dir_all(root).map_err(|e| BackupError::io(root.display(), e))?;
    let _lock = crate::lock::DataDirLock::for_restore(data_dir)?;
    let staging = tempfile::Builder::new()
        .prefix(".itc-restore-")
        .tempdir_in(root)
        .map_err(|e| BackupError::io(root.display(), e))?;
    let manifest = super::read_archive(
        archive_path,
        options.passphrase.as_ref(),
        Step::Unpack,
        &tokio_util::sync::CancellationToken::new(),
        &mut |file, data| stage(staging.path(), file, data),
        &mut progress,
    )?;
    for required in [archive::CONFIG, archive::DATABASE] {
        if !manifest.files.iter().any(|f| f.path == required) {
            return Err(BackupError::Damaged(format!("{required} is missing")));
        }
    }
    let config_text = std::fs::read_to_string(staging.path().join(archive::CONFIG))
        .map_err(|e| BackupError::io(archive::CONFIG, e))?;
    let restored = crate::config::parse(&config_text, "server.toml in the backup")?.config;
    crate::store::check_integrity(&staging.path().join(archive::DATABASE))
        .map_err(|e| BackupError::Damaged(format!("the database fails its integrity check ({e})")))?;
    let placements = placements(&restored, data_dir, staging.path(), &manifest.files)?;

    let existing = existing_config(data_dir);
    let existing_db = data_dir.resolve(&existing.database.path);
    if existing_db.exists() && !options.replace_other_server {
        let existing_fingerprint = fingerprint_of(&existing, data_dir);
        if existing_fingerprint != manifest.server.fingerprint {
            let show = |f: &Option<String>| f.clone().unwrap_or_else(|| "none, TLS off".into());
            return Err(BackupError::ForeignServer {
                archive: show(&manifest.server.fingerprint),
                existing: show(&existing_fingerprint),
                data_dir: root.display().to_string(),
            });
        }
    }

    let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
    let aside_root = root.join(format!("replaced-by-restore-{stamp}"));
    let mut moves = Moves::default();
    let swapped = swap_in(data_dir, &aside_root, &existing, &restored, &placements, &mut moves);
    if let Err(err) = swapped {
        moves.undo();
        let _ = std::fs::remove_dir(&aside_root);
        return Err(err);
    }
    super::sync_folder(root);
    Ok(RestoreReport {
        created: manifest.created,
        server_name: manifest.server.name,
        files: manifest.files.len(),
        set_aside: aside_root.exists().then_some(aside_root),
    })
}

/// Writes one archived file into the staging folder (owner-only on Unix: it may be the key).
fn stage(staging: &Path, file: &FileEntry, data: &mut dyn Read) -> Result<(), BackupError> {
    let target = staging.join(&file.path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BackupError::io(parent.display(), e))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut out = open.open(&target).map_err(|e| BackupError::io(target.display(), e))?;
    std::io::copy(data, &mut out).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
            BackupError::Damaged(format!("{} cannot be read ({e})", file.path))
        }
        _ => BackupError::io(target.display(), e),
    })?;
    out.sync_all().map_err(|e| BackupError::io(target.display(), e))
}

/// Each staged file or folder and where it goes in the data directory.
fn placements(
    restored: &Config,
    data_dir: &DataDir,
    staging: &Path,
    files: &[FileEntry],
) -> Result<Vec<(PathBuf, PathBuf)>, BackupError> {
    let root = data_dir.root();
    let mut placements = vec![
        (staging.join(archive::CONFIG), data_dir.config_file()),
        (staging.join(archive::DATABASE), root.join(inside("database.path", &restored.database.path)?)),
    ];
    let has = |path: &str| files.iter().any(|f| f.path == path);
    if has(archive::CERT) && has(archive::KEY) {
        placements.push((staging.join(archive::CERT), root.join(inside("tls.cert_path", &restored.tls.cert_path)?)));
        placements.push((staging.join(archive::KEY), root.join(inside("tls.key_path", &restored.tls.key_path)?)));
    }
    if files.iter().any(|f| f.path.starts_with(&format!("{}/", archive::UPLOADS))) {
        placements.push((staging.join(archive::UPLOADS), data_dir.uploads()));
    }
    Ok(placements)
}

/// `configured` as a path inside the data directory, or why it cannot be restored to.
fn inside(key: &str, configured: &str) -> Result<PathBuf, BackupError> {
    let path = PathBuf::from(configured);
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Ok(path);
    }
    Err(ConfigError::Invalid {
        key: key.into(),
        reason: format!("{configured:?} is outside the data directory; restore only writes inside it"),
    }
    .into())
}

/// The configuration now in the data directory, or the defaults (which name the default files).
fn existing_config(data_dir: &DataDir) -> Config {
    std::fs::read_to_string(data_dir.config_file())
        .ok()
        .and_then(|text| crate::config::parse(&text, "server.toml").ok())
        .map(|loaded| loaded.config)
        .unwrap_or_default()
}

/// The hex fingerprint of the certificate `config` names, if TLS is on and it is readable.
fn fingerprint_of(config: &Config, data_dir: &DataDir) -> Option<String> {
    if !config.tls.enabled {
        return None;
    }
    let cert = data_dir.resolve(&config.tls.cert_path);
    let key = data_dir.resolve(&config.tls.key_path);
    crate::tls::ServerIdentity::load(&cert, &key)
        .ok()
        .map(|identity| crate::tls::hex_fingerprint(&identity.fingerprint()))
}

/// The renames done so far, to undo on failure.
#[derive(Default)]
struct Moves(Vec<(PathBuf, PathBuf)>);

impl Moves {
    fn rename(&mut self, from: &Path, to: &Path) -> Result<(), BackupError> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BackupError::io(parent.display(), e))?;
        }
        std::fs::rename(from, to).map_err(|e| BackupError::io(to.display(), e))?;
        self.0.push((from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    /// Puts everything back, newest move first.
    fn undo(self) {
        for (from, to) in self.0.into_iter().rev() {
            let _ = std::fs::rename(&to, &from);
        }
    }
}

/// Moves the existing server's files (as either configuration names them, with the database's
/// journal files) aside, keeping their places relative to the data directory, then the staged
/// files into place.
fn swap_in(
    data_dir: &DataDir,
    aside_root: &Path,
    existing: &Config,
    restored: &Config,
    placements: &[(PathBuf, PathBuf)],
    moves: &mut Moves,
) -> Result<(), BackupError> {
    let root = data_dir.root();
    let mut replaced = BTreeSet::from([data_dir.config_file(), data_dir.uploads()]);
    for config in [existing, restored] {
        let mut names: Vec<String> =
            ["", "-wal", "-shm", "-journal"].iter().map(|suffix| format!("{}{suffix}", config.database.path)).collect();
        names.extend([config.tls.cert_path.clone(), config.tls.key_path.clone()]);
        replaced.extend(names.iter().filter_map(|name| inside("", name).ok()).map(|relative| root.join(relative)));
    }
    for current in &replaced {
        if current.symlink_metadata().is_ok() {
            let relative =
                current.strip_prefix(root).map_err(|_| BackupError::UnsafePath(current.display().to_string()))?;
            moves.rename(current, &aside_root.join(relative))?;
        }
    }
    for (staged, target) in placements {
        moves.rename(staged, target)?;
    }
    Ok(())
}
