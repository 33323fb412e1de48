//! The payloads of permissions, moderation and approvals: channel overrides, bans, the audit
//! log, keyword filters and registrations waiting for an admin.

use super::{ChannelId, Role};
use serde::{Deserialize, Serialize};

/// One role's override in a channel or category: `null` (or absent) inherits (a channel from
/// its category, a category from the defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PermissionOverride {
    /// The role it applies to (`moderator` or `member`; admins and the owner are never bound).
    pub role: Role,
    /// May see the channel, its history and its events.
    #[serde(default)]
    pub view: Option<bool>,
    /// May send messages.
    #[serde(default)]
    pub send: Option<bool>,
    /// May speak, share video and the screen.
    #[serde(default)]
    pub speak: Option<bool>,
    /// May set slow mode and delete others' messages there.
    #[serde(default)]
    pub manage: Option<bool>,
}

/// The overrides of one channel or one category (answer to `channel_permissions`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ChannelPermissions {
    /// The channel, when they are a channel's.
    pub channel_id: Option<ChannelId>,
    /// The category, when they are a category's.
    pub category_id: Option<i64>,
    /// One entry per role that has an override.
    pub overrides: Vec<PermissionOverride>,
}

/// What to ban (`ban`'s arguments, and the REST API's `POST /api/bans` body): an account, an
/// address, or both.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct BanSpec {
    /// The account.
    #[serde(default)]
    pub username: Option<String>,
    /// An IPv4 or IPv6 address (IPv6: its /64 is banned).
    #[serde(default)]
    pub address: Option<String>,
    /// Also ban the addresses the account is connected from now (default `false`).
    #[serde(default)]
    pub ban_addresses: bool,
    /// How long; absent = until lifted.
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    /// Why (shown to them), at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// A ban of an account, an address, or both.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BanInfo {
    /// Id (for `unban`).
    pub id: i64,
    /// The banned account, if any.
    pub username: Option<String>,
    /// The banned address, if any: an IPv4 address, or an IPv6 address's /64 network (e.g.
    /// `2001:db8:1:2::`, which stands for all of `2001:db8:1:2::/64`).
    pub address: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Who banned.
    pub created_by: String,
    /// When, Unix milliseconds.
    pub created_at: i64,
    /// When it ends, Unix milliseconds; none = never.
    pub expires_at: Option<i64>,
}

/// One moderation or admin action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Id; increases with time.
    pub id: i64,
    /// When, Unix milliseconds.
    pub at: i64,
    /// Who acted (a user name, or `server` for automatic moderation).
    pub actor: String,
    /// What: e.g. `kick`, `ban`, `timeout`, `warn`, `set_role`.
    pub action: String,
    /// Whom or what (a user name, `#channel`, an address, …).
    pub target: Option<String>,
    /// Why, or the details.
    pub reason: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Older entries exist: ask again with `before` = the last id here.
    pub has_more: bool,
}

/// An automatic moderation keyword.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeywordFilter {
    /// Id (for `remove_filter`).
    pub id: i64,
    /// The word or phrase, matched as whole words, case-insensitively.
    pub word: String,
    /// Time the sender out for this long, seconds; none = only delete.
    pub timeout_seconds: Option<u64>,
    /// Who added it.
    pub created_by: String,
    /// When, Unix milliseconds.
    pub created_at: i64,
}

/// A registration waiting for an admin (`[auth] require_approval`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PendingRegistration {
    /// The user name asked for.
    pub username: String,
    /// When, Unix milliseconds.
    pub requested_at: i64,
}
