//! File and custom emoji calls: uploading a file in chunks (and resuming it after a dropped
//! connection at the offset the server confirms), downloading one to disk, attaching files to
//! messages (see `Client::send_with_files`), and the custom emoji ops.
//! Files are read and written one chunk at a time, so memory stays small whatever their size.

use super::exchange::{expect_ok, unexpected};
use super::{Client, ClientError};
use crate::ids::ChannelId;
use crate::proto::{Base64, CustomEmoji, FileInfo, Reply, Request, UploadSpec, UploadState, CHUNK_BYTES};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// How an upload is announced besides its name and size.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// The content type, if known.
    pub content_type: Option<String>,
    /// The channel the file is meant for.
    pub channel_id: Option<ChannelId>,
    /// Serve a picture with its metadata (EXIF, GPS) instead of stripped.
    pub keep_metadata: bool,
}

fn file_error(path: &Path) -> impl Fn(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::File { path: path.display().to_string(), source }
}

impl Client {
    /// Announces an upload; the server refuses it here when it is too large or does not fit.
    pub async fn upload_begin(&self, spec: UploadSpec) -> Result<UploadState, ClientError> {
        expect_upload(self.request(Request::UploadBegin(spec)).await?)
    }

    /// Where an upload stands on the server (to resume it).
    pub async fn upload_offset(&self, upload_id: &str) -> Result<UploadState, ClientError> {
        expect_upload(self.request(Request::UploadOffset { upload_id: upload_id.into() }).await?)
    }

    /// Sends one chunk of at most [`CHUNK_BYTES`] at `offset`.
    pub async fn upload_chunk(&self, upload_id: &str, offset: u64, data: &[u8]) -> Result<UploadState, ClientError> {
        let request = Request::UploadChunk { upload_id: upload_id.into(), offset, data: Base64::encode(data) };
        expect_upload(self.request(request).await?)
    }

    /// Ends a complete upload; answers the stored file.
    pub async fn upload_finish(&self, upload_id: &str) -> Result<FileInfo, ClientError> {
        expect_file(self.request(Request::UploadFinish { upload_id: upload_id.into() }).await?)
    }

    /// Abandons an upload.
    pub async fn upload_cancel(&self, upload_id: &str) -> Result<(), ClientError> {
        expect_ok(self.request(Request::UploadCancel { upload_id: upload_id.into() }).await?)
    }

    /// Uploads the file at `path` under `name`; answers the stored file.
    pub async fn upload_file(&self, path: &Path, name: &str, options: UploadOptions) -> Result<FileInfo, ClientError> {
        let size = std::fs::metadata(path).map_err(file_error(path))?.len();
        let spec = UploadSpec {
            name: name.into(),
            size,
            content_type: options.content_type,
            channel_id: options.channel_id,
            keep_metadata: options.keep_metadata,
        };
        let state = self.upload_begin(spec).await?;
        self.upload_rest(&state, path).await
    }

    /// Resumes upload `upload_id` of the file at `path` from where the server stands.
    pub async fn resume_upload(&self, upload_id: &str, path: &Path) -> Result<FileInfo, ClientError> {
        let state = self.upload_offset(upload_id).await?;
        self.upload_rest(&state, path).await
    }

    /// Sends the file at `path` from `state.offset` up to byte `until` (whole chunks, never
    /// past it) without finishing; answers the offset reached. Tests and benchmarks use it to
    /// cut an upload short; [`Client::resume_upload`] goes on from there.
    pub async fn upload_part(&self, state: &UploadState, path: &Path, until: u64) -> Result<u64, ClientError> {
        let mut file = std::fs::File::open(path).map_err(file_error(path))?;
        file.seek(SeekFrom::Start(state.offset)).map_err(file_error(path))?;
        let chunk = (state.chunk_bytes as usize).clamp(1, CHUNK_BYTES);
        let mut buf = vec![0u8; chunk];
        let mut offset = state.offset;
        let until = until.min(state.size);
        while offset < until {
            let want = chunk.min((state.size - offset) as usize);
            if offset + want as u64 > until {
                break;
            }
            file.read_exact(&mut buf[..want]).map_err(file_error(path))?;
            offset = self.upload_chunk(&state.upload_id, offset, &buf[..want]).await?.offset;
        }
        Ok(offset)
    }

    async fn upload_rest(&self, state: &UploadState, path: &Path) -> Result<FileInfo, ClientError> {
        self.upload_part(state, path, state.size).await?;
        self.upload_finish(&state.upload_id).await
    }

    /// A stored file's description.
    pub async fn file_info(&self, file_id: i64) -> Result<FileInfo, ClientError> {
        expect_file(self.request(Request::FileInfo { file_id }).await?)
    }

    /// One piece of a file (or its thumbnail) from `offset`, and the whole size.
    pub async fn download_chunk(
        &self,
        file_id: i64,
        offset: u64,
        thumbnail: bool,
    ) -> Result<(Vec<u8>, u64), ClientError> {
        match self.request(Request::DownloadChunk { file_id, offset, thumbnail }).await? {
            Reply::FileChunk(chunk) => {
                let data = chunk
                    .data
                    .decode()
                    .ok_or_else(|| ClientError::Protocol("a file chunk that is not base64".into()))?;
                Ok((data, chunk.size))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Downloads a file (or its thumbnail) into `out`, chunk by chunk; answers its size.
    pub async fn download_to(&self, file_id: i64, thumbnail: bool, out: &Path) -> Result<u64, ClientError> {
        let mut file = std::fs::File::create(out).map_err(file_error(out))?;
        let mut offset = 0u64;
        loop {
            let (data, size) = self.download_chunk(file_id, offset, thumbnail).await?;
            file.write_all(&data).map_err(file_error(out))?;
            offset += data.len() as u64;
            if offset >= size {
                file.sync_all().map_err(file_error(out))?;
                return Ok(size);
            }
            if data.is_empty() {
                return Err(ClientError::Protocol(format!("file {file_id} ended at {offset} of {size} bytes")));
            }
        }
    }

    /// Admin: adds a custom emoji from a PNG, GIF or WebP picture.
    pub async fn emoji_add(&self, shortcode: &str, picture: &[u8]) -> Result<CustomEmoji, ClientError> {
        let request = Request::EmojiAdd { shortcode: shortcode.into(), data: STANDARD.encode(picture) };
        expect_emoji(self.request(request).await?)
    }

    /// Every custom emoji.
    pub async fn emoji_list(&self) -> Result<Vec<CustomEmoji>, ClientError> {
        match self.request(Request::EmojiList).await? {
            Reply::EmojiList(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: renames a custom emoji.
    pub async fn emoji_rename(&self, shortcode: &str, new_shortcode: &str) -> Result<CustomEmoji, ClientError> {
        let request = Request::EmojiRename { shortcode: shortcode.into(), new_shortcode: new_shortcode.into() };
        expect_emoji(self.request(request).await?)
    }

    /// Admin: removes a custom emoji.
    pub async fn emoji_remove(&self, shortcode: &str) -> Result<(), ClientError> {
        expect_ok(self.request(Request::EmojiRemove { shortcode: shortcode.into() }).await?)
    }
}

fn expect_upload(reply: Reply) -> Result<UploadState, ClientError> {
    match reply {
        Reply::Upload(state) => Ok(state),
        other => Err(unexpected(other)),
    }
}

fn expect_file(reply: Reply) -> Result<FileInfo, ClientError> {
    match reply {
        Reply::File(info) => Ok(info),
        other => Err(unexpected(other)),
    }
}

fn expect_emoji(reply: Reply) -> Result<CustomEmoji, ClientError> {
    match reply {
        Reply::Emoji(emoji) => Ok(emoji),
        other => Err(unexpected(other)),
    }
}
