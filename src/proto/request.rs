//! Messages from the client: the request frame, every operation with its arguments, and the
//! limits on what a request may carry.

use super::{ChannelKind, Role, UploadSpec, VideoStream, WrappedKeyFor};
use crate::ids::{ChannelId, MessageId, SessionId};
use serde::{Deserialize, Serialize};

/// Longest chat message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Largest page of history one request returns.
pub const MAX_HISTORY_PAGE: u32 = 100;
/// Longest client-chosen message id (`send_message`'s `client_id`), in characters; it is made
/// of ASCII letters, digits, `-` and `_` (a UUID or 16 random bytes in base64url fit).
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Every frame a client sends: a request with an id that the reply echoes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientFrame {
    /// Chosen by the client; echoed in the reply or error.
    pub id: u64,
    /// The operation.
    #[serde(flatten)]
    pub request: Request,
}

/// The operations a client can ask for. `op` names it, `args` holds its arguments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// First frame of every connection.
    Hello {
        /// Versions the client speaks.
        versions: Vec<u16>,
        /// Free-form client name and version, e.g. `itc 0.1.0`.
        client: String,
    },
    /// Create an account (when the server allows registration) and log in.
    Register {
        /// Wanted user name.
        username: String,
        /// Password, at least 8 characters.
        password: String,
    },
    /// Log in with a password.
    Login {
        /// User name.
        username: String,
        /// Password.
        password: String,
        /// The device cookie from an earlier `session` reply for this account, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    /// Log in with a session token from an earlier login.
    Resume {
        /// The token.
        token: String,
    },
    /// End the session and invalidate its token.
    #[serde(deserialize_with = "no_args")]
    Logout,
    /// Change the logged-in user's password.
    ChangePassword {
        /// Current password.
        old_password: String,
        /// New password, at least 8 characters.
        new_password: String,
    },
    /// Liveness check.
    #[serde(deserialize_with = "no_args")]
    Ping,
    /// Categories and channels visible to the user.
    #[serde(deserialize_with = "no_args")]
    ListChannels,
    /// Every account with presence and status.
    #[serde(deserialize_with = "no_args")]
    ListUsers,
    /// Set or clear the custom status.
    SetStatus {
        /// The status text; `null` clears it.
        status: Option<String>,
    },
    /// Post a message to a channel.
    SendMessage {
        /// Target channel.
        channel_id: ChannelId,
        /// Text, at most [`MAX_MESSAGE_CHARS`] characters.
        body: String,
        /// Chosen by the client to make a retry safe: 1 to [`MAX_CLIENT_ID_CHARS`] ASCII
        /// letters, digits, `-` or `_`, unique per user. A repeat with an id this user has
        /// already sent answers with the stored message and stores and broadcasts nothing; an
        /// id already used in another channel is refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// Files to attach (ids from `upload_finish`, uploaded by the sender), at most
        /// [`super::MAX_ATTACHMENTS`]; with attachments the body may be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<i64>,
    },
    /// Replace the body of one's own message.
    EditMessage {
        /// The message.
        message_id: MessageId,
        /// New text.
        body: String,
    },
    /// Delete one's own message (admins: any message).
    DeleteMessage {
        /// The message.
        message_id: MessageId,
    },
    /// A page of a channel's history, oldest first.
    History {
        /// The channel.
        channel_id: ChannelId,
        /// Only messages with an id below this one; `null` for the newest page.
        before: Option<MessageId>,
        /// Instead of `before`: only messages with an id above this one, the oldest first
        /// (catching up after a gap).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MessageId>,
        /// Page size, at most [`MAX_HISTORY_PAGE`]; `null` for 50.
        limit: Option<u32>,
    },
    /// Mark a channel read up to a message (the marker only moves forward).
    MarkRead {
        /// The channel.
        channel_id: ChannelId,
        /// The newest message read.
        message_id: MessageId,
    },
    /// Find or create the direct-message channel with another user.
    OpenDirect {
        /// The other user.
        username: String,
    },
    /// Admin: create a category.
    CreateCategory {
        /// Its name.
        name: String,
    },
    /// Admin: rename a category.
    RenameCategory {
        /// The category.
        category_id: i64,
        /// New name.
        name: String,
    },
    /// Admin: delete a category; its channels become uncategorised.
    DeleteCategory {
        /// The category.
        category_id: i64,
    },
    /// Admin: create a channel.
    CreateChannel {
        /// Its name, without `#`.
        name: String,
        /// Category to put it in.
        category_id: Option<i64>,
        /// Text (default) or voice.
        #[serde(default)]
        kind: ChannelKind,
    },
    /// Admin: rename a channel.
    RenameChannel {
        /// The channel.
        channel_id: ChannelId,
        /// New name.
        name: String,
    },
    /// Admin: delete a channel and its messages.
    DeleteChannel {
        /// The channel.
        channel_id: ChannelId,
    },
    /// Join a voice channel (leaving any other): returns a media session for UDP.
    JoinVoice {
        /// The voice channel.
        channel_id: ChannelId,
        /// This device's X25519 public key for end-to-end key wrapping (32 bytes, base64url).
        device_key: String,
    },
    /// Hands this sender's end-to-end media key, wrapped for each listed member, to them.
    ShareMediaKey {
        /// The key's id: the sender's media session in the upper 32 of 48 bits, an epoch below.
        key_id: u64,
        /// One wrapped copy per recipient.
        wrapped: Vec<WrappedKeyFor>,
    },
    /// Leave the voice channel; the media session ends.
    #[serde(deserialize_with = "no_args")]
    LeaveVoice,
    /// Set this connection's own mute (send nothing) and deafen (hear nothing) in voice.
    SetVoiceState {
        /// Stop forwarding this member's media.
        self_muted: bool,
        /// Stop forwarding media to this member.
        self_deafened: bool,
    },
    /// Start sending a video stream (at most 8 video senders per call).
    StartVideo {
        /// Camera or screen.
        stream: VideoStream,
    },
    /// Stop sending a video stream.
    StopVideo {
        /// Camera or screen.
        stream: VideoStream,
    },
    /// Receive (or stop receiving) another member's video stream.
    WatchVideo {
        /// The sender's media session.
        session_id: SessionId,
        /// Camera or screen.
        stream: VideoStream,
        /// Receive it or not.
        watching: bool,
    },
    /// Ask a video sender for a keyframe.
    RequestKeyframe {
        /// The sender's media session.
        session_id: SessionId,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// Tell a video sender how much bandwidth this receiver has for its stream.
    ReportBandwidth {
        /// The sender's media session.
        session_id: SessionId,
        /// Camera or screen.
        stream: VideoStream,
        /// Kilobits per second.
        kbps: u32,
    },
    /// Admin: move a user's voice sessions to another voice channel.
    MoveVoice {
        /// The user.
        username: String,
        /// The voice channel to move them to.
        channel_id: ChannelId,
    },
    /// Admin: mute (or unmute) a user in every voice channel.
    ServerMute {
        /// The user.
        username: String,
        /// Muted or not.
        muted: bool,
    },
    /// Admin: give a user a role.
    SetRole {
        /// The user.
        username: String,
        /// The role.
        role: Role,
    },
    /// Admin: make an invite that lets its holder create an account, even when registration
    /// is closed.
    CreateInvite {
        /// Accounts it can create (1 to 100; default 1).
        #[serde(default)]
        max_uses: Option<u32>,
        /// Seconds until it expires (at most a year; default: never).
        #[serde(default)]
        expires_in_seconds: Option<u64>,
        /// The role of the accounts it creates (default member).
        #[serde(default)]
        role: Option<Role>,
        /// A note for the admin's list, e.g. who it is for (at most 100 characters).
        #[serde(default)]
        note: Option<String>,
        /// The host to put in the invite's connection code (default: the server's own).
        #[serde(default)]
        host: Option<String>,
    },
    /// Admin: every invite, newest first.
    #[serde(deserialize_with = "no_args")]
    ListInvites,
    /// Admin: make an invite unusable.
    RevokeInvite {
        /// The invite.
        invite_id: i64,
    },
    /// Create an account with an invite's secret and log in.
    RedeemInvite {
        /// The secret: the part of the invite after the `.`.
        secret: String,
        /// Wanted user name.
        username: String,
        /// Password, at least 8 characters.
        password: String,
    },
    /// The VPN's state and the caller's VPN peers (an admin's: everyone's).
    #[serde(deserialize_with = "no_args")]
    VpnStatus,
    /// Registers the caller's own WireGuard public key for device `name` (replacing that
    /// device's earlier key); the answer says how to reach the tunnel.
    VpnRegister {
        /// The device's label, 1 to 32 characters.
        name: String,
        /// The device's WireGuard public key, base64.
        public_key: String,
    },
    /// Admin: makes a key pair for `username`'s device `name` (for the official WireGuard
    /// apps) and returns its complete client config, once; the server keeps only the public key.
    VpnCreatePeer {
        /// The member.
        username: String,
        /// The device's label, 1 to 32 characters.
        name: String,
        /// The host to put in the config's Endpoint (default: the connection code's host).
        #[serde(default)]
        host: Option<String>,
    },
    /// Removes a VPN peer and ends its tunnel at once (admins: any peer; members: their own).
    VpnRevoke {
        /// The peer.
        peer_id: i64,
    },
    /// Admin: sets a bandwidth cap in kbit/s each way (0 = unlimited) for one peer, or with no
    /// `peer_id` for every peer without its own; `max_bandwidth_kbps: null` goes back to the
    /// default (a peer: the server-wide cap; server-wide: `vpn.max_bandwidth_kbps`).
    VpnSetLimit {
        /// The peer, or none for the server-wide cap.
        #[serde(default)]
        peer_id: Option<i64>,
        /// The cap.
        max_bandwidth_kbps: Option<u32>,
    },
    /// Admin: the overrides of one channel (`channel_id`) or one category (`category_id`).
    ChannelPermissions {
        /// The channel.
        #[serde(default)]
        channel_id: Option<ChannelId>,
        /// Or the category.
        #[serde(default)]
        category_id: Option<i64>,
    },
    /// Admin: sets (or with every flag `null`, removes) one role's override on a channel or a
    /// category.
    SetChannelPermissions {
        /// The channel.
        #[serde(default)]
        channel_id: Option<ChannelId>,
        /// Or the category.
        #[serde(default)]
        category_id: Option<i64>,
        /// The role (`moderator` or `member`).
        role: Role,
        /// May see the channel; `null` inherits.
        #[serde(default)]
        view: Option<bool>,
        /// May send messages; `null` inherits.
        #[serde(default)]
        send: Option<bool>,
        /// May speak and share video; `null` inherits.
        #[serde(default)]
        speak: Option<bool>,
        /// May set slow mode and delete others' messages; `null` inherits.
        #[serde(default)]
        manage: Option<bool>,
    },
    /// Moderator: ends every connection of a user; they may come back.
    Kick {
        /// The user.
        username: String,
        /// Why (shown to them).
        #[serde(default)]
        reason: Option<String>,
    },
    /// Admin: bans an account, an address, or both, for a time or for good.
    Ban(super::BanSpec),
    /// Admin: lifts a ban.
    Unban {
        /// The ban.
        ban_id: i64,
    },
    /// Admin: the bans in force.
    #[serde(deserialize_with = "no_args")]
    ListBans,
    /// Moderator: a user cannot send or speak until the time is up (`duration_seconds` 0 lifts
    /// a timeout).
    Timeout {
        /// The user.
        username: String,
        /// How long.
        duration_seconds: u64,
        /// Why (shown to them).
        #[serde(default)]
        reason: Option<String>,
    },
    /// Moderator: a warning with a note, kept in the user's moderation history.
    Warn {
        /// The user.
        username: String,
        /// The note (shown to them).
        note: String,
    },
    /// Moderator: a user's moderation history, newest first.
    ModerationHistory {
        /// The user.
        username: String,
    },
    /// Moderator (or `manage` on the channel): one message per `seconds` per member; 0 = off.
    SetSlowMode {
        /// The channel.
        channel_id: ChannelId,
        /// Seconds between two messages of a member.
        seconds: u32,
    },
    /// Admin: a page of the audit log, newest first.
    AuditLog {
        /// Only entries with an id below this one; none = the newest.
        #[serde(default)]
        before: Option<i64>,
        /// Page size (1 to 100; default 50).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Admin: adds an automatic moderation keyword.
    AddFilter {
        /// The word or phrase.
        word: String,
        /// Also time the sender out for this long.
        #[serde(default)]
        timeout_seconds: Option<u64>,
    },
    /// Admin: removes a keyword.
    RemoveFilter {
        /// The keyword's id.
        filter_id: i64,
    },
    /// Admin: every keyword.
    #[serde(deserialize_with = "no_args")]
    ListFilters,
    /// Admin: sets a temporary password; the member must choose a new one at the next login.
    ResetPassword {
        /// The member.
        username: String,
        /// The temporary password (8 to 1024 characters).
        temporary_password: String,
    },
    /// Admin: registrations waiting for approval.
    #[serde(deserialize_with = "no_args")]
    ListApprovals,
    /// Admin: lets a waiting registration in.
    Approve {
        /// The user name.
        username: String,
    },
    /// Admin: refuses a waiting registration; it is discarded.
    Deny {
        /// The user name.
        username: String,
        /// Why (shown to them).
        #[serde(default)]
        reason: Option<String>,
    },
    /// Reply in the thread of a message (a reply to a reply joins its root's thread).
    ReplyThread {
        /// The message to reply to.
        message_id: MessageId,
        /// Text, at most [`MAX_MESSAGE_CHARS`] characters.
        body: String,
        /// As for `send_message`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A page of a thread's replies, oldest first, paged like `history`.
    ThreadHistory {
        /// The root message.
        message_id: MessageId,
        /// Only replies with an id below this one; `null` for the newest page.
        #[serde(default)]
        before: Option<MessageId>,
        /// Instead of `before`: only replies with an id above this one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MessageId>,
        /// Page size, at most [`MAX_HISTORY_PAGE`]; `null` for 50.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// React to a message with an emoji (adding the same one twice changes nothing).
    AddReaction {
        /// The message.
        message_id: MessageId,
        /// A Unicode emoji or a custom `:shortcode:` (see [`super::check_reaction`]).
        emoji: String,
    },
    /// Take back one's reaction (taking back one that is not there changes nothing).
    RemoveReaction {
        /// The message.
        message_id: MessageId,
        /// The emoji.
        emoji: String,
    },
    /// Full-text search over the messages the caller may read, newest first.
    Search {
        /// Words to find (all of them); a word ending in `*` matches as a prefix.
        query: String,
        /// Only this channel.
        #[serde(default)]
        channel_id: Option<ChannelId>,
        /// Only messages with an id below this one (the next page).
        #[serde(default)]
        before: Option<MessageId>,
        /// Page size, at most [`super::MAX_SEARCH_PAGE`]; `null` for 20.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The messages that mention the caller, newest first.
    ListMentions {
        /// Only messages with an id below this one (the next page).
        #[serde(default)]
        before: Option<MessageId>,
        /// Page size, at most [`super::MAX_SEARCH_PAGE`]; `null` for 20.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Admin: makes an access token for the REST API that acts as the caller, limited to
    /// `scopes`; its secret is in the answer, once.
    CreateToken {
        /// A name for the admin's list, 1 to 64 printable characters.
        name: String,
        /// What it may do (at least one).
        scopes: Vec<super::Scope>,
        /// Seconds until it expires (one minute to a year; default: never).
        #[serde(default)]
        expires_in_seconds: Option<u64>,
    },
    /// Admin: every access token, newest first.
    #[serde(deserialize_with = "no_args")]
    ListTokens,
    /// Admin: revokes an access token at once.
    RevokeToken {
        /// The token.
        token_id: i64,
    },
    /// Everything the server keeps of a member: their profile and every message they wrote
    /// (the caller's own; an admin's: anyone's).
    ExportData {
        /// The member (default: the caller).
        #[serde(default)]
        username: Option<String>,
    },
    /// Deletes an account with its messages, sessions, access tokens, VPN peers and the
    /// invites it made (the caller's own; an admin: any other one).
    DeleteAccount {
        /// The member (default: the caller).
        #[serde(default)]
        username: Option<String>,
    },
    /// Start uploading a file; refused before any data when it is over the per-file limit or
    /// the storage left.
    UploadBegin(UploadSpec),
    /// One chunk of an upload, starting at the offset the server last confirmed.
    UploadChunk {
        /// The upload.
        upload_id: String,
        /// Where the chunk starts; must equal the server's offset.
        offset: u64,
        /// The bytes, base64 (standard, padded), at most [`super::CHUNK_BYTES`] once decoded.
        data: super::Base64,
    },
    /// How far an upload has come (to resume after a dropped connection).
    UploadOffset {
        /// The upload.
        upload_id: String,
    },
    /// Ends a complete upload: the server hashes and stores the file.
    UploadFinish {
        /// The upload.
        upload_id: String,
    },
    /// Abandons an upload; its data is removed.
    UploadCancel {
        /// The upload.
        upload_id: String,
    },
    /// A stored file's description.
    FileInfo {
        /// The file.
        file_id: i64,
    },
    /// A piece of a stored file (or of its thumbnail).
    DownloadChunk {
        /// The file.
        file_id: i64,
        /// Where the piece starts.
        offset: u64,
        /// The picture's thumbnail instead of the file.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        thumbnail: bool,
    },
    /// Admin: add a custom emoji.
    EmojiAdd {
        /// Its shortcode, without colons.
        shortcode: String,
        /// The PNG, GIF or WebP picture, base64, at most [`super::MAX_EMOJI_BYTES`] decoded.
        data: String,
    },
    /// Every custom emoji.
    #[serde(deserialize_with = "no_args")]
    EmojiList,
    /// Admin: rename a custom emoji.
    EmojiRename {
        /// The current shortcode.
        shortcode: String,
        /// The new one.
        new_shortcode: String,
    },
    /// Admin: remove a custom emoji.
    EmojiRemove {
        /// The shortcode.
        shortcode: String,
    },
    /// Admin: marks a member as supervised and names their guardian (an admin, or a member
    /// the admin trusts); naming another guardian moves the supervision to them.
    Supervise {
        /// The member to supervise (role `member`).
        username: String,
        /// Their guardian.
        guardian: String,
    },
    /// The guardian or an admin: ends a member's supervision.
    Unsupervise {
        /// The supervised member.
        username: String,
    },
    /// The guardian or an admin: allows (or, with `allowed: false`, stops allowing) a
    /// supervised member's direct conversations with `contact`.
    AllowContact {
        /// The supervised member.
        username: String,
        /// The other member.
        contact: String,
        /// Allow (default) or stop allowing.
        #[serde(default = "yes")]
        allowed: bool,
    },
    /// The guardian or an admin: sets a supervised member's quiet hours (minutes of the day,
    /// UTC), or clears them when both are absent.
    SetQuietHours {
        /// The supervised member.
        username: String,
        /// First quiet minute, 0 to 1439.
        #[serde(default)]
        start_minute: Option<u16>,
        /// First minute that is not quiet, 0 to 1439.
        #[serde(default)]
        end_minute: Option<u16>,
    },
    /// A member's supervision: one's own (no `username`), or, for their guardian or an admin,
    /// a supervised member's.
    Supervision {
        /// The supervised member (default: the caller).
        #[serde(default)]
        username: Option<String>,
    },
    /// Admin: the backup archives in the server's backup folder, oldest first.
    #[serde(deserialize_with = "no_args")]
    ListBackups,
    /// Admin: takes a backup now; answered once the archive is written and verified.
    #[serde(deserialize_with = "no_args")]
    StartBackup,
}

fn yes() -> bool {
    true
}

impl Request {
    /// The `op` name, for logs (never the arguments, which may hold passwords or text).
    pub fn op_name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Register { .. } => "register",
            Request::Login { .. } => "login",
            Request::Resume { .. } => "resume",
            Request::Logout => "logout",
            Request::ChangePassword { .. } => "change_password",
            Request::Ping => "ping",
            Request::ListChannels => "list_channels",
            Request::ListUsers => "list_users",
            Request::SetStatus { .. } => "set_status",
            Request::SendMessage { .. } => "send_message",
            Request::EditMessage { .. } => "edit_message",
            Request::DeleteMessage { .. } => "delete_message",
            Request::History { .. } => "history",
            Request::MarkRead { .. } => "mark_read",
            Request::OpenDirect { .. } => "open_direct",
            Request::CreateCategory { .. } => "create_category",
            Request::RenameCategory { .. } => "rename_category",
            Request::DeleteCategory { .. } => "delete_category",
            Request::CreateChannel { .. } => "create_channel",
            Request::RenameChannel { .. } => "rename_channel",
            Request::DeleteChannel { .. } => "delete_channel",
            Request::SetRole { .. } => "set_role",
            Request::CreateInvite { .. } => "create_invite",
            Request::ListInvites => "list_invites",
            Request::RevokeInvite { .. } => "revoke_invite",
            Request::RedeemInvite { .. } => "redeem_invite",
            Request::JoinVoice { .. } => "join_voice",
            Request::LeaveVoice => "leave_voice",
            Request::ShareMediaKey { .. } => "share_media_key",
            Request::SetVoiceState { .. } => "set_voice_state",
            Request::ServerMute { .. } => "server_mute",
            Request::MoveVoice { .. } => "move_voice",
            Request::StartVideo { .. } => "start_video",
            Request::StopVideo { .. } => "stop_video",
            Request::WatchVideo { .. } => "watch_video",
            Request::RequestKeyframe { .. } => "request_keyframe",
            Request::ReportBandwidth { .. } => "report_bandwidth",
            Request::VpnStatus => "vpn_status",
            Request::VpnRegister { .. } => "vpn_register",
            Request::VpnCreatePeer { .. } => "vpn_create_peer",
            Request::VpnRevoke { .. } => "vpn_revoke",
            Request::VpnSetLimit { .. } => "vpn_set_limit",
            Request::ChannelPermissions { .. } => "channel_permissions",
            Request::SetChannelPermissions { .. } => "set_channel_permissions",
            Request::Kick { .. } => "kick",
            Request::Ban(_) => "ban",
            Request::Unban { .. } => "unban",
            Request::ListBans => "list_bans",
            Request::Timeout { .. } => "timeout",
            Request::Warn { .. } => "warn",
            Request::ModerationHistory { .. } => "moderation_history",
            Request::SetSlowMode { .. } => "set_slow_mode",
            Request::AuditLog { .. } => "audit_log",
            Request::AddFilter { .. } => "add_filter",
            Request::RemoveFilter { .. } => "remove_filter",
            Request::ListFilters => "list_filters",
            Request::ResetPassword { .. } => "reset_password",
            Request::ListApprovals => "list_approvals",
            Request::Approve { .. } => "approve",
            Request::Deny { .. } => "deny",
            Request::ReplyThread { .. } => "reply_thread",
            Request::ThreadHistory { .. } => "thread_history",
            Request::AddReaction { .. } => "add_reaction",
            Request::RemoveReaction { .. } => "remove_reaction",
            Request::Search { .. } => "search",
            Request::ListMentions { .. } => "list_mentions",
            Request::CreateToken { .. } => "create_token",
            Request::ListTokens => "list_tokens",
            Request::RevokeToken { .. } => "revoke_token",
            Request::ExportData { .. } => "export_data",
            Request::DeleteAccount { .. } => "delete_account",
            Request::UploadBegin(_) => "upload_begin",
            Request::UploadChunk { .. } => "upload_chunk",
            Request::UploadOffset { .. } => "upload_offset",
            Request::UploadFinish { .. } => "upload_finish",
            Request::UploadCancel { .. } => "upload_cancel",
            Request::FileInfo { .. } => "file_info",
            Request::DownloadChunk { .. } => "download_chunk",
            Request::EmojiAdd { .. } => "emoji_add",
            Request::EmojiList => "emoji_list",
            Request::EmojiRename { .. } => "emoji_rename",
            Request::EmojiRemove { .. } => "emoji_remove",
            Request::Supervise { .. } => "supervise",
            Request::Unsupervise { .. } => "unsupervise",
            Request::AllowContact { .. } => "allow_contact",
            Request::SetQuietHours { .. } => "set_quiet_hours",
            Request::Supervision { .. } => "supervision",
            Request::ListBackups => "list_backups",
            Request::StartBackup => "start_backup",
        }
    }
}

/// Reads the `args` of an op that takes none: absent, `null` or any object (whose keys are
/// ignored, like unknown keys everywhere) all mean "no arguments".
fn no_args<'de, D: serde::Deserializer<'de>>(args: D) -> Result<(), D::Error> {
    #[derive(Deserialize)]
    struct NoArgs {}
    Option::<NoArgs>::deserialize(args).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse_payload;

    #[test]
    fn ops_without_arguments_accept_omitted_null_or_object_args() {
        let ops = [
            ("logout", Request::Logout),
            ("ping", Request::Ping),
            ("list_channels", Request::ListChannels),
            ("list_users", Request::ListUsers),
            ("leave_voice", Request::LeaveVoice),
            ("list_invites", Request::ListInvites),
            ("vpn_status", Request::VpnStatus),
            ("list_bans", Request::ListBans),
            ("list_filters", Request::ListFilters),
            ("list_approvals", Request::ListApprovals),
            ("list_tokens", Request::ListTokens),
            ("emoji_list", Request::EmojiList),
            ("list_backups", Request::ListBackups),
            ("start_backup", Request::StartBackup),
        ];
        for (op, request) in ops {
            assert_eq!(request.op_name(), op);
            for args in ["", r#","args":null"#, r#","args":{}"#, r#","args":{"unknown":1}"#] {
                let payload = format!(r#"{{"id":3,"op":"{op}"{args}}}"#);
                let frame: Result<ClientFrame, _> = parse_payload(payload.as_bytes());
                assert_eq!(frame, Ok(ClientFrame { id: 3, request: request.clone() }), "{payload}");
            }
            let payload = format!(r#"{{"id":3,"op":"{op}","args":5}}"#);
            assert!(parse_payload::<ClientFrame>(payload.as_bytes()).is_err(), "{payload}");
        }
        let invite: ClientFrame = parse_payload(br#"{"id":4,"op":"create_invite","args":{}}"#).expect("all optional");
        assert!(matches!(invite.request, Request::CreateInvite { max_uses: None, .. }));
        assert!(parse_payload::<ClientFrame>(br#"{"id":5,"op":"history","args":{}}"#).is_err(), "channel_id missing");
    }
}
