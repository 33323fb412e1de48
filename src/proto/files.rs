//! File transfer and custom emoji: the limits and the payload types that the upload, download
//! and emoji ops and events carry. File bytes travel base64-encoded (standard alphabet, with
//! padding) in chunks of at most [`CHUNK_BYTES`], so that every frame stays under the frame limit.

use crate::ids::ChannelId;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most bytes of a file one `upload_chunk` or `download_chunk` carries (before base64).
pub const CHUNK_BYTES: usize = 128 * 1024;
/// Longest file name kept as metadata, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// Longest content type a client may give, in characters.
pub const MAX_CONTENT_TYPE_CHARS: usize = 127;
/// Most files one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;
/// Largest custom emoji image, in bytes.
pub const MAX_EMOJI_BYTES: usize = 128 * 1024;
/// Widest and tallest custom emoji image, in pixels.
pub const MAX_EMOJI_PIXELS: u32 = 512;
/// Most custom emoji a server keeps.
pub const MAX_EMOJI: usize = 500;
/// Shortest and longest emoji shortcode (without the colons), in characters.
pub const EMOJI_SHORTCODE_CHARS: std::ops::RangeInclusive<usize> = 2..=32;

/// An upload in progress (answer to `upload_begin`, `upload_chunk` and `upload_offset`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UploadState {
    /// The upload's id, to name it in later requests (also from another connection).
    pub upload_id: String,
    /// Bytes the server has kept so far: the next chunk must start here.
    pub offset: u64,
    /// The file's announced size.
    pub size: u64,
    /// Most bytes one chunk may carry.
    pub chunk_bytes: u32,
    /// When the upload is dropped unless a chunk or `upload_finish` comes first, Unix ms.
    pub expires_at: i64,
}

/// A stored file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FileInfo {
    /// Id, for `download_chunk`, `file_info` and `send_message`'s `attachments`.
    pub file_id: i64,
    /// The name the uploader gave (metadata only; never a path on the server).
    pub name: String,
    /// Size of what is served, in bytes.
    pub size: u64,
    /// The content type the uploader gave, or the detected image type.
    pub content_type: Option<String>,
    /// SHA-256 of what is served, lowercase hex.
    pub sha256: String,
    /// The uploader's user name.
    pub uploader: String,
    /// When it was stored, Unix ms.
    pub created_at: i64,
    /// Set when the file is a PNG, JPEG, GIF or WebP picture the server could read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
}

/// What the server knows of a picture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of its thumbnail (`download_chunk` with `thumbnail: true`), in bytes.
    pub thumbnail_size: u64,
    /// Whether the served file was re-encoded without its metadata (EXIF, GPS, XMP, comments).
    pub metadata_stripped: bool,
}

/// Bytes as base64 (standard alphabet, padded), as file chunks carry them. In JSON it is a
/// plain string; it is written without the usual escaping pass over every character (the
/// alphabet needs none, and a chunk is 175 KB of text), unless it holds characters that
/// would need escaping, as text from the other side may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Base64(String);

impl Base64 {
    /// Encodes `bytes`.
    pub fn encode(bytes: impl AsRef<[u8]>) -> Self {
        Base64(STANDARD.encode(bytes))
    }

    /// The bytes; `None` when the text is not standard, padded base64.
    pub fn decode(&self) -> Option<Vec<u8>> {
        STANDARD.decode(self.0.as_bytes()).ok()
    }

    /// Length of the base64 text.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it carries no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `from_string` checks that the quoted text is one JSON string exactly as written.
        match serde_json::value::RawValue::from_string(format!("\"{}\"", self.0)) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Base64)
    }
}

/// A piece of a file (answer to `download_chunk`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FileChunk {
    /// The file.
    pub file_id: i64,
    /// Where this piece starts.
    pub offset: u64,
    /// The whole size of what is downloaded (the file or its thumbnail).
    pub size: u64,
    /// The bytes, base64; empty at or past the end.
    #[schema(value_type = String)]
    pub data: Base64,
}

/// A custom emoji, used in text and reactions as `:shortcode:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CustomEmoji {
    /// The shortcode without colons: lowercase ASCII letters, digits and `_`.
    pub shortcode: String,
    /// Its picture, for `download_chunk` (every logged-in user may download it).
    pub file_id: i64,
    /// Its picture's content type (`image/png`, `image/gif` or `image/webp`).
    pub content_type: String,
    /// Who added it (none when that account is gone).
    pub created_by: Option<String>,
    /// When it was added, Unix ms.
    pub created_at: i64,
}

/// What `upload_begin` announces.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UploadSpec {
    /// The file's name, 1 to [`MAX_FILE_NAME_CHARS`] characters (kept as metadata only).
    pub name: String,
    /// Its exact size in bytes.
    pub size: u64,
    /// Its content type, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The channel it is meant for (checked to be readable; the file is shared by attaching
    /// it to a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    /// Serve a picture as uploaded, metadata included (default: re-encoded without it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_metadata: bool,
}

#[cfg(test)]
mod tests {
    use super::{Base64, FileChunk};

    #[test]
    fn base64_is_an_ordinary_json_string_both_ways() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let chunk = FileChunk { file_id: 1, offset: 0, size: 1000, data: Base64::encode(&bytes) };
        let json = serde_json::to_string(&chunk).expect("serializes");
        let plain: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(plain["data"].as_str(), Some(chunk.data.0.as_str()));
        let back: FileChunk = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.data.decode(), Some(bytes));
    }

    #[test]
    fn text_that_needs_escaping_is_escaped_and_is_not_base64() {
        for text in ["a\"b", "line\nbreak", "back\\slash", "\u{1}"] {
            let data: Base64 = serde_json::from_value(serde_json::Value::String(text.into())).expect("a string");
            let json = serde_json::to_string(&data).expect("serializes");
            assert_eq!(serde_json::from_str::<String>(&json).expect("one JSON string"), text);
            assert_eq!(data.decode(), None);
        }
        assert_eq!(Base64::encode(b"").decode(), Some(Vec::new()));
    }
}
