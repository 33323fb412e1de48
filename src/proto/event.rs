//! Server-pushed notifications: what happened that the client did not ask about.

use super::{
    Category, Channel, CustomEmoji, LinkPreview, Message, MessageReactions, ReadState, ThreadReply, User, UserPresence,
    VideoStream,
};
use crate::ids::{ChannelId, MessageId, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// Server-pushed notifications.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A new message in a channel the user can read.
    MessageCreated(Message),
    /// A message was edited.
    MessageEdited(Message),
    /// A message was deleted.
    MessageDeleted {
        /// Its channel.
        channel_id: ChannelId,
        /// The message.
        message_id: MessageId,
    },
    /// A channel appeared (or a direct channel that includes the user).
    ChannelCreated(Channel),
    /// A channel was renamed.
    ChannelRenamed(Channel),
    /// A channel was deleted.
    ChannelDeleted {
        /// The channel.
        channel_id: ChannelId,
    },
    /// A category appeared.
    CategoryCreated(Category),
    /// A category was renamed.
    CategoryRenamed(Category),
    /// A category was deleted.
    CategoryDeleted {
        /// The category.
        category_id: i64,
    },
    /// A user came online, went offline, or changed status.
    Presence(UserPresence),
    /// The user's read marker in a channel moved (on another of the user's connections).
    ReadState(ReadState),
    /// A user joined a voice channel; `session_id` is the `source` of their media.
    VoiceJoined {
        /// The channel.
        channel_id: ChannelId,
        /// Who.
        user: User,
        /// Their media session.
        session_id: SessionId,
        /// Their device's public key for end-to-end key wrapping.
        device_key: String,
    },
    /// A voice member's mute or deafen state changed.
    VoiceState {
        /// The channel.
        channel_id: ChannelId,
        /// The member's media session.
        session_id: SessionId,
        /// Muted by themselves.
        self_muted: bool,
        /// Deafened by themselves.
        self_deafened: bool,
        /// Muted by an admin.
        server_muted: bool,
    },
    /// An admin moved this connection's voice session: it has ended; join `channel_id`.
    VoiceMoved {
        /// The voice channel to join.
        channel_id: ChannelId,
    },
    /// A member started sending video.
    VideoStarted {
        /// The channel.
        channel_id: ChannelId,
        /// The sender's media session.
        session_id: SessionId,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// A member stopped sending video.
    VideoStopped {
        /// The channel.
        channel_id: ChannelId,
        /// The sender's media session.
        session_id: SessionId,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// A receiver asks this device for a keyframe of its stream.
    KeyframeRequested {
        /// The asking member's media session.
        from_session: SessionId,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// A receiver reports its bandwidth for this device's stream.
    BandwidthReport {
        /// The reporting member's media session.
        from_session: SessionId,
        /// Camera or screen.
        stream: VideoStream,
        /// Kilobits per second.
        kbps: u32,
    },
    /// A voice member started or stopped talking (from the flow of their media).
    Talking {
        /// The channel.
        channel_id: ChannelId,
        /// The member's media session.
        session_id: SessionId,
        /// Talking now or not.
        talking: bool,
    },
    /// Another member's end-to-end media key, wrapped for this device.
    MediaKey {
        /// The voice channel.
        channel_id: ChannelId,
        /// The sender's media session.
        sender: SessionId,
        /// The key's id.
        key_id: u64,
        /// HPKE encapsulated key, base64url.
        enc: String,
        /// HPKE ciphertext of the key, base64url.
        ciphertext: String,
    },
    /// A user left a voice channel.
    VoiceLeft {
        /// The channel.
        channel_id: ChannelId,
        /// Who.
        user_id: UserId,
        /// The media session that ended.
        session_id: SessionId,
    },
    /// The server is stopping; the connection closes next.
    ServerShutdown {
        /// Why.
        reason: String,
    },
    /// Keep-alive: the logged-in connection has been silent for `server.keepalive_seconds`;
    /// the client must send a frame (the `ping` request) within 30 s or it is closed.
    Ping,
    /// A moderator timed this user out: no sending or speaking until `until`.
    TimedOut {
        /// When it ends, Unix milliseconds (in the past: the timeout was lifted).
        until: i64,
        /// Why.
        reason: Option<String>,
    },
    /// A moderator warned this user.
    Warned {
        /// The note.
        note: String,
    },
    /// A channel's slow mode changed.
    SlowMode {
        /// The channel.
        channel_id: ChannelId,
        /// Seconds between two messages of a member; 0 = off.
        seconds: u32,
    },
    /// A channel's or category's overrides changed: list the channels again (some may have
    /// appeared or disappeared).
    PermissionsChanged {
        /// The channel, if a channel's.
        channel_id: Option<ChannelId>,
        /// The category, if a category's.
        category_id: Option<i64>,
    },
    /// An admin approved the registration this connection waits for: log in now.
    RegistrationApproved {
        /// The user name.
        username: String,
    },
    /// An admin denied the registration this connection waited for; it was discarded.
    RegistrationDenied {
        /// Why.
        reason: Option<String>,
    },
    /// A new reply in a thread of a channel the user can read.
    ThreadReply(Box<ThreadReply>),
    /// A message's reactions changed.
    ReactionsChanged(MessageReactions),
    /// A new message mentions this user (sent to the mentioned user only).
    Mentioned(Message),
    /// The server fetched the preview of a link in a message.
    LinkPreview {
        /// The message's channel.
        channel_id: ChannelId,
        /// The message.
        message_id: MessageId,
        /// What the link shows.
        preview: LinkPreview,
    },
    /// An admin added a custom emoji.
    EmojiAdded(CustomEmoji),
    /// An admin renamed a custom emoji.
    EmojiRenamed {
        /// The shortcode it had.
        old_shortcode: String,
        /// The emoji under its new shortcode.
        emoji: CustomEmoji,
    },
    /// An admin removed a custom emoji.
    EmojiRemoved {
        /// Its shortcode.
        shortcode: String,
    },
    /// A member's supervision was set or changed (to the member and their guardian); the
    /// member's client keeps the quiet hours to hold back notifications itself.
    SupervisionChanged(super::SupervisionInfo),
    /// A member's supervision ended (to the member and their former guardian).
    SupervisionEnded {
        /// The member.
        username: String,
    },
}
