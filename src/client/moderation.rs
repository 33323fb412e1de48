//! Permission and moderation calls: channel overrides, kick, ban, timeout, warn, history,
//! slow mode, the audit log, keyword filters, password resets and registration approvals.

use super::exchange::{expect_channel, expect_ok, unexpected};
use super::{Client, ClientError};
use crate::ids::ChannelId;
use crate::proto::{
    AuditEntry, AuditPage, BanInfo, BanSpec, Channel, ChannelPermissions, KeywordFilter, PendingRegistration,
    PermissionOverride, Reply, Request,
};

/// A channel or a category, for permission overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionScope {
    /// A channel.
    Channel(ChannelId),
    /// A category.
    Category(i64),
}

impl PermissionScope {
    fn ids(self) -> (Option<ChannelId>, Option<i64>) {
        match self {
            PermissionScope::Channel(id) => (Some(id), None),
            PermissionScope::Category(id) => (None, Some(id)),
        }
    }
}

fn expect_permissions(reply: Reply) -> Result<ChannelPermissions, ClientError> {
    match reply {
        Reply::ChannelPermissions(permissions) => Ok(permissions),
        other => Err(unexpected(other)),
    }
}

fn expect_ban(reply: Reply) -> Result<BanInfo, ClientError> {
    match reply {
        Reply::Ban(ban) => Ok(ban),
        other => Err(unexpected(other)),
    }
}

impl Client {
    /// Admin: the overrides of a channel or category.
    pub async fn channel_permissions(&self, scope: PermissionScope) -> Result<ChannelPermissions, ClientError> {
        let (channel_id, category_id) = scope.ids();
        expect_permissions(self.request(Request::ChannelPermissions { channel_id, category_id }).await?)
    }

    /// Admin: sets one role's override (every flag `None` removes it).
    pub async fn set_channel_permissions(
        &self,
        scope: PermissionScope,
        rule: PermissionOverride,
    ) -> Result<ChannelPermissions, ClientError> {
        let (channel_id, category_id) = scope.ids();
        let PermissionOverride { role, view, send, speak, manage } = rule;
        let request = Request::SetChannelPermissions { channel_id, category_id, role, view, send, speak, manage };
        expect_permissions(self.request(request).await?)
    }

    /// Moderator: ends every connection of a user (they may come back).
    pub async fn kick(&self, username: &str, reason: Option<&str>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Kick { username: username.into(), reason: reason.map(Into::into) }).await?)
    }

    /// Admin: bans an account, an address, or both.
    pub async fn ban(&self, spec: BanSpec) -> Result<BanInfo, ClientError> {
        expect_ban(self.request(Request::Ban(spec)).await?)
    }

    /// Admin: lifts a ban.
    pub async fn unban(&self, ban_id: i64) -> Result<BanInfo, ClientError> {
        expect_ban(self.request(Request::Unban { ban_id }).await?)
    }

    /// Admin: the bans in force.
    pub async fn bans(&self) -> Result<Vec<BanInfo>, ClientError> {
        match self.request(Request::ListBans).await? {
            Reply::Bans(bans) => Ok(bans),
            other => Err(unexpected(other)),
        }
    }

    /// Moderator: no sending or speaking for `duration_seconds` (0 lifts a timeout).
    pub async fn timeout(
        &self,
        username: &str,
        duration_seconds: u64,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let request = Request::Timeout { username: username.into(), duration_seconds, reason: reason.map(Into::into) };
        expect_ok(self.request(request).await?)
    }

    /// Moderator: a warning with a note.
    pub async fn warn(&self, username: &str, note: &str) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Warn { username: username.into(), note: note.into() }).await?)
    }

    /// Moderator: a user's moderation history, newest first.
    pub async fn moderation_history(&self, username: &str) -> Result<Vec<AuditEntry>, ClientError> {
        match self.request(Request::ModerationHistory { username: username.into() }).await? {
            Reply::ModerationHistory(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    /// Moderator: slow mode in a channel (0 = off).
    pub async fn set_slow_mode(&self, channel_id: ChannelId, seconds: u32) -> Result<Channel, ClientError> {
        expect_channel(self.request(Request::SetSlowMode { channel_id, seconds }).await?)
    }

    /// Admin: a page of the audit log, newest first.
    pub async fn audit_log(&self, before: Option<i64>, limit: Option<u32>) -> Result<AuditPage, ClientError> {
        match self.request(Request::AuditLog { before, limit }).await? {
            Reply::Audit(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: adds a keyword filter.
    pub async fn add_filter(&self, word: &str, timeout_seconds: Option<u64>) -> Result<KeywordFilter, ClientError> {
        match self.request(Request::AddFilter { word: word.into(), timeout_seconds }).await? {
            Reply::Filter(filter) => Ok(filter),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: removes a keyword filter.
    pub async fn remove_filter(&self, filter_id: i64) -> Result<(), ClientError> {
        expect_ok(self.request(Request::RemoveFilter { filter_id }).await?)
    }

    /// Admin: every keyword filter.
    pub async fn filters(&self) -> Result<Vec<KeywordFilter>, ClientError> {
        match self.request(Request::ListFilters).await? {
            Reply::Filters(filters) => Ok(filters),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: sets a temporary password that the member must change at the next login.
    pub async fn reset_password(&self, username: &str, temporary_password: &str) -> Result<(), ClientError> {
        let request =
            Request::ResetPassword { username: username.into(), temporary_password: temporary_password.into() };
        expect_ok(self.request(request).await?)
    }

    /// Admin: registrations waiting for approval.
    pub async fn approvals(&self) -> Result<Vec<PendingRegistration>, ClientError> {
        match self.request(Request::ListApprovals).await? {
            Reply::Approvals(pending) => Ok(pending),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: lets a waiting registration in.
    pub async fn approve(&self, username: &str) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Approve { username: username.into() }).await?)
    }

    /// Admin: discards a waiting registration.
    pub async fn deny(&self, username: &str, reason: Option<&str>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Deny { username: username.into(), reason: reason.map(Into::into) }).await?)
    }
}
