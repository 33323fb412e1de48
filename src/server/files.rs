//! File requests: uploads in chunks (begin, chunk, offset, finish, cancel), a file's
//! description, and downloads in chunks for those who may read the file (its uploader, anyone
//! for a custom emoji's picture, and the readers of a channel where a message carries it).
//! The bytes and the limits are the file store's (`Uploads` in the context).
//!
//! The REST API's files go through here too: [`upload_body`] streams a request body into an
//! upload (begun, written and finished as over the control connection) and [`open_download`]
//! opens a file to stream back.

use super::context::{readable_channel, Conn, Failure, Shared};
use crate::proto::{
    Base64, ErrorCode, FileChunk, FileInfo, Reply, UploadSpec, CHUNK_BYTES, MAX_CONTENT_TYPE_CHARS, MAX_FILE_NAME_CHARS,
};
use crate::rest::{Download, UploadBody};

/// `upload_begin`: checks the name, type, channel and limits; nothing is kept when refused.
pub async fn upload_begin(ctx: &Shared, conn: &Conn, spec: UploadSpec) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let name_len = spec.name.chars().count();
    if !(1..=MAX_FILE_NAME_CHARS).contains(&name_len) || spec.name.chars().any(char::is_control) {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("a file name is 1 to {MAX_FILE_NAME_CHARS} characters without control characters"),
        ));
    }
    if let Some(content_type) = &spec.content_type {
        let well_formed = (1..=MAX_CONTENT_TYPE_CHARS).contains(&content_type.len())
            && content_type.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !well_formed {
            return Err(Failure::new(
                ErrorCode::InvalidArgument,
                format!("a content type is 1 to {MAX_CONTENT_TYPE_CHARS} printable ASCII characters"),
            ));
        }
    }
    if spec.size == 0 {
        return Err(Failure::new(ErrorCode::InvalidArgument, "an empty file cannot be uploaded"));
    }
    if let Some(channel_id) = spec.channel_id {
        readable_channel(ctx, channel_id, &user).await?;
    }
    let used = ctx.store.storage_used().await?;
    Ok(Reply::Upload(ctx.uploads.begin(user.id, spec, used).await?))
}

/// `upload_chunk`.
pub async fn upload_chunk(
    ctx: &Shared,
    conn: &Conn,
    upload_id: String,
    offset: u64,
    data: Base64,
) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    if data.len() > CHUNK_BYTES.div_ceil(3) * 4 {
        return Err(Failure::new(ErrorCode::InvalidArgument, format!("a chunk carries at most {CHUNK_BYTES} bytes")));
    }
    let bytes = data.decode().ok_or_else(|| Failure::new(ErrorCode::InvalidArgument, "data is not standard base64"))?;
    Ok(Reply::Upload(ctx.uploads.chunk(user.id, &upload_id, offset, bytes).await?))
}

/// `upload_offset`: where an upload stands (to resume it).
pub fn upload_offset(ctx: &Shared, conn: &Conn, upload_id: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    Ok(Reply::Upload(ctx.uploads.offset(user.id, &upload_id)?))
}

/// `upload_cancel`.
pub async fn upload_cancel(ctx: &Shared, conn: &Conn, upload_id: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    ctx.uploads.cancel(user.id, &upload_id).await?;
    Ok(Reply::Ok)
}

/// `upload_finish`: stores the file by its hash and records it.
pub async fn upload_finish(ctx: &Shared, conn: &Conn, upload_id: String) -> Result<Reply, Failure> {
    let user = conn.user(ctx)?;
    let _adding = ctx.uploads.adding().await;
    let finished = ctx.uploads.finish(user.id, &upload_id).await?;
    let info = ctx.store.insert_file(finished.into_new_file(user, crate::clock::now_ms())).await?;
    Ok(Reply::File(info))
}

/// `file_info`.
pub async fn file_info(ctx: &Shared, conn: &Conn, file_id: i64) -> Result<Reply, Failure> {
    Ok(Reply::File(readable_file(ctx, conn, file_id).await?.info))
}

/// `download_chunk`: up to one chunk of a file (or of its thumbnail) from `offset`.
pub async fn download_chunk(
    ctx: &Shared,
    conn: &Conn,
    file_id: i64,
    offset: u64,
    thumbnail: bool,
) -> Result<Reply, Failure> {
    let file = readable_file(ctx, conn, file_id).await?;
    let sha256 = match (thumbnail, file.thumbnail_sha256) {
        (false, _) => file.info.sha256,
        (true, Some(sha256)) => sha256,
        (true, None) => return Err(Failure::new(ErrorCode::NotFound, format!("file {file_id} has no thumbnail"))),
    };
    let (data, size) = ctx.uploads.read_chunk(&sha256, offset).await?;
    Ok(Reply::FileChunk(FileChunk { file_id, offset, size, data: Base64::encode(data) }))
}

/// The REST upload: `body` into a new upload, [`CHUNK_BYTES`] at a time, then finished. With
/// a declared length the limits are checked by `upload_begin` before a byte is kept; without
/// one the upload reserves all the room there is and is cancelled (its bytes removed) once the
/// body grows past it. Any failure cancels the upload.
pub(crate) async fn upload_body(
    ctx: &Shared,
    conn: &Conn,
    mut spec: UploadSpec,
    mut body: UploadBody,
) -> Result<FileInfo, Failure> {
    let user = conn.user(ctx)?;
    if body.declared.is_none() {
        spec.size = ctx.uploads.room(ctx.store.storage_used().await?)?;
    }
    let state = match upload_begin(ctx, conn, spec).await? {
        Reply::Upload(state) => state,
        _ => return Err(Failure::new(ErrorCode::Internal, "upload_begin answered unexpectedly")),
    };
    let written = write_body(ctx, user.id, &state.upload_id, state.size, &mut body).await;
    let settled = written.and_then(|offset| match body.declared {
        None => Ok(ctx.uploads.settle(user.id, &state.upload_id, offset)?),
        Some(_) => Ok(()),
    });
    if let Err(failure) = settled {
        if let Err(err) = ctx.uploads.cancel(user.id, &state.upload_id).await {
            tracing::debug!(error = %err, "a refused REST upload was already gone");
        }
        return Err(failure);
    }
    match upload_finish(ctx, conn, state.upload_id).await? {
        Reply::File(info) => Ok(info),
        _ => Err(Failure::new(ErrorCode::Internal, "upload_finish answered unexpectedly")),
    }
}

/// Writes `body` into the upload `upload_id` (room for `size` bytes); returns the bytes written.
async fn write_body(
    ctx: &Shared,
    user_id: crate::ids::UserId,
    upload_id: &str,
    size: u64,
    body: &mut UploadBody,
) -> Result<u64, Failure> {
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    let mut offset = 0u64;
    let mut put = |chunk: Vec<u8>| {
        let at = offset;
        offset += chunk.len() as u64;
        async move {
            if at + chunk.len() as u64 > size {
                return Err(Failure::from(ctx.uploads.grew_past(size)));
            }
            ctx.uploads.chunk(user_id, upload_id, at, chunk).await?;
            Ok(())
        }
    };
    while let Some(piece) = body.next_piece().await {
        let piece = piece
            .map_err(|err| Failure::new(ErrorCode::InvalidArgument, format!("the request body broke off: {err}")))?;
        let mut rest = &piece[..];
        while !rest.is_empty() {
            let take = (CHUNK_BYTES - chunk.len()).min(rest.len());
            chunk.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if chunk.len() == CHUNK_BYTES {
                put(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES))).await?;
            }
        }
    }
    if !chunk.is_empty() {
        put(chunk).await?;
    }
    Ok(offset)
}

/// The REST download: the file (or its thumbnail, a PNG) `conn`'s user may read, opened to stream.
pub(crate) async fn open_download(
    ctx: &Shared,
    conn: &Conn,
    file_id: i64,
    thumbnail: bool,
) -> Result<Download, Failure> {
    let file = readable_file(ctx, conn, file_id).await?;
    let (sha256, content_type) = match (thumbnail, file.thumbnail_sha256) {
        (false, _) => (file.info.sha256, file.info.content_type),
        (true, Some(sha256)) => (sha256, Some("image/png".to_string())),
        (true, None) => return Err(Failure::new(ErrorCode::NotFound, format!("file {file_id} has no thumbnail"))),
    };
    let (size, pieces) = ctx.uploads.stream_blob(&sha256).await?;
    Ok(Download { name: file.info.name, content_type, size, pieces })
}

async fn readable_file(ctx: &Shared, conn: &Conn, file_id: i64) -> Result<crate::store::StoredFile, Failure> {
    let user = conn.user(ctx)?;
    let not_found = || Failure::new(ErrorCode::NotFound, format!("no file {file_id}"));
    let (open, channels) = ctx.store.file_reach(file_id, user.id).await?;
    let mut readable = open;
    for channel_id in channels {
        if readable {
            break;
        }
        readable = readable_channel(ctx, channel_id, &user).await.is_ok();
    }
    if !readable {
        return Err(not_found());
    }
    ctx.store.file(file_id).await?.ok_or_else(not_found)
}
