//! Messages from the server: the frame envelope, successful answers and their own payloads
//! (welcome, session, VPN, invites), and the machine-readable error codes.

use super::{
    AuditEntry, AuditPage, BanInfo, Category, Channel, ChannelList, ChannelPermissions, CustomEmoji, Event, FileChunk,
    FileInfo, HistoryPage, KeywordFilter, MentionPage, Message, MessageReactions, PendingRegistration, ReadState, Role,
    SearchPage, UploadState, User, UserPresence, VoiceSession,
};
use serde::{Deserialize, Serialize};

/// Every frame the server sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerFrame {
    /// The successful answer to request `id`.
    Reply {
        /// The request's id.
        id: u64,
        /// The answer.
        result: Reply,
    },
    /// The failed answer to request `id`, or (without id) a connection-level error just
    /// before the server closes the connection.
    Error {
        /// The request's id, if the error answers one.
        id: Option<u64>,
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
    /// Something happened that the client did not ask about.
    Event {
        /// What happened.
        event: Event,
    },
}

/// Successful answers. `kind` names the shape, `data` holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// Answer to `hello`.
    Welcome(Welcome),
    /// Answer to `register`, `login` and `resume`.
    Session(SessionInfo),
    /// Done; nothing to return.
    Ok,
    /// Answer to `ping`.
    Pong,
    /// Answer to `list_channels`.
    Channels(ChannelList),
    /// Answer to `list_users`.
    Users(Vec<UserPresence>),
    /// One channel (created, renamed or opened).
    Channel(Channel),
    /// One category.
    Category(Category),
    /// One message (sent or edited); it is committed to storage.
    Message(Message),
    /// A page of history.
    History(HistoryPage),
    /// Answer to `mark_read`.
    ReadState(ReadState),
    /// Answer to `join_voice`.
    VoiceSession(VoiceSession),
    /// Answer to `create_invite`.
    InviteCreated(CreatedInvite),
    /// Answer to `list_invites`.
    Invites(Vec<InviteInfo>),
    /// One invite (revoked).
    Invite(InviteInfo),
    /// Answer to `vpn_status`.
    VpnStatus(VpnStatus),
    /// Answer to `vpn_register`.
    VpnAccess(VpnAccess),
    /// Answer to `vpn_create_peer`.
    VpnPeerCreated(VpnCreatedPeer),
    /// One VPN peer (revoked or with its new cap).
    VpnPeer(VpnPeerInfo),
    /// Answer to `channel_permissions` and `set_channel_permissions`.
    ChannelPermissions(ChannelPermissions),
    /// Answer to `list_bans`.
    Bans(Vec<BanInfo>),
    /// One ban (made).
    Ban(BanInfo),
    /// Answer to `audit_log`.
    Audit(AuditPage),
    /// Answer to `moderation_history`, newest first.
    ModerationHistory(Vec<AuditEntry>),
    /// Answer to `list_filters`.
    Filters(Vec<KeywordFilter>),
    /// One keyword filter (added).
    Filter(KeywordFilter),
    /// Answer to `list_approvals`, oldest first.
    Approvals(Vec<PendingRegistration>),
    /// Answer to `add_reaction` and `remove_reaction`: the message's reactions now.
    Reactions(MessageReactions),
    /// Answer to `search`.
    Search(SearchPage),
    /// Answer to `list_mentions`.
    Mentions(MentionPage),
    /// Answer to `create_token`.
    TokenCreated(super::CreatedToken),
    /// Answer to `list_tokens`.
    Tokens(Vec<super::TokenInfo>),
    /// One access token (revoked).
    Token(super::TokenInfo),
    /// Answer to `export_data`.
    DataExport(super::DataExport),
    /// An upload in progress (answer to `upload_begin`, `upload_chunk`, `upload_offset`).
    Upload(UploadState),
    /// A stored file (answer to `upload_finish` and `file_info`).
    File(FileInfo),
    /// A piece of a file (answer to `download_chunk`).
    FileChunk(FileChunk),
    /// Every custom emoji (answer to `emoji_list`).
    EmojiList(Vec<CustomEmoji>),
    /// One custom emoji (added or renamed).
    Emoji(CustomEmoji),
    /// A supervised member's supervision (answer to `supervise`, `allow_contact`,
    /// `set_quiet_hours` and `supervision`).
    Supervision(super::SupervisionInfo),
    /// Answer to `list_backups`, oldest first.
    Backups(Vec<super::BackupInfo>),
    /// One backup archive (answer to `start_backup`: written and verified).
    Backup(super::BackupInfo),
}

/// The VPN as the dashboard and `itc vpn status` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VpnStatus {
    /// Whether the tunnel runs.
    pub running: bool,
    /// One plain line: running, off, or why it cannot run.
    pub summary: String,
    /// The server-wide cap in force, kbit/s each way (0 = unlimited).
    pub max_bandwidth_kbps: u32,
    /// The peers the caller may see.
    pub peers: Vec<VpnPeerInfo>,
}

/// A VPN peer with its live counters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VpnPeerInfo {
    /// Id.
    pub id: i64,
    /// The member.
    pub username: String,
    /// The device's label.
    pub name: String,
    /// Its WireGuard public key, base64.
    pub public_key: String,
    /// Its tunnel address.
    pub address: String,
    /// Its own cap, kbit/s each way; none = the server-wide cap.
    pub max_bandwidth_kbps: Option<u32>,
    /// When it was added, Unix milliseconds.
    pub created_at: i64,
    /// A handshake completed within the last 3 minutes.
    pub connected: bool,
    /// Where its packets come from now.
    pub endpoint: Option<String>,
    /// Seconds since its last handshake.
    pub last_handshake_seconds: Option<u64>,
    /// Bytes received from it through the tunnel since the server started.
    pub rx_bytes: u64,
    /// Bytes sent to it through the tunnel since the server started.
    pub tx_bytes: u64,
}

/// How the caller's device reaches the tunnel (answer to `vpn_register`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VpnAccess {
    /// The peer as registered.
    pub peer: VpnPeerInfo,
    /// The server's WireGuard public key, base64.
    pub server_public_key: String,
    /// The server's tunnel address (the first host of the subnet).
    pub server_address: String,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The DNS server to use inside the tunnel.
    pub dns_server: String,
    /// The server's UDP port for the tunnel (the media port).
    pub udp_port: u16,
}

/// A peer the server made a key pair for (answer to `vpn_create_peer`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VpnCreatedPeer {
    /// The peer.
    pub peer: VpnPeerInfo,
    /// The complete client config, with the private key; shown this once.
    pub config_text: String,
}

/// What an admin sees of an invite (never its secret, which only its creator gets, once).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct InviteInfo {
    /// Id.
    pub id: i64,
    /// The role of the accounts it creates.
    pub role: Role,
    /// Accounts it can create.
    pub max_uses: u32,
    /// Accounts it has created.
    pub uses: u32,
    /// When it expires, Unix milliseconds; none = never.
    pub expires_at: Option<i64>,
    /// The admin's note.
    pub note: Option<String>,
    /// When it was made, Unix milliseconds.
    pub created_at: i64,
    /// Who made it (none when made with `itc-server invite`, or the admin is gone).
    pub created_by: Option<String>,
    /// Whether it can still be used, and if not, why.
    pub state: InviteState,
}

/// Whether an invite can be used.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    /// It can create accounts.
    Active,
    /// It has created `max_uses` accounts.
    UsedUp,
    /// Its time is over.
    Expired,
    /// An admin revoked it.
    Revoked,
}

/// A new invite: its description, its secret, and the whole invite text (`ITC-…` connection
/// code, `.`, secret) to hand over, e.g. as a QR code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CreatedInvite {
    /// The invite.
    pub invite: InviteInfo,
    /// Its secret; shown once.
    pub secret: String,
    /// `ITC-<code>.<secret>`.
    pub text: String,
}

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame could not be parsed.
    BadFrame,
    /// The frame was over the size limit.
    FrameTooLarge,
    /// No common protocol version.
    UnsupportedVersion,
    /// The request is not allowed in the session's current state (e.g. before login).
    NotAllowedNow,
    /// The user must change the password before anything else.
    PasswordChangeRequired,
    /// Wrong user name or password, or an unknown or expired token.
    InvalidCredentials,
    /// Too many attempts; try again later.
    RateLimited,
    /// Registration is closed on this server.
    RegistrationClosed,
    /// The server has `max_users` users online.
    ServerFull,
    /// The user name is taken.
    UsernameTaken,
    /// An argument is out of range or malformed.
    InvalidArgument,
    /// The thing named does not exist (or is not visible to the user).
    NotFound,
    /// The user's role does not allow this.
    Forbidden,
    /// The client reads events too slowly and is disconnected.
    SlowConsumer,
    /// The session was ended elsewhere (the password was changed on another device).
    SessionEnded,
    /// A limit of the call is reached (e.g. 8 video senders).
    LimitReached,
    /// The client took too long (to say hello and log in).
    Timeout,
    /// The invite is unknown, used up, expired or revoked.
    InviteInvalid,
    /// The server's disk is full; nothing was saved.
    DiskFull,
    /// The server failed; nothing was changed.
    Internal,
    /// The account or address is banned (the message says why and until when).
    Banned,
    /// The user is timed out: no sending or speaking until the time in the message.
    TimedOut,
    /// The channel is in slow mode: wait the seconds in the message.
    SlowMode,
    /// The message matched a keyword filter and was not kept.
    Filtered,
    /// The registration waits for an admin's approval; stay connected for the answer.
    AwaitingApproval,
    /// A moderator kicked this connection off the server.
    Kicked,
    /// The file is larger than `server.max_file_bytes`; nothing was kept.
    FileTooLarge,
    /// The file does not fit in the storage left under `server.max_storage_bytes`; nothing was
    /// kept.
    StorageFull,
    /// The member is supervised and their guardian has not allowed this (a direct conversation
    /// with someone not among their contacts).
    Supervised,
    /// The supervised member's quiet hours are on: no sending until they end.
    QuietHours,
}

/// The answer to `hello`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Welcome {
    /// The negotiated protocol version.
    pub version: u16,
    /// The server's public description.
    pub server: ServerInfo,
    /// How this client may log in.
    pub auth_methods: Vec<AuthMethod>,
}

/// The server's public description, also served at `GET /api/server`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Software version.
    pub version: String,
    /// Message of the day.
    pub motd: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Users online now.
    pub users_online: usize,
    /// Most users online at once.
    pub max_users: u32,
}

/// A way to log in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// `login` with user name and password.
    Password,
    /// `register` is open.
    Register,
    /// `redeem_invite` with an admin's invite.
    Invite,
    /// `resume` with a session token.
    Token,
}

/// A logged-in session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    /// Secret token for `resume`; treat like a password.
    pub token: String,
    /// When the token expires, Unix milliseconds.
    pub expires_at: i64,
    /// The user.
    pub user: User,
    /// True until the user has changed the password; only `change_password`, `logout` and
    /// `ping` are allowed meanwhile.
    pub must_change_password: bool,
    /// A device cookie for this account: present it as `login`'s `device` next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_cookie: Option<String>,
    /// For a supervised member: who supervises them, their contacts and quiet hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision: Option<super::SupervisionInfo>,
    /// For a member a moderator has timed out: when the timeout ends, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out_until: Option<i64>,
}
