//! `server.toml`: every section and key of the reference configuration with its documented
//! default, first-run creation, parsing and validation.
//!
//! A bad value is a [`ConfigError`] naming the key (`server.tcp_port: ...`); unknown keys are
//! returned as warnings, not errors. This module reads and writes only the config file; it
//! does not resolve or touch the other paths it names.
//!
//! One file per concern: `sections` (every section with its defaults), `parse` (parsing and
//! validation), `file` (first-run creation from the template and edits of the file) and
//! `data_dir` (`DataDir`); this file holds the error type, and re-exports the rest.

mod data_dir;
mod file;
mod parse;
mod sections;

pub use data_dir::{DataDir, FILE_NAME};
pub use file::{load_or_create, write_setup, write_vpn_enabled, TEMPLATE};
pub use parse::{check_username, parse, Loaded, LOG_LEVELS};
pub use sections::{
    AuthSection, BackupSection, ClusterSection, Config, DatabaseSection, LicenseSection, NetworkSection,
    NotificationsSection, OAuthSection, ServerSection, SteamSection, TlsSection, UpdateSection, VpnSection,
    DEFAULT_FEED_URL, LEASE_SECONDS,
};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, on one line.
        message: String,
    },
    /// A key has a value that is not allowed.
    #[error("{key}: {reason}")]
    Invalid {
        /// Dotted key, e.g. `server.tcp_port`.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), reason: reason.into() }
}
