//! Files over REST: `POST /api/channels/{channel_id}/files` takes a file as the raw request
//! body (scope `send`) and `GET /api/files/{file_id}` gives one back (scope `read`), both
//! streamed a piece at a time so memory stays bounded whatever the size. The body cap of the
//! JSON routes does not apply here: the server's file limits do, from `Content-Length` before
//! a byte is kept, or while streaming when the length is not given.
//!
//! A file is shared by attaching its id to a message (`POST /api/channels/{channel_id}/messages`
//! with `attachments`), as over the control connection.

use super::error::{ApiError, Path, Query};
use super::routes::Bearer;
use super::ApiState;
use crate::ids::ChannelId;
use crate::proto::{ErrorCode, FileInfo, UploadSpec};
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body as _, Frame, SizeHint};
use serde::Deserialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A request body read a piece at a time (as the client sends it; at most what hyper reads at once).
pub(crate) struct UploadBody {
    body: Body,
    /// The `Content-Length`, when the client gave one.
    pub(crate) declared: Option<u64>,
}

impl UploadBody {
    /// The next piece, `None` at the end; an error when the client stopped sending or sent
    /// more than it declared.
    pub(crate) async fn next_piece(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx)).await?;
            match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    Err(_trailers) => continue,
                },
                Err(err) => return Some(Err(std::io::Error::other(err))),
            }
        }
    }
}

/// A file to send back: what it is and its bytes, a piece at a time.
pub(crate) struct Download {
    /// The name the uploader gave (only ever a `Content-Disposition` parameter).
    pub(crate) name: String,
    /// What is served: the file's content type, or `image/png` for a thumbnail.
    pub(crate) content_type: Option<String>,
    /// Bytes that follow.
    pub(crate) size: u64,
    /// The bytes, filled by the server as they are sent.
    pub(crate) pieces: mpsc::Receiver<std::io::Result<Bytes>>,
}

/// A [`Download`]'s pieces as an HTTP body.
struct Pieces {
    pieces: mpsc::Receiver<std::io::Result<Bytes>>,
    left: u64,
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.pieces.poll_recv(cx).map(|piece| {
            piece.map(|piece| {
                piece.map(|data| {
                    self.left = self.left.saturating_sub(data.len() as u64);
                    Frame::data(data)
                })
            })
        })
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// How to store an uploaded file.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UploadQuery {
    /// The file's name, percent-encoded: 1 to 255 characters without control characters (kept
    /// as metadata; never a path on the server).
    name: String,
    /// `1` to serve a picture as uploaded, with its metadata (EXIF, GPS); by default it is
    /// re-encoded without them.
    #[param(minimum = 0, maximum = 1)]
    keep_metadata: Option<u8>,
}

impl UploadQuery {
    /// Reads the query string (percent-decoded).
    fn parse(query: Option<&str>) -> Result<UploadQuery, ApiError> {
        let invalid = |message: &str| ApiError::from_code(ErrorCode::InvalidArgument, format!("query: {message}"));
        let (mut name, mut keep_metadata) = (None, None);
        for pair in query.unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "name" => {
                    name = Some(percent_decode(value).ok_or_else(|| invalid("name is not percent-encoded UTF-8"))?)
                }
                "keep_metadata" => {
                    keep_metadata =
                        Some(value.parse().ok().filter(|v| *v <= 1).ok_or_else(|| invalid("keep_metadata is 0 or 1"))?)
                }
                _ => return Err(invalid(&format!("unknown parameter `{key}`"))),
            }
        }
        Ok(UploadQuery { name: name.ok_or_else(|| invalid("name is required"))?, keep_metadata })
    }
}

/// Uploads a file for a channel the token's user can read (scope `send`): the request body is
/// the file's bytes (`Content-Type` is kept as its type), streamed to disk. With
/// `Content-Length`, a file over `server.max_file_bytes` or the storage left is refused before
/// a byte is kept; without it, the upload stops and is removed when it grows past them. Attach
/// the answer's `file_id` to a message to share it.
#[utoipa::path(post, path = "/api/channels/{channel_id}/files", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel the file is for"), UploadQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, body = FileInfo),
        (status = 413, description = "Over `server.max_file_bytes`", body = super::error::ErrorBody),
        (status = 507, description = "Over what `server.max_storage_bytes` leaves", body = super::error::ErrorBody)))]
pub(super) async fn upload_file(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<FileInfo>), ApiError> {
    let invalid = |message: &str| ApiError::from_code(ErrorCode::InvalidArgument, message);
    let query = UploadQuery::parse(uri.query())?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().map_err(|_| invalid("Content-Type is not ASCII")))
        .transpose()?
        .filter(|value| !value.eq_ignore_ascii_case("application/octet-stream"))
        .map(str::to_string);
    let declared = headers
        .get(CONTENT_LENGTH)
        .map(|value| value.to_str().ok().and_then(|value| value.parse::<u64>().ok()))
        .map(|length| length.ok_or_else(|| invalid("Content-Length is not a whole number")))
        .transpose()?;
    let spec = UploadSpec {
        name: query.name,
        size: declared.unwrap_or(0),
        content_type,
        channel_id: Some(ChannelId(channel_id)),
        keep_metadata: query.keep_metadata == Some(1),
    };
    let info = state.view.upload(&bearer.0, spec, UploadBody { body, declared }).await?;
    Ok((StatusCode::CREATED, axum::Json(info)))
}

/// Which bytes of a file to send.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DownloadQuery {
    /// `1` for the picture's thumbnail (a PNG) instead of the file.
    #[serde(default)]
    #[param(minimum = 0, maximum = 1)]
    thumbnail: Option<u8>,
}

/// A file, or a picture's thumbnail, that the token's user may read (scope `read`): its
/// uploader, anyone for a custom emoji's picture, and the readers of a channel where a message
/// carries it. Sent as an attachment under the uploader's file name.
#[utoipa::path(get, path = "/api/files/{file_id}", security(("bearer" = [])),
    params(("file_id" = i64, Path, description = "The file"), DownloadQuery),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = String)))]
pub(super) async fn download_file(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(file_id): Path<i64>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let thumbnail = match query.thumbnail {
        None | Some(0) => false,
        Some(1) => true,
        Some(_) => return Err(ApiError::from_code(ErrorCode::InvalidArgument, "thumbnail is 0 or 1")),
    };
    let download = state.view.download(&bearer.0, file_id, thumbnail).await?;
    let content_type = download.content_type.unwrap_or_else(|| "application/octet-stream".into());
    let headers = [
        (CONTENT_TYPE, content_type),
        (CONTENT_LENGTH, download.size.to_string()),
        (CONTENT_DISPOSITION, format!("attachment; filename*=UTF-8''{}", percent_encode(&download.name))),
        (X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        (CACHE_CONTROL, "private, no-store".into()),
    ];
    let body = Body::new(Pieces { pieces: download.pieces, left: download.size });
    Ok((headers, body).into_response())
}

/// `%XX` escapes decoded (`+` stays a plus); `None` when an escape is malformed or the result
/// is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2).and_then(|hex| std::str::from_utf8(hex).ok())?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Every byte but RFC 5987's `attr-char` as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, percent_encode};

    #[test]
    fn names_survive_percent_encoding_both_ways() {
        for name in ["../../etc/passwd", "C:\\x", "ünï code ✓.txt", "a%b+c d"] {
            assert_eq!(percent_decode(&percent_encode(name)).as_deref(), Some(name));
        }
        assert_eq!(percent_encode("../a b"), "..%2Fa%20b");
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
