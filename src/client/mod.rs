//! The client library: connect by connection code or `host[:port]`, pin the server's
//! certificate, speak protocol v1, and expose typed requests and a stream of events.
//!
//! Pinning: a connection code carries the certificate's fingerprint, so the first connection is
//! already pinned. Connecting by address trusts on first use and records the fingerprint in a
//! [`KnownHosts`] file; a later change of certificate is refused with a clear error.
//! The `itc` CLI, the tests and the benchmarks use this module. [`media`] is the UDP side of a
//! voice session, [`call`] a whole end-to-end encrypted call on top of it, and [`talk`] a live
//! call with the microphone and speakers ([`audio`] holds the codec, processing and devices).
//!
//! Files: `target` (what to connect to), `pinning` (the TLS handshake and `KnownHosts`),
//! `connection` (`Client`: connect, hello, events), `exchange` (requests matched to their
//! answers), and the typed calls by area: `account`, `chat`, `rich_chat` (threads, reactions,
//! search, mentions), `admin`, `moderation`, `supervision`, `voice`, `vpn_requests` and `files` (uploads,
//! downloads, custom emoji).
//! [`session`] is the long-lived, reconnecting client an app builds on.

mod account;
mod admin;
pub mod audio;
pub mod call;
mod chat;
mod connection;
mod data_rights;
pub mod device_cookies;
mod exchange;
mod files;
pub mod media;
mod moderation;
mod pinning;
mod rich_chat;
pub mod session;
mod supervision;
pub mod talk;
mod target;
mod tokens;
mod voice;
pub mod vpn;
mod vpn_requests;

/// The `@name` rule the server records mentions by (kept here for clients that decide locally).
pub use crate::proto::mentions;
pub use crate::proto::BanSpec;
pub use admin::InviteSpec;
pub use connection::{Client, CONNECT_TIMEOUT};
pub use exchange::REQUEST_TIMEOUT;
pub use files::UploadOptions;
pub use moderation::PermissionScope;
pub use pinning::KnownHosts;
pub use target::{Target, DEFAULT_PORT};

use crate::code::CodeError;
use crate::proto::ErrorCode;

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server text is neither a connection code nor `host[:port]`.
    #[error("not a server address or connection code: {0}")]
    BadTarget(String),
    /// A damaged connection code.
    #[error("{0}")]
    Code(#[from] CodeError),
    /// TCP connect failed.
    #[error("cannot reach {addr}: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate does not match the pinned fingerprint.
    #[error("refusing to connect: the server's certificate ({presented}) does not match the one {pinned_by} ({expected}). {advice}")]
    FingerprintMismatch {
        /// Where the expectation came from.
        pinned_by: String,
        /// Expected fingerprint.
        expected: String,
        /// Presented fingerprint.
        presented: String,
        /// What to do.
        advice: String,
    },
    /// TLS failed for another reason.
    #[error("TLS handshake with {addr} failed: {reason}")]
    Tls {
        /// host:port.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Connecting, or waiting for an answer, took too long.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The server answered with an error.
    #[error("{message} ({code:?})")]
    Server {
        /// The code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection is closed.
    #[error("connection closed: {0}")]
    Closed(String),
    /// Audio could not be encoded, decoded, read or written.
    #[error("audio: {0}")]
    Audio(#[from] audio::AudioError),
    /// The known-hosts file could not be read or written.
    #[error("known hosts file {path}: {source}")]
    KnownHosts {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A local file to upload or download into could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl ClientError {
    /// The server's error code, if the server refused the request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}
