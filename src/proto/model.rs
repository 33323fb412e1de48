//! The shared model types that requests, replies and events carry: users and roles, channels
//! and categories, messages and history, voice sessions and members.

use crate::ids::{ChannelId, MessageId, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Name.
    pub username: String,
    /// Role.
    pub role: Role,
}

/// A user's role. The JSON names are `owner`, `admin`, `moderator` and `member`; `admin` and
/// `member` are the two that older servers know.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May manage channels, categories, roles and moderate.
    Admin,
    /// Chats.
    Member,
    /// The first admin: everything an admin may, and nobody else can demote or moderate them.
    Owner,
    /// Moderates members: kick, timeout, warn, slow mode, delete messages, voice mute and move.
    Moderator,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(name: &str) -> Result<Role, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "moderator" => Ok(Role::Moderator),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role {other:?}: use admin, moderator or member")),
        }
    }
}

impl Role {
    /// Every role, highest first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Moderator, Role::Member];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Member => "member",
        }
    }

    /// Higher outranks lower: owner 3, admin 2, moderator 1, member 0.
    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            Role::Moderator => 1,
            Role::Member => 0,
        }
    }

    /// The owner or an admin.
    pub fn is_admin(self) -> bool {
        self.rank() >= Role::Admin.rank()
    }
}

/// A user as others see them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserPresence {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// Connected now.
    pub online: bool,
    /// Custom status text.
    pub status: Option<String>,
}

/// What a channel is for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Text chat.
    #[default]
    Text,
    /// Voice (and text beside it).
    Voice,
    /// A direct conversation between two users.
    Direct,
}

/// A channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Channel {
    /// Id.
    pub id: ChannelId,
    /// Category, if any.
    pub category_id: Option<i64>,
    /// Name (for direct channels: the two user names joined by `+`).
    pub name: String,
    /// Kind.
    pub kind: ChannelKind,
    /// For direct channels, the two users' ids; empty otherwise.
    pub members: Vec<UserId>,
    /// Slow mode: seconds a member must wait between two messages here; 0 (or absent) = off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slow_mode_seconds: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A category of channels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Category {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Sort position.
    pub position: i64,
}

/// Answer to `list_channels`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ChannelList {
    /// All categories.
    pub categories: Vec<Category>,
    /// Every channel the user can read.
    pub channels: Vec<Channel>,
    /// The user's read state of each channel, in the order of `channels`.
    #[serde(default)]
    pub read_states: Vec<ReadState>,
}

/// How far a user has read in one channel; the same for all the user's devices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReadState {
    /// The channel.
    pub channel_id: ChannelId,
    /// The newest message the user has marked read; `null` before the first `mark_read`.
    pub last_read_id: Option<MessageId>,
    /// Messages after it by others (never one's own).
    pub unread: u32,
}

/// A chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Message {
    /// Id; increases with time.
    pub id: MessageId,
    /// Channel.
    pub channel_id: ChannelId,
    /// Author's user id.
    pub author_id: UserId,
    /// Author's user name.
    pub author: String,
    /// Text.
    pub body: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last edit.
    pub edited_at: Option<i64>,
    /// The id its author's client chose when sending it, if any (see `send_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// For a reply in a thread: the thread's root message (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<MessageId>,
    /// For a message with replies: its thread's summary (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<super::ThreadSummary>,
    /// Its reactions, the first used first (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<super::ReactionSummary>,
    /// The preview of the first link in it, once the server has fetched one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Box<super::LinkPreview>>,
    /// The files it carries, in the order sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::FileInfo>,
}

/// A media session on UDP: its id and hop-by-hop key (see the media packet format).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VoiceSession {
    /// The voice channel joined.
    pub channel_id: ChannelId,
    /// Session id, in every media packet header.
    pub session_id: SessionId,
    /// The 32-byte ChaCha20-Poly1305 key, base64url without padding.
    pub key: String,
    /// The server's media port.
    pub udp_port: u16,
    /// Who else is in the channel.
    pub members: Vec<VoiceMember>,
}

/// A video stream's kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum VideoStream {
    /// A camera.
    Camera,
    /// A shared screen.
    Screen,
}

/// A member of a voice channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VoiceMember {
    /// Their media session (the `source` of their media).
    pub session_id: SessionId,
    /// Who.
    pub user: User,
    /// Their device's public key for end-to-end key wrapping.
    pub device_key: String,
}

/// A sender key wrapped (HPKE) for one recipient session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrappedKeyFor {
    /// The recipient's media session.
    pub session_id: SessionId,
    /// HPKE encapsulated key, base64url.
    pub enc: String,
    /// HPKE ciphertext of the key, base64url.
    pub ciphertext: String,
}

/// A page of history, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HistoryPage {
    /// The messages.
    pub messages: Vec<Message>,
    /// More exist beyond this page: paging back (`before`), older ones, so ask again with
    /// `before` = the first id here; paging forward (`after`), newer ones, so ask again with
    /// `after` = the last id here.
    pub has_more: bool,
}
