//! The file store: content-addressed blobs under `uploads/` and the uploads in progress.
//!
//! A blob lives at `uploads/<first two hex digits>/<SHA-256 in hex>`: a name a client gave
//! never becomes a path, and the same bytes uploaded twice are kept once. An upload in progress
//! is a temporary file `uploads/tmp/<upload id>.part`, written chunk by chunk at the offset the
//! server confirmed (so memory stays one chunk whatever the size) and hashed as it arrives.
//! Limits are checked when an upload begins, before a byte is kept: the per-file limit
//! (`server.max_file_bytes`) and the storage left under `server.max_storage_bytes` (counting
//! the sizes announced by uploads still in progress). An upload that gets no chunk within
//! `server.upload_resume_seconds` is removed by [`Uploads::sweep`].
//!
//! Uploads in progress survive a restart: each is recorded in the store when it begins, and
//! its offset is noted (after its temporary file is synced) every [`PERSIST_BYTES`] or
//! [`PERSIST_EVERY`], whichever comes first. At start the uploads still within their resume
//! window are taken back at their noted offset (the temporary file cut there, its hash
//! computed again at the next chunk); other temporary files are removed.
//!
//! Pictures (PNG, JPEG, GIF, WebP, recognised by their bytes) get a thumbnail and lose their
//! metadata when finished, off the async runtime and one at a time (see `images`).

use super::context::Failure;
use super::images::{self, Format};
use crate::config::{DataDir, ServerSection};
use crate::ids::UserId;
use crate::proto::{ErrorCode, UploadSpec, UploadState, CHUNK_BYTES, MAX_EMOJI_PIXELS};
use crate::store::{NewFile, NewImage, Store, StoreError, UnfinishedUpload};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// An upload's offset is noted in the store after at most this many new bytes …
pub const PERSIST_BYTES: u64 = 8 * 1024 * 1024;
/// … or this long, whichever comes first.
pub const PERSIST_EVERY: Duration = Duration::from_secs(1);

/// Why an upload or download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// Over `server.max_file_bytes`.
    #[error("the file is {size} bytes; this server takes files of at most {max} bytes (server.max_file_bytes)")]
    TooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Over what `server.max_storage_bytes` leaves.
    #[error("the file is {size} bytes but only {left} bytes of storage are left (server.max_storage_bytes)")]
    StorageFull {
        /// The announced size.
        size: u64,
        /// What is left.
        left: u64,
    },
    /// No such upload for this user (finished, cancelled, expired, or never begun).
    #[error("no upload {0} in progress (it may have expired: begin again)")]
    Unknown(String),
    /// A chunk that does not start at the server's offset.
    #[error("the upload is at offset {expected}; a chunk must start there, not at {got}")]
    WrongOffset {
        /// The server's offset.
        expected: u64,
        /// The chunk's.
        got: u64,
    },
    /// A chunk past the announced size, empty, or over the chunk limit.
    #[error("{0}")]
    BadChunk(String),
    /// `upload_finish` before every byte arrived.
    #[error("the upload has {offset} of {size} bytes; send the rest before finishing")]
    Incomplete {
        /// Bytes kept.
        offset: u64,
        /// Bytes announced.
        size: u64,
    },
    /// A custom emoji's bytes are not a picture it may be.
    #[error("{0}")]
    BadEmoji(String),
    /// Another request is writing this upload right now.
    #[error("a chunk of this upload is being written; wait for its answer")]
    Busy,
    /// The disk failed.
    #[error("file storage failed: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<UploadError> for Failure {
    fn from(err: UploadError) -> Failure {
        let err = match err {
            UploadError::Store(store) => return store.into(),
            other => other,
        };
        let code = match &err {
            UploadError::TooLarge { .. } => ErrorCode::FileTooLarge,
            UploadError::StorageFull { .. } => ErrorCode::StorageFull,
            UploadError::Unknown(_) => ErrorCode::NotFound,
            UploadError::WrongOffset { .. }
            | UploadError::BadChunk(_)
            | UploadError::Incomplete { .. }
            | UploadError::BadEmoji(_) => ErrorCode::InvalidArgument,
            UploadError::Busy => ErrorCode::NotAllowedNow,
            UploadError::Io(io) if io.raw_os_error() == Some(28) => ErrorCode::DiskFull,
            UploadError::Io(_) | UploadError::Store(_) => {
                tracing::error!(error = %err, "file storage failed");
                ErrorCode::Internal
            }
        };
        Failure::new(code, err.to_string())
    }
}

/// An upload in progress.
struct Pending {
    user_id: UserId,
    spec: UploadSpec,
    offset: u64,
    /// The hash of the bytes so far; taken while a chunk is being written.
    hasher: Option<Hash>,
    expires: Instant,
    /// The offset last noted in the store, and when.
    persisted: (u64, Instant),
}

/// The hash of an upload's bytes so far.
enum Hash {
    /// Kept up to date chunk by chunk.
    Running(Box<ring::digest::Context>),
    /// Not known since a restart: computed again from the temporary file when needed.
    Resumed,
}

impl Hash {
    /// The hash of the first `offset` bytes of `path` (read again after a restart). Blocking.
    fn at(self, path: &Path, offset: u64) -> std::io::Result<ring::digest::Context> {
        let mut hasher = match self {
            Hash::Running(hasher) => return Ok(*hasher),
            Hash::Resumed => ring::digest::Context::new(&ring::digest::SHA256),
        };
        let mut file = std::fs::File::open(path)?.take(offset);
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            match file.read(&mut buffer)? {
                0 => break,
                n => hasher.update(&buffer[..n]),
            }
        }
        Ok(hasher)
    }
}

/// A finished upload, stored under `uploads/`, ready to be recorded.
#[derive(Debug)]
pub struct Finished {
    /// The file to record (its uploader filled in by the caller).
    pub sha256: String,
    /// Size of what is served.
    pub size: u64,
    /// Its content type.
    pub content_type: Option<String>,
    /// Its name.
    pub name: String,
    /// Picture facts.
    pub image: Option<NewImage>,
}

impl Finished {
    /// The store record for this file.
    pub fn into_new_file(self, uploader: crate::proto::User, now: i64) -> NewFile {
        NewFile {
            sha256: self.sha256,
            size: self.size,
            name: self.name,
            content_type: self.content_type,
            uploader,
            image: self.image,
            now,
        }
    }
}

/// The blobs under `uploads/` and the uploads in progress. Owned by `Shared`.
pub struct Uploads {
    store: Store,
    root: PathBuf,
    tmp: PathBuf,
    pending: Mutex<HashMap<String, Pending>>,
    max_file_bytes: u64,
    max_storage_bytes: u64,
    resume: Duration,
    /// One picture is decoded at a time, so memory stays bounded however many finish at once.
    pictures: tokio::sync::Semaphore,
    /// Held shared while a blob is placed and recorded ([`Uploads::adding`]), alone while
    /// blobs no file names are removed ([`Uploads::removing`]): a blob placed again by a new
    /// upload of the same bytes is never removed under it.
    blobs: tokio::sync::RwLock<()>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").field("root", &self.root).finish()
    }
}

impl Uploads {
    /// The file store of `data_dir` (`uploads/`): takes back the uploads in progress the store
    /// remembers that are still within their resume window, and removes what else an earlier
    /// run left unfinished.
    pub async fn open(data_dir: &DataDir, config: &ServerSection, store: Store) -> Result<Uploads, UploadError> {
        let (root, tmp) = (data_dir.uploads(), data_dir.unfinished_uploads());
        std::fs::create_dir_all(&tmp)?;
        let uploads = Uploads {
            store,
            root,
            tmp,
            pending: Mutex::new(HashMap::new()),
            max_file_bytes: config.max_file_bytes,
            max_storage_bytes: config.max_storage_bytes,
            resume: Duration::from_secs(config.upload_resume_seconds),
            pictures: tokio::sync::Semaphore::new(1),
            blobs: tokio::sync::RwLock::new(()),
        };
        let (now, now_ms) = (Instant::now(), crate::clock::now_ms());
        let mut gone = Vec::new();
        for row in uploads.store.unfinished_uploads().await? {
            let left = Duration::from_millis(row.expires_at.saturating_sub(now_ms).max(0) as u64);
            let well_named = row.upload_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let path = uploads.temp_path(&row.upload_id);
            let cut = |path: &Path| -> std::io::Result<()> {
                let file = std::fs::OpenOptions::new().write(true).open(path)?;
                if file.metadata()?.len() < row.confirmed {
                    return Err(std::io::Error::other("shorter than its noted offset"));
                }
                file.set_len(row.confirmed)
            };
            if !left.is_zero() && well_named && row.confirmed <= row.spec.size && cut(&path).is_ok() {
                let upload = Pending {
                    user_id: row.user_id,
                    spec: row.spec,
                    offset: row.confirmed,
                    hasher: Some(Hash::Resumed),
                    expires: now + left,
                    persisted: (row.confirmed, now),
                };
                uploads.pending().insert(row.upload_id, upload);
            } else {
                gone.push(row.upload_id);
            }
        }
        if !gone.is_empty() {
            uploads.store.forget_uploads(gone).await?;
        }
        for entry in std::fs::read_dir(&uploads.tmp)? {
            let path = entry?.path();
            let kept = path.file_stem().and_then(|stem| stem.to_str()).is_some_and(|id| {
                path.extension().is_some_and(|ext| ext == "part") && uploads.pending().contains_key(id)
            });
            if !kept {
                std::fs::remove_file(&path)?;
            }
        }
        let resumed = uploads.pending().len();
        if resumed > 0 {
            tracing::info!(resumed, "uploads in progress taken back after a restart");
        }
        Ok(uploads)
    }

    /// Hold while placing blobs and recording them in the store.
    pub async fn adding(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.blobs.read().await
    }

    /// Hold while forgetting blobs in the store and removing them with [`Uploads::remove_blobs`].
    async fn removing(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.blobs.write().await
    }

    /// Runs `forget` (a store write that deletes files and answers the blobs no file names any
    /// more) holding [`Uploads::removing`], then removes those blobs from `uploads/`.
    pub async fn collect<E>(&self, forget: impl std::future::Future<Output = Result<Vec<String>, E>>) -> Result<(), E> {
        let _removing = self.removing().await;
        let orphans = forget.await?;
        self.remove_blobs(orphans).await;
        Ok(())
    }

    /// Removes these blobs (which the store no longer names) from `uploads/`; one that cannot
    /// be removed is logged and left.
    async fn remove_blobs(&self, sha256s: Vec<String>) {
        let paths: Vec<PathBuf> = sha256s.iter().filter_map(|sha256| self.blob_path(sha256)).collect();
        let removed = tokio::task::spawn_blocking(move || {
            for path in paths {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => tracing::warn!(path = %path.display(), error = %err, "a deleted file stays on disk"),
                }
            }
        })
        .await;
        if let Err(err) = removed {
            tracing::warn!(error = %err, "removing deleted files stopped");
        }
    }

    /// How often [`Uploads::sweep`] should run.
    pub fn sweep_every(&self) -> Duration {
        (self.resume / 2).clamp(Duration::from_millis(200), Duration::from_secs(60))
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn temp_path(&self, upload_id: &str) -> PathBuf {
        self.tmp.join(format!("{upload_id}.part"))
    }

    /// Where the blob with this SHA-256 (lowercase hex) lives; `None` for anything else.
    fn blob_path(&self, sha256: &str) -> Option<PathBuf> {
        let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        hex.then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    fn state(&self, upload_id: &str, pending: &Pending) -> UploadState {
        let left = pending.expires.saturating_duration_since(Instant::now());
        UploadState {
            upload_id: upload_id.to_string(),
            offset: pending.offset,
            size: pending.spec.size,
            chunk_bytes: CHUNK_BYTES as u32,
            expires_at: crate::clock::now_ms() + left.as_millis() as i64,
        }
    }

    /// Starts an upload after checking the limits (`used` is what stored blobs take now) and
    /// records it in the store.
    pub async fn begin(&self, user_id: UserId, spec: UploadSpec, used: u64) -> Result<UploadState, UploadError> {
        if spec.size > self.max_file_bytes {
            return Err(UploadError::TooLarge { size: spec.size, max: self.max_file_bytes });
        }
        let state = {
            let mut pending = self.pending();
            if self.max_storage_bytes > 0 {
                let reserved: u64 = pending.values().map(|p| p.spec.size).sum();
                let left = self.max_storage_bytes.saturating_sub(used.saturating_add(reserved));
                if spec.size > left {
                    return Err(UploadError::StorageFull { size: spec.size, left });
                }
            }
            let upload_id = URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<16>());
            std::fs::File::create(self.temp_path(&upload_id))?;
            let now = Instant::now();
            let upload = Pending {
                user_id,
                spec: spec.clone(),
                offset: 0,
                hasher: Some(Hash::Running(Box::new(ring::digest::Context::new(&ring::digest::SHA256)))),
                expires: now + self.resume,
                persisted: (0, now),
            };
            let state = self.state(&upload_id, &upload);
            pending.insert(upload_id, upload);
            state
        };
        let row = UnfinishedUpload {
            upload_id: state.upload_id.clone(),
            user_id,
            spec,
            confirmed: 0,
            expires_at: state.expires_at,
        };
        if let Err(err) = self.store.record_upload(row).await {
            self.drop_upload(&state.upload_id);
            return Err(err.into());
        }
        Ok(state)
    }

    /// Forgets an upload in memory and removes its temporary file (the store's row aside).
    fn drop_upload(&self, upload_id: &str) {
        self.pending().remove(upload_id);
        if let Err(err) = std::fs::remove_file(self.temp_path(upload_id)) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %err, "could not remove an upload's temporary file");
            }
        }
    }

    /// Forgets uploads in the store (finished, cancelled or expired); a failure is logged, and
    /// the next start drops the rows of uploads without a temporary file.
    async fn forget(&self, upload_ids: Vec<String>) {
        if let Err(err) = self.store.forget_uploads(upload_ids).await {
            tracing::warn!(error = %err, "could not forget finished uploads in the database");
        }
    }

    /// The most one upload of unknown size may take now: the per-file limit, or what
    /// `server.max_storage_bytes` leaves (after `used` and the uploads in progress) when less.
    pub fn room(&self, used: u64) -> Result<u64, UploadError> {
        if self.max_storage_bytes == 0 {
            return Ok(self.max_file_bytes);
        }
        let reserved: u64 = self.pending().values().map(|p| p.spec.size).sum();
        let left = self.max_storage_bytes.saturating_sub(used.saturating_add(reserved));
        match left {
            0 => Err(UploadError::StorageFull { size: 1, left }),
            left => Ok(left.min(self.max_file_bytes)),
        }
    }

    /// The refusal for an upload of unknown size that grew past `room` (see [`Uploads::room`]).
    pub fn grew_past(&self, room: u64) -> UploadError {
        if room >= self.max_file_bytes {
            UploadError::TooLarge { size: room + 1, max: self.max_file_bytes }
        } else {
            UploadError::StorageFull { size: room + 1, left: room }
        }
    }

    /// Ends an upload of unknown size at `offset`, the bytes it got (releasing the room it held).
    pub fn settle(&self, user_id: UserId, upload_id: &str, offset: u64) -> Result<(), UploadError> {
        let mut pending = self.pending();
        match pending.get_mut(upload_id) {
            Some(upload) if upload.user_id == user_id && upload.offset == offset && offset > 0 => {
                upload.spec.size = offset;
                Ok(())
            }
            Some(upload) if upload.user_id == user_id && offset == 0 => {
                Err(UploadError::BadChunk("an empty file cannot be uploaded".into()))
            }
            _ => Err(UploadError::Unknown(upload_id.to_string())),
        }
    }

    /// Where an upload stands.
    pub fn offset(&self, user_id: UserId, upload_id: &str) -> Result<UploadState, UploadError> {
        let pending = self.pending();
        match pending.get(upload_id) {
            Some(upload) if upload.user_id == user_id => Ok(self.state(upload_id, upload)),
            _ => Err(UploadError::Unknown(upload_id.to_string())),
        }
    }

    /// Writes one chunk at `offset`, which must be where the upload stands; notes the new
    /// offset in the store (after syncing the file) when the last note is old enough.
    pub async fn chunk(
        &self,
        user_id: UserId,
        upload_id: &str,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<UploadState, UploadError> {
        let (hash, size, persist) = {
            let mut pending = self.pending();
            let upload = match pending.get_mut(upload_id) {
                Some(upload) if upload.user_id == user_id => upload,
                _ => return Err(UploadError::Unknown(upload_id.to_string())),
            };
            if offset != upload.offset {
                return Err(UploadError::WrongOffset { expected: upload.offset, got: offset });
            }
            if data.is_empty() || data.len() > CHUNK_BYTES {
                return Err(UploadError::BadChunk(format!("a chunk carries 1 to {CHUNK_BYTES} bytes")));
            }
            let end = offset + data.len() as u64;
            if end > upload.spec.size {
                return Err(UploadError::BadChunk(format!(
                    "the chunk goes past the announced size {}",
                    upload.spec.size
                )));
            }
            let (noted, noted_at) = upload.persisted;
            let persist = end - noted >= PERSIST_BYTES || noted_at.elapsed() >= PERSIST_EVERY;
            (upload.hasher.take().ok_or(UploadError::Busy)?, upload.spec.size, persist)
        };
        let path = self.temp_path(upload_id);
        let written = tokio::task::spawn_blocking(move || {
            let mut hasher = hash.at(&path, offset)?;
            let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.seek(SeekFrom::Start(offset))?;
            file.write_all(&data)?;
            if persist {
                file.sync_data()?;
            }
            hasher.update(&data);
            Ok::<_, std::io::Error>((hasher, data.len() as u64))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|written| written);
        let (hasher, len) = match written {
            Ok(written) => written,
            Err(err) => {
                // The hash is of the bytes before this chunk; start that part again.
                self.drop_upload(upload_id);
                self.forget(vec![upload_id.to_string()]).await;
                return Err(err.into());
            }
        };
        let expires = Instant::now() + self.resume;
        if persist {
            let expires_at = crate::clock::now_ms() + self.resume.as_millis() as i64;
            if let Err(err) = self.store.upload_progress(upload_id.to_string(), size, offset + len, expires_at).await {
                tracing::warn!(error = %err, "could not note an upload's offset; a restart resumes it from an earlier one");
            }
        }
        let mut pending = self.pending();
        let Some(upload) = pending.get_mut(upload_id) else {
            return Err(UploadError::Unknown(upload_id.to_string()));
        };
        upload.hasher = Some(Hash::Running(Box::new(hasher)));
        upload.offset += len;
        upload.expires = expires;
        if persist {
            upload.persisted = (upload.offset, Instant::now());
        }
        Ok(self.state(upload_id, upload))
    }

    /// Abandons an upload and removes its data.
    pub async fn cancel(&self, user_id: UserId, upload_id: &str) -> Result<(), UploadError> {
        match self.pending().get(upload_id) {
            Some(upload) if upload.user_id == user_id && upload.hasher.is_some() => {}
            Some(upload) if upload.user_id == user_id => return Err(UploadError::Busy),
            _ => return Err(UploadError::Unknown(upload_id.to_string())),
        }
        self.drop_upload(upload_id);
        self.forget(vec![upload_id.to_string()]).await;
        Ok(())
    }

    /// Removes the uploads whose resume window has passed; returns how many.
    pub async fn sweep(&self, now: Instant) -> usize {
        let expired: Vec<String> = self
            .pending()
            .iter()
            .filter(|(_, upload)| upload.expires <= now && upload.hasher.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.drop_upload(id);
        }
        let count = expired.len();
        if count > 0 {
            self.forget(expired).await;
        }
        count
    }

    /// Completes an upload: checks every byte came, makes a picture's thumbnail and strips its
    /// metadata (off the async runtime), and moves the result into place by its SHA-256.
    pub async fn finish(&self, user_id: UserId, upload_id: &str) -> Result<Finished, UploadError> {
        let (spec, hasher) = {
            let mut pending = self.pending();
            match pending.get(upload_id) {
                Some(upload) if upload.user_id == user_id => {
                    if upload.offset != upload.spec.size {
                        return Err(UploadError::Incomplete { offset: upload.offset, size: upload.spec.size });
                    }
                    if upload.hasher.is_none() {
                        return Err(UploadError::Busy);
                    }
                }
                _ => return Err(UploadError::Unknown(upload_id.to_string())),
            }
            let upload = pending.remove(upload_id).ok_or_else(|| UploadError::Unknown(upload_id.to_string()))?;
            (upload.spec, upload.hasher.ok_or(UploadError::Busy)?)
        };
        let temp = self.temp_path(upload_id);
        let stored = self.store_finished(&temp, spec, hasher).await;
        if temp.exists() {
            let _ = std::fs::remove_file(&temp);
        }
        self.forget(vec![upload_id.to_string()]).await;
        stored
    }

    async fn store_finished(&self, temp: &Path, spec: UploadSpec, hash: Hash) -> Result<Finished, UploadError> {
        let (path, size) = (temp.to_path_buf(), spec.size);
        let hasher =
            tokio::task::spawn_blocking(move || hash.at(&path, size)).await.map_err(std::io::Error::other)??;
        let sha256 = crate::backup::archive::hex(hasher.finish().as_ref());
        let mut head = [0u8; 16];
        let head_len = std::fs::File::open(temp)?.read(&mut head)?;
        let format = Format::sniff(&head[..head_len]).filter(|_| spec.size <= images::MAX_IMAGE_BYTES);
        let processed = match format {
            Some(format) => {
                let _permit = self.pictures.acquire().await.map_err(std::io::Error::other)?;
                let path = temp.to_path_buf();
                let strip = !spec.keep_metadata;
                tokio::task::spawn_blocking(move || {
                    let bytes = std::fs::read(path)?;
                    Ok::<_, std::io::Error>(images::process(&bytes, format, strip))
                })
                .await
                .map_err(std::io::Error::other)??
                .inspect_err(
                    |err| tracing::debug!(error = %err, "an upload that looked like a picture is kept as a file"),
                )
                .ok()
                .map(|processed| (format, processed))
            }
            None => None,
        };
        let Some((format, processed)) = processed else {
            self.keep_temp(temp, &sha256).await?;
            return Ok(Finished {
                sha256,
                size: spec.size,
                content_type: spec.content_type,
                name: spec.name,
                image: None,
            });
        };
        let thumbnail = self.store_bytes(processed.thumbnail).await?;
        let metadata_stripped = processed.stripped.is_some();
        let (sha256, size) = match processed.stripped {
            Some(stripped) => self.store_bytes(stripped).await?,
            None => {
                self.keep_temp(temp, &sha256).await?;
                (sha256, spec.size)
            }
        };
        let image = NewImage { width: processed.width, height: processed.height, thumbnail, metadata_stripped };
        Ok(Finished {
            sha256,
            size,
            content_type: Some(format.content_type().to_string()),
            name: spec.name,
            image: Some(image),
        })
    }

    /// Syncs a finished temporary file and moves it to its blob path (or drops it when the same
    /// bytes are already stored).
    async fn keep_temp(&self, temp: &Path, sha256: &str) -> Result<(), UploadError> {
        let target = self.blob_path(sha256).ok_or_else(|| std::io::Error::other("bad hash"))?;
        let temp = temp.to_path_buf();
        tokio::task::spawn_blocking(move || place(&temp, &target)).await.map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Stores small bytes (a thumbnail, a re-encoded picture, an emoji) as a blob; returns its
    /// SHA-256 and size.
    pub async fn store_bytes(&self, bytes: Vec<u8>) -> Result<(String, u64), UploadError> {
        let sha256 = crate::backup::archive::hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
        let target = self.blob_path(&sha256).ok_or_else(|| std::io::Error::other("bad hash"))?;
        let temp = self.temp_path(&URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<16>()));
        let size = bytes.len() as u64;
        tokio::task::spawn_blocking(move || {
            std::fs::write(&temp, &bytes)?;
            let placed = place(&temp, &target);
            if temp.exists() {
                let _ = std::fs::remove_file(&temp);
            }
            placed
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok((sha256, size))
    }

    /// Checks a custom emoji's picture (PNG, GIF or WebP, at most [`MAX_EMOJI_PIXELS`] a side)
    /// and stores it as it is (GIF animation kept); returns its blob and content type.
    pub async fn store_emoji(&self, bytes: Vec<u8>) -> Result<(String, u64, &'static str), UploadError> {
        let format = match Format::sniff(&bytes) {
            Some(format @ (Format::Png | Format::Gif | Format::WebP)) => format,
            _ => return Err(UploadError::BadEmoji("a custom emoji is a PNG, GIF or WebP picture".into())),
        };
        let (width, height) = images::dimensions(&bytes, format)
            .map_err(|err| UploadError::BadEmoji(format!("the emoji picture is unreadable: {err}")))?;
        if width > MAX_EMOJI_PIXELS || height > MAX_EMOJI_PIXELS {
            return Err(UploadError::BadEmoji(format!(
                "a custom emoji is at most {MAX_EMOJI_PIXELS}×{MAX_EMOJI_PIXELS} pixels (this one is {width}×{height})"
            )));
        }
        let (sha256, size) = self.store_bytes(bytes).await?;
        Ok((sha256, size, format.content_type()))
    }

    /// The blob `sha256`'s size and its bytes, read [`CHUNK_BYTES`] at a time off the async
    /// runtime as the receiver takes them (two pieces ahead at most); reading stops when the
    /// receiver is dropped.
    pub async fn stream_blob(
        &self,
        sha256: &str,
    ) -> Result<(u64, mpsc::Receiver<std::io::Result<Bytes>>), UploadError> {
        let path = self.blob_path(sha256).ok_or_else(|| std::io::Error::other("bad hash"))?;
        let (file, size) = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(path)?;
            let size = file.metadata()?.len();
            Ok::<_, std::io::Error>((file, size))
        })
        .await
        .map_err(std::io::Error::other)??;
        let (pieces, receiver) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            let mut file = file.take(size);
            loop {
                let mut piece = vec![0u8; CHUNK_BYTES];
                let read = match file.read(&mut piece) {
                    Ok(0) => return,
                    Ok(n) => {
                        piece.truncate(n);
                        Ok(Bytes::from(piece))
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => Err(err),
                };
                let failed = read.is_err();
                if pieces.blocking_send(read).is_err() || failed {
                    return;
                }
            }
        });
        Ok((size, receiver))
    }

    /// Up to [`CHUNK_BYTES`] of the blob `sha256` from `offset`, and the blob's size.
    pub async fn read_chunk(&self, sha256: &str, offset: u64) -> Result<(Vec<u8>, u64), UploadError> {
        let path = self.blob_path(sha256).ok_or_else(|| std::io::Error::other("bad hash"))?;
        let read = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(path)?;
            let size = file.metadata()?.len();
            let mut data = Vec::new();
            if offset < size {
                file.seek(SeekFrom::Start(offset))?;
                file.take(CHUNK_BYTES as u64).read_to_end(&mut data)?;
            }
            Ok::<_, std::io::Error>((data, size))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(read)
    }
}

/// Makes `temp` (synced) the blob at `target`, unless that blob exists already.
fn place(temp: &Path, target: &Path) -> std::io::Result<()> {
    if target.exists() {
        return Ok(());
    }
    std::fs::File::open(temp)?.sync_all()?;
    if let Some(folder) = target.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::rename(temp, target)
}
