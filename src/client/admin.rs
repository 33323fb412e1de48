//! Admin calls: creating, renaming and deleting channels, roles, and invites.

use super::exchange::{expect_channel, expect_ok, unexpected};
use super::{Client, ClientError};
use crate::ids::ChannelId;
use crate::proto::{Channel, ChannelKind, CreatedInvite, InviteInfo, Reply, Request, Role};

impl Client {
    /// Admin: creates a channel.
    pub async fn create_channel(
        &self,
        name: &str,
        category_id: Option<i64>,
        kind: ChannelKind,
    ) -> Result<Channel, ClientError> {
        expect_channel(self.request(Request::CreateChannel { name: name.into(), category_id, kind }).await?)
    }

    /// Admin: renames a channel.
    pub async fn rename_channel(&self, channel_id: ChannelId, name: &str) -> Result<Channel, ClientError> {
        expect_channel(self.request(Request::RenameChannel { channel_id, name: name.into() }).await?)
    }

    /// Admin: deletes a channel.
    pub async fn delete_channel(&self, channel_id: ChannelId) -> Result<(), ClientError> {
        expect_ok(self.request(Request::DeleteChannel { channel_id }).await?)
    }

    /// Admin: sets a user's role.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<(), ClientError> {
        expect_ok(self.request(Request::SetRole { username: username.into(), role }).await?)
    }

    /// Admin: makes an invite.
    pub async fn create_invite(&self, spec: InviteSpec) -> Result<CreatedInvite, ClientError> {
        let InviteSpec { max_uses, expires_in_seconds, role, note, host } = spec;
        match self.request(Request::CreateInvite { max_uses, expires_in_seconds, role, note, host }).await? {
            Reply::InviteCreated(created) => Ok(created),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: every invite, newest first.
    pub async fn invites(&self) -> Result<Vec<InviteInfo>, ClientError> {
        match self.request(Request::ListInvites).await? {
            Reply::Invites(invites) => Ok(invites),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: makes an invite unusable.
    pub async fn revoke_invite(&self, invite_id: i64) -> Result<InviteInfo, ClientError> {
        match self.request(Request::RevokeInvite { invite_id }).await? {
            Reply::Invite(invite) => Ok(invite),
            other => Err(unexpected(other)),
        }
    }
}
/// What to ask of a new invite; `None` takes the server's default (single use, no expiry,
/// member, no note, the server's own host).
#[derive(Debug, Clone, Default)]
pub struct InviteSpec {
    /// Accounts it can create.
    pub max_uses: Option<u32>,
    /// Seconds until it expires.
    pub expires_in_seconds: Option<u64>,
    /// Role of the accounts it creates.
    pub role: Option<Role>,
    /// A note for the admin's list.
    pub note: Option<String>,
    /// Host for the connection code inside it.
    pub host: Option<String>,
}
