//! Backups: a consistent online snapshot of the database plus `uploads/`, the config, and the
//! TLS certificate and key, in one archive with a manifest and checksums, verified after
//! writing, optionally encrypted with a passphrase; restoring one; listing and pruning the
//! archives in a folder; and the nightly schedule ([`schedule`]).
//!
//! [`create`] needs no server and works the same while one runs (in this process or another):
//! the database is copied through [`crate::store::snapshot`], so everything committed before
//! the backup started is in it. It holds the data directory's backup lock (shared; see
//! [`crate::lock`]) and can be cancelled ([`BackupOptions::cancel`]).
//! [`restore`] is for a stopped server: it holds the data-directory locks,
//! unpacks and checks everything into a staging folder first, and only then swaps the files
//! in, keeping the ones it replaces in `replaced-by-restore-…/`, so a refused or failed
//! restore changes nothing. The archive format is in [`archive`], the encryption in [`crypt`].
//! Everything here is blocking file work: async callers use a blocking thread.

pub mod archive;
pub mod crypt;
mod restore;
pub mod schedule;

pub use restore::{restore, RestoreOptions, RestoreReport};

use crate::config::{Config, ConfigError, DataDir};
use crate::store::StoreError;
use crate::tls::TlsError;
use archive::{FileEntry, Manifest, Source};
use jiff::Timestamp;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Archive file names start with this, then the UTC time `YYYYMMDD-HHMMSS`.
const NAME_PREFIX: &str = "itc-backup-";
/// A plain archive's extension.
const PLAIN_SUFFIX: &str = ".tar";
/// An encrypted archive's extension.
const ENCRYPTED_SUFFIX: &str = ".tar.enc";
/// `strftime` form of the time in archive names (UTC).
const NAME_TIME: &str = "%Y%m%d-%H%M%S";

/// Why a backup, verification or restore failed. Each message is one line a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The file is not an archive this program wrote.
    #[error("not an IPTinCan backup: {0}")]
    NotABackup(String),
    /// The archive is ours but something in it was changed, cut short or lost.
    #[error("backup is damaged: {0}")]
    Damaged(String),
    /// The archive was written by a newer version of IPTinCan.
    #[error("this backup was made by a newer IPTinCan ({what}); update IPTinCan to use it")]
    NewerFormat {
        /// Which format and version.
        what: String,
    },
    /// The archive names a path that could escape the data directory, or a link.
    #[error("backup is refused: it holds the unsafe path {0:?}")]
    UnsafePath(String),
    /// The archive is encrypted and no passphrase was given.
    #[error("this backup is encrypted: give its passphrase")]
    PassphraseNeeded,
    /// The passphrase does not open the archive.
    #[error("wrong passphrase for this backup")]
    WrongPassphrase,
    /// The passphrase could not be read or is unusable.
    #[error("passphrase: {0}")]
    Encryption(String),
    /// The archive is of a different server than the one in the target data directory.
    #[error(
        "this backup is of another server (certificate {archive}), not of the server in {data_dir} \
         (certificate {existing}); refusing to replace it unless asked to (itc-server restore --force)"
    )]
    ForeignServer {
        /// The archive's certificate fingerprint.
        archive: String,
        /// The existing server's.
        existing: String,
        /// The data directory.
        data_dir: String,
    },
    /// A file changed while it was being archived.
    #[error("{0} changed while the backup was running; try again")]
    Changed(String),
    /// The backup was cancelled; it left no partial archive.
    #[error("the backup was cancelled")]
    Cancelled,
    /// A server, a restore or a backup holds the data directory.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The configuration (the running one, or the one in the archive) does not allow this.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be copied or checked.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The certificate could not be read.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A file could not be read or written (a full disk, permissions, ...).
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl BackupError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        BackupError::Io { path: path.to_string(), source }
    }
}

/// A backup passphrase; its `Debug` form hides it, so it never reaches a log.
#[derive(Clone, PartialEq)]
pub struct Passphrase(String);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(…)")
    }
}

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(text: impl Into<String>) -> Self {
        Passphrase(text.into())
    }

    /// The first line of `path` (without its line ending); an empty one is an error.
    pub fn from_file(path: &Path) -> Result<Self, BackupError> {
        let text = std::fs::read_to_string(path).map_err(|e| BackupError::io(path.display(), e))?;
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(BackupError::Encryption(format!("{}: the first line is empty", path.display())));
        }
        Ok(Passphrase::new(line))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

/// A stage of a long run, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Copying the database; counted in pages.
    Snapshot,
    /// Writing the archive; counted in bytes of the files in it.
    Write,
    /// Reading the archive back and checking every checksum; in bytes.
    Verify,
    /// Unpacking and checking files for a restore; in bytes.
    Unpack,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Snapshot => "copying the database",
            Step::Write => "writing the archive",
            Step::Verify => "verifying the archive",
            Step::Unpack => "unpacking and checking",
        })
    }
}

/// How far a long run has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being done.
    pub step: Step,
    /// Units done so far.
    pub done: u64,
    /// Units in all (0 when there is nothing to do).
    pub total: u64,
}

impl Progress {
    /// Percent done, 0 to 100.
    pub fn percent(&self) -> u64 {
        (self.done.min(self.total) * 100).checked_div(self.total).unwrap_or(100)
    }
}

/// The progress of the run under way, shared with whoever shows it (the tray's dashboard).
/// Cloning gives another handle on the same cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProgressCell(std::sync::Arc<std::sync::Mutex<Option<Progress>>>);

impl ProgressCell {
    /// How far the run under way has got; None when nothing runs.
    pub fn get(&self) -> Option<Progress> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A callback for [`create`] or [`restore()`] that records each report here.
    pub fn recorder(&self) -> impl FnMut(Progress) + Send + 'static {
        let cell = self.clone();
        move |progress| cell.set(Some(progress))
    }

    /// Marks the run as over.
    pub fn clear(&self) {
        self.set(None);
    }

    fn set(&self, progress: Option<Progress>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = progress;
    }
}

/// What to back up to, and how.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// A folder for a new, time-named archive, or the archive's file name. None: the folder
    /// `backup.directory`.
    pub output: Option<PathBuf>,
    /// Encrypt the archive with this passphrase.
    pub passphrase: Option<Passphrase>,
    /// Cancelling it (from any thread) stops the backup at its next read or write of the
    /// archive, or once the database copy is done, with [`BackupError::Cancelled`].
    pub cancel: CancellationToken,
}

/// A backup that was written and verified.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupReport {
    /// The archive.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// When the snapshot was taken.
    pub created: Timestamp,
    /// Files in it (database, config, certificate, key, uploads).
    pub files: usize,
    /// Whether it is encrypted.
    pub encrypted: bool,
}

/// Takes a backup of the server with `config` and `data_dir` (running or not), writes it to a
/// temporary file beside its destination, reads it back to verify every checksum, and only
/// then gives it its name. On any failure, a cancel included, no partial archive is left
/// behind. Refused while a restore runs on the data directory.
pub fn create(
    config: &Config,
    data_dir: &DataDir,
    options: &BackupOptions,
    mut progress: impl FnMut(Progress),
) -> Result<BackupReport, BackupError> {
    let _lock = crate::lock::DataDirLock::for_backup(data_dir)?;
    match write_and_verify(config, data_dir, options, &mut progress) {
        Err(_) if options.cancel.is_cancelled() => Err(BackupError::Cancelled),
        done => done,
    }
}

/// [`create`]'s work; its temporary files are removed when it returns, whatever the outcome.
fn write_and_verify(
    config: &Config,
    data_dir: &DataDir,
    options: &BackupOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupReport, BackupError> {
    let created = Timestamp::now();
    let (folder, file_name) = destination(config, data_dir, options, created)?;
    std::fs::create_dir_all(&folder).map_err(|e| BackupError::io(folder.display(), e))?;
    let temp = |what: &str| {
        tempfile::Builder::new()
            .prefix(&format!(".itc-backup-{what}-"))
            .tempfile_in(&folder)
            .map_err(|e| BackupError::io(folder.display(), e))
    };

    let snapshot = temp("database")?;
    crate::store::snapshot(&data_dir.resolve(&config.database.path), snapshot.path(), |done, total| {
        progress(Progress { step: Step::Snapshot, done, total })
    })?;
    if options.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }
    let (manifest, sources) = gather(config, data_dir, snapshot.path(), created)?;

    let archive = temp("archive")?;
    let file = archive.reopen().map_err(|e| BackupError::io(archive.path().display(), e))?;
    let out = BufWriter::new(Cancellable { inner: file, cancel: &options.cancel });
    let written = write_sealed(out, &manifest, &sources, options.passphrase.as_ref(), progress)
        .and_then(|writer| writer.into_inner().map_err(|e| BackupError::io(archive.path().display(), e.into_error())));
    let file = written?.inner;
    file.sync_all().map_err(|e| BackupError::io(archive.path().display(), e))?;
    drop(snapshot);

    verify_with_progress(archive.path(), options.passphrase.as_ref(), Step::Verify, &options.cancel, progress)?;
    let path = folder.join(&file_name);
    let size = file.metadata().map_err(|e| BackupError::io(archive.path().display(), e))?.len();
    archive.persist_noclobber(&path).map_err(|e| BackupError::io(path.display(), e.error))?;
    sync_folder(&folder);
    Ok(BackupReport { path, size, created, files: manifest.files.len(), encrypted: options.passphrase.is_some() })
}

/// The folder and file name of a new archive.
fn destination(
    config: &Config,
    data_dir: &DataDir,
    options: &BackupOptions,
    created: Timestamp,
) -> Result<(PathBuf, String), BackupError> {
    let output = match &options.output {
        Some(output) => output.clone(),
        None => data_dir.resolve(&config.backup.directory),
    };
    let names_folder = output.as_os_str().to_string_lossy().ends_with(['/', std::path::MAIN_SEPARATOR]);
    if output.is_dir() || names_folder || options.output.is_none() {
        let mut name = archive_name(created, options.passphrase.is_some());
        // Two backups within one second: number the second.
        for n in 2.. {
            if !output.join(&name).exists() {
                break;
            }
            let suffix = if options.passphrase.is_some() { ENCRYPTED_SUFFIX } else { PLAIN_SUFFIX };
            name = format!("{NAME_PREFIX}{}-{n}{suffix}", created.strftime(NAME_TIME));
        }
        return Ok((output, name));
    }
    let file_name = output.file_name().map(|n| n.to_string_lossy().into_owned());
    let folder = output.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty());
    match file_name {
        Some(name) => Ok((folder.unwrap_or_else(|| PathBuf::from(".")), name)),
        None => Err(BackupError::io(output.display(), std::io::ErrorKind::InvalidInput.into())),
    }
}

/// `itc-backup-YYYYMMDD-HHMMSS.tar` (or `.tar.enc`), in UTC.
pub(crate) fn archive_name(created: Timestamp, encrypted: bool) -> String {
    let suffix = if encrypted { ENCRYPTED_SUFFIX } else { PLAIN_SUFFIX };
    format!("{NAME_PREFIX}{}{suffix}", created.strftime(NAME_TIME))
}

/// The time in an archive name written by [`archive_name`] (or numbered by [`create`]), and
/// whether it is encrypted; None for any other name.
pub(crate) fn parse_archive_name(name: &str) -> Option<(Timestamp, bool)> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (stamp, encrypted) = match rest.strip_suffix(ENCRYPTED_SUFFIX) {
        Some(stamp) => (stamp, true),
        None => (rest.strip_suffix(PLAIN_SUFFIX)?, false),
    };
    let (time, number) = match stamp.get(15..) {
        Some("") => (stamp, None),
        Some(number) => (&stamp[..15], Some(number.strip_prefix('-')?)),
        None => return None,
    };
    if number.is_some_and(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    if time.len() != 15 || !time.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'-' } else { b.is_ascii_digit() }) {
        return None;
    }
    let civil = jiff::fmt::strtime::parse(NAME_TIME, time).ok()?.to_datetime().ok()?;
    Some((civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp(), encrypted))
}

/// The manifest and the sources of every file: config, database snapshot, certificate and
/// key (when TLS is on and they exist), and every regular file under `uploads/`.
fn gather(
    config: &Config,
    data_dir: &DataDir,
    snapshot: &Path,
    created: Timestamp,
) -> Result<(Manifest, Vec<Source>), BackupError> {
    let mut contents = Contents::default();
    contents.add_bytes(archive::CONFIG, config_text(config, data_dir)?.into_bytes())?;
    contents.add_file(archive::DATABASE.into(), snapshot.to_path_buf())?;
    let mut fingerprint = None;
    let (cert, key) = (data_dir.resolve(&config.tls.cert_path), data_dir.resolve(&config.tls.key_path));
    if config.tls.enabled && cert.exists() && key.exists() {
        fingerprint = Some(crate::tls::ServerIdentity::load(&cert, &key)?.fingerprint());
        for (path, on_disk) in [(archive::CERT, &cert), (archive::KEY, &key)] {
            contents.add_bytes(path, std::fs::read(on_disk).map_err(|e| BackupError::io(on_disk.display(), e))?)?;
        }
    }
    for (path, on_disk) in upload_files(&data_dir.uploads(), &data_dir.unfinished_uploads())? {
        contents.add_file(path, on_disk)?;
    }
    let manifest = Manifest {
        format: archive::FORMAT.into(),
        format_version: archive::FORMAT_VERSION,
        app_version: crate::version::current().into(),
        created: created.to_string(),
        server: archive::ServerIdentity {
            name: config.server.name.clone(),
            fingerprint: fingerprint.as_ref().map(crate::tls::hex_fingerprint),
        },
        files: contents.files,
    };
    Ok((manifest, contents.sources))
}

/// The files of an archive being put together, each measured as it is added.
#[derive(Default)]
struct Contents {
    files: Vec<FileEntry>,
    sources: Vec<Source>,
}

impl Contents {
    fn add_bytes(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        let (size, sha256) = archive::measure(bytes.as_slice()).map_err(|e| BackupError::io(path, e))?;
        self.files.push(FileEntry { path: path.into(), size, sha256 });
        self.sources.push(Source::Bytes(bytes));
        Ok(())
    }

    fn add_file(&mut self, path: String, on_disk: PathBuf) -> Result<(), BackupError> {
        let measured = File::open(&on_disk).and_then(|file| archive::measure(BufReader::new(file)));
        let (size, sha256) = measured.map_err(|e| BackupError::io(on_disk.display(), e))?;
        self.files.push(FileEntry { path, size, sha256 });
        self.sources.push(Source::File(on_disk));
        Ok(())
    }
}

/// The config file's text if `DATA_DIR/server.toml` is the running configuration (comments
/// kept), else the running configuration written out.
fn config_text(config: &Config, data_dir: &DataDir) -> Result<String, BackupError> {
    let on_disk = std::fs::read_to_string(data_dir.config_file()).ok();
    if let Some(text) = on_disk {
        if crate::config::parse(&text, "server.toml").is_ok_and(|loaded| loaded.config == *config) {
            return Ok(text);
        }
    }
    toml::to_string(config).map_err(|e| BackupError::io("server.toml", std::io::Error::other(e)))
}

/// Every regular file under `uploads` (links are not followed) but those in `unfinished`
/// (uploads in progress, still changing), as archive path and file.
fn upload_files(uploads: &Path, unfinished: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut found = Vec::new();
    let mut folders = vec![(archive::UPLOADS.to_string(), uploads.to_path_buf())];
    while let Some((prefix, folder)) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(BackupError::io(folder.display(), err)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| BackupError::io(folder.display(), e))?;
            let kind = entry.file_type().map_err(|e| BackupError::io(entry.path().display(), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(BackupError::UnsafePath(entry.path().display().to_string()));
            };
            let path = format!("{prefix}/{name}");
            if kind.is_dir() && entry.path() != unfinished {
                folders.push((path, entry.path()));
            } else if kind.is_file() {
                archive::check_path(&path)?;
                found.push((path, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes the archive through the encryption layer when there is a passphrase.
fn write_sealed<W: Write>(
    out: W,
    manifest: &Manifest,
    sources: &[Source],
    passphrase: Option<&Passphrase>,
    progress: &mut dyn FnMut(Progress),
) -> Result<W, BackupError> {
    let finish_err = |e| BackupError::io("the archive", e);
    let mut out = match passphrase {
        None => archive::write(out, manifest, sources, progress)?,
        Some(passphrase) => {
            let sealed = crypt::EncryptingWriter::new(out, passphrase)?;
            archive::write(sealed, manifest, sources, progress)?.finish().map_err(finish_err)?
        }
    };
    out.flush().map_err(finish_err)?;
    Ok(out)
}

/// Reads the archive at `path` and checks its manifest and every file's size and checksum.
/// An encrypted archive needs its passphrase; a plain one ignores it.
pub fn verify(path: &Path, passphrase: Option<&Passphrase>) -> Result<Manifest, BackupError> {
    verify_with_progress(path, passphrase, Step::Verify, &CancellationToken::new(), &mut |_| {})
}

fn verify_with_progress(
    path: &Path,
    passphrase: Option<&Passphrase>,
    step: Step,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, BackupError> {
    read_archive(path, passphrase, step, cancel, &mut |_, _| Ok(()), progress)
}

/// Opens the archive at `path` (decrypting it when it is encrypted) and reads it with
/// [`archive::read`], reading on to the end so that a cut encrypted archive is noticed. Once
/// `cancel` is cancelled every read fails.
fn read_archive(
    path: &Path,
    passphrase: Option<&Passphrase>,
    step: Step,
    cancel: &CancellationToken,
    on_file: &mut dyn FnMut(&FileEntry, &mut dyn Read) -> Result<(), BackupError>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, BackupError> {
    let io_err = |e| BackupError::io(path.display(), e);
    let file = File::open(path).map_err(io_err)?;
    let mut file = BufReader::new(Cancellable { inner: file, cancel });
    let mut magic = [0u8; 8];
    let encrypted = file.read_exact(&mut magic).is_ok() && &magic == crypt::MAGIC;
    file.rewind().map_err(io_err)?;
    if !encrypted {
        let manifest = archive::read(&mut file, step, on_file, progress)?;
        return Ok(manifest);
    }
    let passphrase = passphrase.ok_or(BackupError::PassphraseNeeded)?;
    let mut reader = crypt::DecryptingReader::open(file, passphrase)?;
    let outcome = archive::read(&mut reader, step, on_file, progress)
        .and_then(|manifest| std::io::copy(&mut reader, &mut std::io::sink()).map(|_| manifest).map_err(io_err));
    match outcome {
        Err(_) if reader.tampered() => Err(BackupError::Damaged(crypt::Tampered.to_string())),
        other => other,
    }
}

/// A file whose reads and writes fail once `cancel` is cancelled, so that a long copy through
/// it stops within one buffer.
struct Cancellable<'a> {
    inner: File,
    cancel: &'a CancellationToken,
}

impl Cancellable<'_> {
    fn check(&self) -> std::io::Result<()> {
        if self.cancel.is_cancelled() {
            return Err(std::io::Error::other(BackupError::Cancelled.to_string()));
        }
        Ok(())
    }
}

impl Read for Cancellable<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check()?;
        self.inner.read(buf)
    }
}

impl Seek for Cancellable<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl Write for Cancellable<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.check()?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An archive in a backup folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveInfo {
    /// The file.
    pub path: PathBuf,
    /// When it was taken (from its name).
    pub created: Timestamp,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is encrypted.
    pub encrypted: bool,
}

/// The archives in `folder` (only files named like ours), oldest first; none if the folder
/// does not exist.
pub fn list(folder: &Path) -> Result<Vec<ArchiveInfo>, BackupError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(BackupError::io(folder.display(), err)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BackupError::io(folder.display(), e))?;
        let Some((created, encrypted)) = entry.file_name().to_str().and_then(parse_archive_name) else { continue };
        let metadata = entry.metadata().map_err(|e| BackupError::io(entry.path().display(), e))?;
        if metadata.is_file() {
            found.push(ArchiveInfo { path: entry.path(), created, size: metadata.len(), encrypted });
        }
    }
    found.sort_by(|a, b| (a.created, &a.path).cmp(&(b.created, &b.path)));
    Ok(found)
}

/// Deletes the archives in `folder` taken more than `retention_days` days before `now`,
/// never the newest one, and nothing not named like ours. Returns what it deleted.
pub fn prune(folder: &Path, retention_days: u32, now: Timestamp) -> Result<Vec<PathBuf>, BackupError> {
    let cutoff = now - jiff::SignedDuration::from_hours(24 * i64::from(retention_days));
    let mut archives = list(folder)?;
    archives.pop();
    let mut deleted = Vec::new();
    for old in archives.into_iter().filter(|a| a.created < cutoff) {
        std::fs::remove_file(&old.path).map_err(|e| BackupError::io(old.path.display(), e))?;
        deleted.push(old.path);
    }
    Ok(deleted)
}

/// Makes a rename in `folder` durable (Unix; elsewhere the rename is all there is).
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn archive_names_round_trip_and_others_are_not_ours() {
        let created = at("2026-03-08T07:05:09Z");
        assert_eq!(archive_name(created, false), "itc-backup-20260308-070509.tar");
        assert_eq!(parse_archive_name("itc-backup-20260308-070509.tar"), Some((created, false)));
        assert_eq!(parse_archive_name("itc-backup-20260308-070509.tar.enc"), Some((created, true)));
        assert_eq!(parse_archive_name("itc-backup-20260308-070509-2.tar"), Some((created, false)));
        for other in [
            "itc-backup-20260308-070509.tar.gz",
            "itc-backup-20260308-070509-.tar",
            "itc-backup-20260308-070509-x.tar",
            "itc-backup-20261308-070509.tar",
            "itc-backup-2026030-0705091.tar",
            "my-backup-20260308-070509.tar",
            "itc-backup-20260308-070509.tar.partial",
            ".itc-backup-archive-abc",
        ] {
            assert_eq!(parse_archive_name(other), None, "{other}");
        }
    }

    #[test]
    fn prune_removes_only_our_old_archives_and_keeps_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = [
            "itc-backup-20260101-030000.tar",
            "itc-backup-20260110-030000.tar.enc",
            "itc-backup-20260120-030000.tar",
            "itc-backup-20260125-030000.tar",
            "notes-20260101.tar",
            "itc-backup-old.tar",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), name).expect("writes");
        }
        let deleted = prune(dir.path(), 14, at("2026-01-25T04:00:00Z")).expect("prunes");
        let deleted: Vec<_> = deleted.iter().filter_map(|p| p.file_name()?.to_str()).collect();
        assert_eq!(deleted, ["itc-backup-20260101-030000.tar", "itc-backup-20260110-030000.tar.enc"]);
        let left: Vec<_> = list(dir.path()).expect("lists").into_iter().map(|a| a.size).collect();
        assert_eq!(left.len(), 2);
        assert!(dir.path().join("notes-20260101.tar").exists() && dir.path().join("itc-backup-old.tar").exists());

        // Years later, the newest archive is still kept.
        let deleted = prune(dir.path(), 14, at("2030-01-01T00:00:00Z")).expect("prunes");
        assert_eq!(deleted.len(), 1);
        assert_eq!(list(dir.path()).expect("lists").len(), 1);
        assert!(list(&dir.path().join("missing")).expect("no folder, no archives").is_empty());
    }

    #[test]
    fn passphrases_stay_out_of_debug_output() {
        let options = BackupOptions { passphrase: Some(Passphrase::new("hunter22")), ..BackupOptions::default() };
        assert!(!format!("{options:?}").contains("hunter22"));
    }

    #[test]
    fn progress_percent() {
        assert_eq!(Progress { step: Step::Write, done: 1, total: 4 }.percent(), 25);
        assert_eq!(Progress { step: Step::Write, done: 0, total: 0 }.percent(), 100);
    }
}
