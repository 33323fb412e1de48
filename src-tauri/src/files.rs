//! Files in the family chat: uploading a file the member attached or dropped (by its path, or
//! its bytes when the page only has those), downloading a picture to show it, and saving a
//! file to the Downloads folder. All of it goes through the engine's client library: uploads in
//! chunks that resume at the offset the server confirms after a dropped connection, downloads
//! chunk by chunk to disk. An upload's progress reaches the page as the [`PROGRESS_EVENT`] event.
//!
//! Downloaded files are kept in the app's cache folder under their SHA-256 (the server's
//! content address, checked to be hex), so a file's name never becomes a path there; a saved
//! file's name is made safe and never replaces an existing file.

use crate::chat::Family;
use crate::family::FamilyError;
use iptincan::client::{Client, ClientError};
use iptincan::proto::{ChannelId, FileInfo, UploadSpec, UploadState};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tauri::{AppHandle, Emitter, Manager, State};

/// The page's event for a transfer's progress ([`Progress`]).
pub const PROGRESS_EVENT: &str = "file-progress";
/// Chunks sent between two progress reports.
const CHUNKS_PER_STEP: u64 = 8;
/// Times an upload resumes after its connection dropped before it gives up.
const MAX_RESUMES: u32 = 5;
/// Copies of the same name tried in the Downloads folder ("name (2).txt" …).
const MAX_SAVE_COPIES: u32 = 100;
/// The longest saved file name, in characters.
const MAX_SAVED_NAME_CHARS: usize = 150;

/// What went wrong with a file, in words for the family member.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The session, the connection or the server.
    #[error("{0}")]
    Family(#[from] FamilyError),
    /// A local file or folder could not be used.
    #[error("{path} could not be {what}: {source}")]
    Local {
        /// What was being done ("read", "written", …).
        what: &'static str,
        /// Which file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The computer has no folder for this (cache or Downloads).
    #[error("this computer has no {0} folder the app can use")]
    NoFolder(&'static str),
    /// The page sent a file without its name or conversation, or something that is no file.
    #[error("this is not a file the app can send: {0}")]
    NotAFile(String),
    /// Only pictures are shown in the app.
    #[error("this file is not a picture")]
    NotAPicture,
}

impl From<ClientError> for FileError {
    fn from(err: ClientError) -> FileError {
        FileError::Family(FamilyError::Client(err))
    }
}

impl serde::Serialize for FileError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

fn local<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |source| FileError::Local { what, path: path.to_path_buf(), source }
}

/// A transfer's progress, for the page's progress bar.
#[derive(Debug, Clone, Serialize)]
struct Progress<'a> {
    /// The page's name for the transfer.
    transfer: &'a str,
    /// Bytes done.
    done: u64,
    /// Bytes in all.
    size: u64,
}

fn report(app: &AppHandle, transfer: &str, done: u64, size: u64) {
    if let Err(err) = app.emit_to("main", PROGRESS_EVENT, Progress { transfer, done, size }) {
        tracing::warn!("the window could not be told a transfer's progress: {err}");
    }
}

/// A name for a temporary file no other transfer of this app uses.
fn unique(stem: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{stem}-{}-{}.part", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The app's cache folder for `part` ("files", "uploads"), made if missing.
fn cache(app: &AppHandle, part: &str) -> Result<PathBuf, FileError> {
    let dir = app.path().app_cache_dir().map_err(|_| FileError::NoFolder("cache"))?.join(part);
    std::fs::create_dir_all(&dir).map_err(local("made", &dir))?;
    Ok(dir)
}

/// Uploads the file at `path` under `name` for `channel_id`, reporting progress; after a
/// dropped connection it waits for the session to reconnect and goes on from the offset the
/// server confirms.
async fn upload(
    app: &AppHandle,
    family: &Family,
    transfer: &str,
    path: &Path,
    spec: UploadSpec,
) -> Result<FileInfo, FileError> {
    let mut state = family.client().await?.upload_begin(spec).await?;
    let mut resumes = 0;
    report(app, transfer, 0, state.size);
    loop {
        let client = family.client().await?;
        match upload_step(&client, &mut state, path).await {
            Ok(Some(info)) => {
                report(app, transfer, info.size, info.size);
                return Ok(info);
            }
            Ok(None) => report(app, transfer, state.offset, state.size),
            Err(ClientError::Closed(_) | ClientError::Timeout(_)) if resumes < MAX_RESUMES => {
                resumes += 1;
                tracing::info!(resumes, "an upload lost its connection; resuming");
                state = family.client().await?.upload_offset(&state.upload_id).await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Sends the next few chunks, or finishes the upload once all are sent.
async fn upload_step(client: &Client, state: &mut UploadState, path: &Path) -> Result<Option<FileInfo>, ClientError> {
    if state.offset >= state.size {
        return client.upload_finish(&state.upload_id).await.map(Some);
    }
    let until = state.offset + CHUNKS_PER_STEP * u64::from(state.chunk_bytes);
    state.offset = client.upload_part(state, path, until).await?;
    Ok(None)
}

fn spec(name: String, size: u64, content_type: Option<String>, channel_id: ChannelId) -> UploadSpec {
    // The page's type guess is passed on only when the server would take it.
    let content_type = content_type.filter(|t| (1..=127).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()));
    UploadSpec { name, size, content_type, channel_id: Some(channel_id), keep_metadata: false }
}

/// Uploads the file at `path` (one the member chose or dropped on the window) for the
/// conversation `channel_id`; answers the stored file, to attach to a message.
#[tauri::command]
pub async fn chat_upload_path(
    app: AppHandle,
    family: State<'_, Family>,
    channel_id: ChannelId,
    path: PathBuf,
    transfer: String,
) -> Result<FileInfo, FileError> {
    let meta = std::fs::metadata(&path).map_err(local("read", &path))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let (Some(name), true) = (name, meta.is_file()) else {
        return Err(FileError::NotAFile(path.display().to_string()));
    };
    upload(&app, &family, &transfer, &path, spec(name, meta.len(), None, channel_id)).await
}

/// Uploads a file the page holds as bytes (from the attach button or a drop the page received);
/// the body is the bytes, the headers `x-channel-id`, `x-name` (URI-encoded), `x-type` and
/// `x-transfer`. The bytes go through a file in the app's cache, so a dropped connection
/// resumes from there; it is removed afterwards.
#[tauri::command]
pub async fn chat_upload(
    app: AppHandle,
    family: State<'_, Family>,
    request: tauri::ipc::Request<'_>,
) -> Result<FileInfo, FileError> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(FileError::NotAFile("no bytes".into()));
    };
    let channel_id = header("x-channel-id").and_then(|v| v.parse().ok()).map(ChannelId);
    let name = header("x-name").and_then(|v| decode_uri(&v));
    let (Some(channel_id), Some(name)) = (channel_id, name) else {
        return Err(FileError::NotAFile("a file without its name or conversation".into()));
    };
    let transfer = header("x-transfer").unwrap_or_default();
    let path = cache(&app, "uploads")?.join(unique("upload"));
    std::fs::write(&path, bytes).map_err(local("written", &path))?;
    let spec = spec(name, bytes.len() as u64, header("x-type"), channel_id);
    let stored = upload(&app, &family, &transfer, &path, spec).await;
    if let Err(err) = std::fs::remove_file(&path) {
        tracing::warn!("an uploaded file's copy stays in the cache: {err}");
    }
    stored
}

/// `encodeURIComponent`'s output back to text; `None` when it is not valid.
fn decode_uri(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(byte) = rest.next() {
        if byte == b'%' {
            let hex = [rest.next()?, rest.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok().filter(|name| !name.is_empty())
}

/// The cached copy of file `info` (or its thumbnail), downloaded first if the cache lacks it.
async fn cached(app: &AppHandle, family: &Family, info: &FileInfo, thumbnail: bool) -> Result<PathBuf, FileError> {
    if info.sha256.len() != 64 || !info.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FamilyError::Unexpected.into());
    }
    let dir = cache(app, "files")?;
    let path = dir.join(if thumbnail { format!("{}.thumb", info.sha256) } else { info.sha256.clone() });
    if path.is_file() {
        return Ok(path);
    }
    let part = dir.join(unique(&info.sha256));
    let downloaded = family.client().await?.download_to(info.file_id, thumbnail, &part).await;
    if let Err(err) = downloaded {
        let _ = std::fs::remove_file(&part);
        return Err(err.into());
    }
    std::fs::rename(&part, &path).map_err(local("kept", &path))?;
    Ok(path)
}

/// A picture's bytes (its thumbnail, or the whole picture) for the page to show, from the
/// app's cache (downloaded there first when needed).
#[tauri::command]
pub async fn chat_picture(
    app: AppHandle,
    family: State<'_, Family>,
    file_id: i64,
    thumbnail: bool,
) -> Result<tauri::ipc::Response, FileError> {
    let info = family.client().await?.file_info(file_id).await?;
    // A picture the server read, or a custom emoji's picture (checked when it was added).
    let emoji_type = matches!(info.content_type.as_deref(), Some("image/png" | "image/gif" | "image/webp"));
    if info.image.is_none() && (thumbnail || !emoji_type) {
        return Err(FileError::NotAPicture);
    }
    let path = cached(&app, &family, &info, thumbnail).await?;
    let bytes = std::fs::read(&path).map_err(local("read", &path))?;
    Ok(tauri::ipc::Response::new(bytes))
}

/// Saves file `file_id` in the Downloads folder under its name (made safe; "name (2)" when the
/// name is taken); answers where it is.
#[tauri::command]
pub async fn chat_save_file(app: AppHandle, family: State<'_, Family>, file_id: i64) -> Result<PathBuf, FileError> {
    let info = family.client().await?.file_info(file_id).await?;
    // The desktop's Downloads folder, or ~/Downloads where the desktop names none.
    let folder = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir().map(|home| home.join("Downloads")))
        .map_err(|_| FileError::NoFolder("Downloads"))?;
    std::fs::create_dir_all(&folder).map_err(local("made", &folder))?;
    let target = reserve(&folder, &safe_name(&info.name))?;
    let source = match cached(&app, &family, &info, false).await {
        Ok(source) => source,
        Err(err) => {
            let _ = std::fs::remove_file(&target);
            return Err(err);
        }
    };
    std::fs::copy(&source, &target).map_err(local("written", &target))?;
    Ok(target)
}

/// A file name from the server as one safe to create: no folder separators, control
/// characters or leading dots, not empty, not too long.
fn safe_name(name: &str) -> String {
    let cleaned: String =
        name.chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    // A long name keeps its end, where the extension is.
    let short: String = cleaned.chars().skip(cleaned.chars().count().saturating_sub(MAX_SAVED_NAME_CHARS)).collect();
    if short.is_empty() {
        "file".into()
    } else {
        short
    }
}

/// Creates `name` in `folder`, or "stem (2).ext" and so on when it is taken, and answers it.
fn reserve(folder: &Path, name: &str) -> Result<PathBuf, FileError> {
    let (stem, ext) = match name.rfind('.') {
        Some(at) if at > 0 => name.split_at(at),
        _ => (name, ""),
    };
    for copy in 1..=MAX_SAVE_COPIES {
        let candidate = if copy == 1 { name.to_owned() } else { format!("{stem} ({copy}){ext}") };
        let path = folder.join(candidate);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return Ok(path),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(local("created", &path)(err)),
        }
    }
    Err(FileError::NotAFile(format!("{name}: too many copies in {}", folder.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_from_the_server_never_leaves_the_folder() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("C:\\x"), "C__x");
        assert_eq!(safe_name("..."), "file");
        assert_eq!(safe_name("photo 1.jpg"), "photo 1.jpg");
        assert!(!safe_name(&"é".repeat(400)).contains('/'));
        assert_eq!(safe_name(&"é".repeat(400)).chars().count(), MAX_SAVED_NAME_CHARS);
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = std::env::temp_dir().join(unique("appchat-reserve"));
        std::fs::create_dir_all(&dir).expect("makes the folder");
        let first = reserve(&dir, "photo.jpg").expect("reserves");
        let second = reserve(&dir, "photo.jpg").expect("reserves again");
        std::fs::remove_dir_all(&dir).expect("cleans up");
        assert_eq!(first, dir.join("photo.jpg"));
        assert_eq!(second, dir.join("photo (2).jpg"));
    }

    #[test]
    fn uri_names_decode() {
        assert_eq!(decode_uri("caf%C3%A9%20au%20lait.png").as_deref(), Some("café au lait.png"));
        assert_eq!(decode_uri("%2E%2E%2Fx").as_deref(), Some("../x"));
        assert_eq!(decode_uri("bad%4"), None);
        assert_eq!(decode_uri(""), None);
    }
}
