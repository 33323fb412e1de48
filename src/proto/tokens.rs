//! Access tokens: what an admin makes for scripts and bots that call the REST API
//! (`Authorization: Bearer <token>`). A token acts as the admin who made it, limited by its
//! scopes; its secret is shown once and the server keeps only its SHA-256.

use serde::{Deserialize, Serialize};

/// Longest token name, in characters.
pub const MAX_TOKEN_NAME_CHARS: usize = 64;

/// What a token may do. Each REST endpoint (and each control op a token may run) needs one.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read: server stats, users, channels, history, VPN peers.
    Read,
    /// Send and delete messages.
    Send,
    /// Moderation actions.
    Moderate,
    /// Admin actions: channels, categories, roles, invites, tokens, VPN peers.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Send, Scope::Moderate, Scope::Admin];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Send => "send",
            Scope::Moderate => "moderate",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(name: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| format!("unknown scope {name:?}: use read, send, moderate or admin"))
    }
}

/// What an admin sees of a token (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Id.
    pub id: i64,
    /// The admin's name for it.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The admin it acts as.
    pub created_by: String,
    /// When it was made, Unix milliseconds.
    pub created_at: i64,
    /// When it was last used (to the minute), Unix milliseconds; none = never.
    pub last_used_at: Option<i64>,
    /// When it expires, Unix milliseconds; none = never.
    pub expires_at: Option<i64>,
}

/// A new token: its description and its secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token.
    pub token: TokenInfo,
    /// The text to send as `Authorization: Bearer <secret>`; shown once.
    pub secret: String,
}
