//! The control-channel wire protocol (TCP 3784), sans-IO.
//!
//! Owns framing (a 4-byte big-endian length, then one JSON object), the message types that
//! travel in frames, version negotiation and the per-connection session state machine.
//! It does no I/O and reads no clock: the server and the client library wrap it.
//! `docs/protocol.md` is the human-readable version of this file.
//!
//! Why JSON: it is self-describing, and mature, fast libraries exist in Rust (serde_json),
//! Dart (`dart:convert`) and JavaScript (built in), so other clients are easy to write.
//! Control traffic is small; media packets (UDP 3785) use a compact binary format instead.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Protocol versions this build speaks, newest last.
pub const SUPPORTED_VERSIONS: &[u16] = &[1];
/// Largest payload (bytes after the length prefix) either side accepts.
pub const MAX_FRAME_LEN: usize = 256 * 1024;
/// Length of the frame header.
pub const HEADER_LEN: usize = 4;
/// Longest chat message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Largest page of history one request returns.
pub const MAX_HISTORY_PAGE: u32 = 100;

/// A frame that could not be taken off the wire or understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A zero-length frame.
    #[error("empty frame")]
    Empty,
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Takes one complete frame's payload off the front of `buf`, if one is there.
///
/// Returns `Ok(None)` when more bytes are needed. An announced length over the limit is an
/// error at once, before the payload arrives, so a peer cannot make us buffer it.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len, max: MAX_FRAME_LEN });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if buf.len() < HEADER_LEN + len {
        buf.reserve(HEADER_LEN + len - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Serialises `message` into one length-prefixed frame.
pub fn encode_frame<T: Serialize>(message: &T) -> Bytes {
    let mut out = BytesMut::with_capacity(128);
    out.put_u32(0);
    let mut writer = out.writer();
    // Serialising our own types into memory cannot fail: every map key is a string.
    if let Err(err) = serde_json::to_writer(&mut writer, message) {
        unreachable!("protocol types always serialise: {err}");
    }
    let mut out = writer.into_inner();
    let len = (out.len() - HEADER_LEN) as u32;
    out[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

/// Parses a payload into a message of type `T`.
pub fn parse_payload<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(payload).map_err(|err| FrameError::Malformed(err.to_string()))
}

/// Picks the newest version both sides speak.
pub fn negotiate_version(client_versions: &[u16]) -> Option<u16> {
    SUPPORTED_VERSIONS.iter().rev().find(|v| client_versions.contains(v)).copied()
}

// ---------------------------------------------------------------------------------------------
// Messages from the client
// ---------------------------------------------------------------------------------------------

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
        channel_id: i64,
        /// Text, at most [`MAX_MESSAGE_CHARS`] characters.
        body: String,
    },
    /// Replace the body of one's own message.
    EditMessage {
        /// The message.
        message_id: i64,
        /// New text.
        body: String,
    },
    /// Delete one's own message (admins: any message).
    DeleteMessage {
        /// The message.
        message_id: i64,
    },
    /// A page of a channel's history, oldest first.
    History {
        /// The channel.
        channel_id: i64,
        /// Only messages with an id below this one; `null` for the newest page.
        before: Option<i64>,
        /// Page size, at most [`MAX_HISTORY_PAGE`]; `null` for 50.
        limit: Option<u32>,
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
        channel_id: i64,
        /// New name.
        name: String,
    },
    /// Admin: delete a channel and its messages.
    DeleteChannel {
        /// The channel.
        channel_id: i64,
    },
    /// Join a voice channel (leaving any other): returns a media session for UDP.
    JoinVoice {
        /// The voice channel.
        channel_id: i64,
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
        session_id: u32,
        /// Camera or screen.
        stream: VideoStream,
        /// Receive it or not.
        watching: bool,
    },
    /// Ask a video sender for a keyframe.
    RequestKeyframe {
        /// The sender's media session.
        session_id: u32,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// Tell a video sender how much bandwidth this receiver has for its stream.
    ReportBandwidth {
        /// The sender's media session.
        session_id: u32,
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
        channel_id: i64,
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

// ---------------------------------------------------------------------------------------------
// Messages from the server
// ---------------------------------------------------------------------------------------------

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
}

/// The VPN as the dashboard and `itc vpn status` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreatedInvite {
    /// The invite.
    pub invite: InviteInfo,
    /// Its secret; shown once.
    pub secret: String,
    /// `ITC-<code>.<secret>`.
    pub text: String,
}

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
        channel_id: i64,
        /// The message.
        message_id: i64,
    },
    /// A channel appeared (or a direct channel that includes the user).
    ChannelCreated(Channel),
    /// A channel was renamed.
    ChannelRenamed(Channel),
    /// A channel was deleted.
    ChannelDeleted {
        /// The channel.
        channel_id: i64,
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
    /// A user joined a voice channel; `session_id` is the `source` of their media.
    VoiceJoined {
        /// The channel.
        channel_id: i64,
        /// Who.
        user: User,
        /// Their media session.
        session_id: u32,
        /// Their device's public key for end-to-end key wrapping.
        device_key: String,
    },
    /// A voice member's mute or deafen state changed.
    VoiceState {
        /// The channel.
        channel_id: i64,
        /// The member's media session.
        session_id: u32,
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
        channel_id: i64,
    },
    /// A member started sending video.
    VideoStarted {
        /// The channel.
        channel_id: i64,
        /// The sender's media session.
        session_id: u32,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// A member stopped sending video.
    VideoStopped {
        /// The channel.
        channel_id: i64,
        /// The sender's media session.
        session_id: u32,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// A receiver asks this device for a keyframe of its stream.
    KeyframeRequested {
        /// The asking member's media session.
        from_session: u32,
        /// Camera or screen.
        stream: VideoStream,
    },
    /// A receiver reports its bandwidth for this device's stream.
    BandwidthReport {
        /// The reporting member's media session.
        from_session: u32,
        /// Camera or screen.
        stream: VideoStream,
        /// Kilobits per second.
        kbps: u32,
    },
    /// A voice member started or stopped talking (from the flow of their media).
    Talking {
        /// The channel.
        channel_id: i64,
        /// The member's media session.
        session_id: u32,
        /// Talking now or not.
        talking: bool,
    },
    /// Another member's end-to-end media key, wrapped for this device.
    MediaKey {
        /// The voice channel.
        channel_id: i64,
        /// The sender's media session.
        sender: u32,
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
        channel_id: i64,
        /// Who.
        user_id: i64,
        /// The media session that ended.
        session_id: u32,
    },
    /// The server is stopping; the connection closes next.
    ServerShutdown {
        /// Why.
        reason: String,
    },
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Name.
    pub username: String,
    /// Role.
    pub role: Role,
}

/// A user's role.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May manage channels, categories and roles.
    Admin,
    /// Chats.
    Member,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(name: &str) -> Result<Role, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role {other:?}: use admin or member")),
        }
    }
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// A user as others see them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Channel {
    /// Id.
    pub id: i64,
    /// Category, if any.
    pub category_id: Option<i64>,
    /// Name (for direct channels: the two user names joined by `+`).
    pub name: String,
    /// Kind.
    pub kind: ChannelKind,
    /// For direct channels, the two users' ids; empty otherwise.
    pub members: Vec<i64>,
}

/// A category of channels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Category {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Sort position.
    pub position: i64,
}

/// Answer to `list_channels`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChannelList {
    /// All categories.
    pub categories: Vec<Category>,
    /// Every channel the user can read.
    pub channels: Vec<Channel>,
}

/// A chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Message {
    /// Id; increases with time.
    pub id: i64,
    /// Channel.
    pub channel_id: i64,
    /// Author's user id.
    pub author_id: i64,
    /// Author's user name.
    pub author: String,
    /// Text.
    pub body: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last edit.
    pub edited_at: Option<i64>,
}

/// A media session on UDP: its id and hop-by-hop key (see the media packet format).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VoiceSession {
    /// The voice channel joined.
    pub channel_id: i64,
    /// Session id, in every media packet header.
    pub session_id: u32,
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
    pub session_id: u32,
    /// Who.
    pub user: User,
    /// Their device's public key for end-to-end key wrapping.
    pub device_key: String,
}

/// A sender key wrapped (HPKE) for one recipient session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrappedKeyFor {
    /// The recipient's media session.
    pub session_id: u32,
    /// HPKE encapsulated key, base64url.
    pub enc: String,
    /// HPKE ciphertext of the key, base64url.
    pub ciphertext: String,
}

/// A page of history, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages.
    pub messages: Vec<Message>,
    /// Older messages exist; ask again with `before` = the first id here.
    pub has_more: bool,
}

// ---------------------------------------------------------------------------------------------
// Session state machine
// ---------------------------------------------------------------------------------------------

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for `hello`.
    AwaitingHello,
    /// Hello done; waiting for `register`, `login` or `resume`.
    Unauthenticated,
    /// Logged in, but the password must be changed first.
    MustChangePassword,
    /// Logged in.
    Authenticated,
}

/// A request that the session's state does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{op} is not allowed {reason}")]
pub struct NotAllowed {
    /// The refused operation.
    pub op: &'static str,
    /// Plain-words reason.
    pub reason: &'static str,
    /// The code to answer with.
    pub code: ErrorCode,
}

/// The session state machine of one connection. Pure: the server feeds it outcomes.
#[derive(Debug, Clone)]
pub struct Session {
    state: SessionState,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A fresh connection.
    pub fn new() -> Self {
        Session { state: SessionState::AwaitingHello }
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Whether `request` may be handled now.
    pub fn admit(&self, request: &Request) -> Result<(), NotAllowed> {
        use Request::*;
        let op = request.op_name();
        let refuse = |reason, code| Err(NotAllowed { op, reason, code });
        match (self.state, request) {
            (_, Ping) if self.state != SessionState::AwaitingHello => Ok(()),
            (SessionState::AwaitingHello, Hello { .. }) => Ok(()),
            (SessionState::AwaitingHello, _) => refuse("before hello", ErrorCode::NotAllowedNow),
            (_, Hello { .. }) => refuse("twice", ErrorCode::NotAllowedNow),
            (SessionState::Unauthenticated, Register { .. } | RedeemInvite { .. } | Login { .. } | Resume { .. }) => {
                Ok(())
            }
            (SessionState::Unauthenticated, _) => refuse("before login", ErrorCode::NotAllowedNow),
            (_, Register { .. } | RedeemInvite { .. } | Login { .. } | Resume { .. }) => {
                refuse("when already logged in", ErrorCode::NotAllowedNow)
            }
            (SessionState::MustChangePassword, ChangePassword { .. } | Logout) => Ok(()),
            (SessionState::MustChangePassword, _) => {
                refuse("until the password has been changed", ErrorCode::PasswordChangeRequired)
            }
            (SessionState::Authenticated, _) => Ok(()),
        }
    }

    /// `hello` was answered with a welcome.
    pub fn welcomed(&mut self) {
        self.state = SessionState::Unauthenticated;
    }

    /// A login, registration or resume succeeded.
    pub fn logged_in(&mut self, must_change_password: bool) {
        self.state = if must_change_password { SessionState::MustChangePassword } else { SessionState::Authenticated };
    }

    /// The password was changed.
    pub fn password_changed(&mut self) {
        self.state = SessionState::Authenticated;
    }

    /// The user logged out; the connection may log in again.
    pub fn logged_out(&mut self) {
        self.state = SessionState::Unauthenticated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.put_u32(payload.len() as u32);
        buf.put_slice(payload);
        buf
    }

    #[test]
    fn decodes_a_frame_split_at_every_byte() {
        let wire = encode_frame(&ClientFrame { id: 9, request: Request::Ping });
        for split in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..split]);
            assert_eq!(decode_frame(&mut buf), Ok(None), "split at {split}");
            buf.extend_from_slice(&wire[split..]);
            let payload = decode_frame(&mut buf).expect("valid").expect("complete");
            let frame: ClientFrame = parse_payload(&payload).expect("parses");
            assert_eq!(frame, ClientFrame { id: 9, request: Request::Ping });
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn decodes_back_to_back_frames() {
        let mut buf = BytesMut::new();
        for id in 0..3 {
            buf.extend_from_slice(&encode_frame(&ClientFrame { id, request: Request::Ping }));
        }
        for id in 0..3 {
            let payload = decode_frame(&mut buf).expect("valid").expect("complete");
            let frame: ClientFrame = parse_payload(&payload).expect("parses");
            assert_eq!(frame.id, id);
        }
        assert_eq!(decode_frame(&mut buf), Ok(None));
    }

    #[test]
    fn refuses_oversized_frame_before_its_payload_arrives() {
        let mut buf = BytesMut::new();
        buf.put_u32(MAX_FRAME_LEN as u32 + 1);
        assert_eq!(decode_frame(&mut buf), Err(FrameError::TooLarge { len: MAX_FRAME_LEN + 1, max: MAX_FRAME_LEN }));
        let mut at_limit = BytesMut::new();
        at_limit.put_u32(MAX_FRAME_LEN as u32);
        assert_eq!(decode_frame(&mut at_limit), Ok(None));
    }

    #[test]
    fn refuses_empty_frame() {
        let mut buf = frame_bytes(b"");
        assert_eq!(decode_frame(&mut buf), Err(FrameError::Empty));
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for payload in [
            &b"not json"[..],
            b"{}",
            b"{\"id\":1}",
            b"{\"id\":1,\"op\":\"no_such_op\"}",
            b"{\"id\":-1,\"op\":\"ping\"}",
            b"{\"id\":1,\"op\":\"login\",\"args\":{\"username\":5}}",
            b"[1,2,3]",
            b"\xff\xfe",
        ] {
            let result = parse_payload::<ClientFrame>(payload);
            assert!(matches!(result, Err(FrameError::Malformed(_))), "{payload:?} gave {result:?}");
        }
    }

    #[test]
    fn wire_shape_is_the_documented_one() {
        let frame = ClientFrame { id: 7, request: Request::SendMessage { channel_id: 1, body: "hi".into() } };
        let json: serde_json::Value = parse_payload(&encode_frame(&frame)[HEADER_LEN..]).expect("json");
        assert_eq!(json, serde_json::json!({"id": 7, "op": "send_message", "args": {"channel_id": 1, "body": "hi"}}));
        let logout: ClientFrame = parse_payload(br#"{"id":2,"op":"logout"}"#).expect("unit op");
        assert_eq!(logout.request, Request::Logout);

        let reply = ServerFrame::Reply { id: 7, result: Reply::Pong };
        let json: serde_json::Value = parse_payload(&encode_frame(&reply)[HEADER_LEN..]).expect("json");
        assert_eq!(json, serde_json::json!({"type": "reply", "id": 7, "result": {"kind": "pong"}}));

        let event = ServerFrame::Event { event: Event::ChannelDeleted { channel_id: 3 } };
        let json: serde_json::Value = parse_payload(&encode_frame(&event)[HEADER_LEN..]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "event", "event": {"kind": "channel_deleted", "data": {"channel_id": 3}}})
        );
    }

    #[test]
    fn login_takes_an_optional_device_cookie_and_sessions_carry_one() {
        let without: ClientFrame =
            parse_payload(br#"{"id":2,"op":"login","args":{"username":"ann","password":"pw"}}"#).expect("old shape");
        assert_eq!(without.request, Request::Login { username: "ann".into(), password: "pw".into(), device: None });
        let with = ClientFrame {
            id: 2,
            request: Request::Login { username: "ann".into(), password: "pw".into(), device: Some("n.m".into()) },
        };
        let json: serde_json::Value = parse_payload(&encode_frame(&with)[HEADER_LEN..]).expect("json");
        assert_eq!(json["args"], serde_json::json!({"username": "ann", "password": "pw", "device": "n.m"}));

        let user = User { id: 2, username: "ann".into(), role: Role::Member };
        let session = SessionInfo {
            token: "t".into(),
            expires_at: 1,
            user,
            must_change_password: false,
            device_cookie: Some("n.m".into()),
        };
        let json = serde_json::to_value(&session).expect("json");
        assert_eq!(json["device_cookie"], "n.m");
        let older: SessionInfo = serde_json::from_value(serde_json::json!({
            "token": "t", "expires_at": 1, "user": {"id": 2, "username": "ann", "role": "member"},
            "must_change_password": false
        }))
        .expect("a reply without a cookie");
        assert_eq!(older.device_cookie, None);
        assert_eq!(serde_json::to_value(ErrorCode::DiskFull).expect("json"), "disk_full");
    }

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

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Error { id: Some(1), code: ErrorCode::RateLimited, message: "slow down".into() },
            ServerFrame::Error { id: None, code: ErrorCode::BadFrame, message: "bad".into() },
            ServerFrame::Reply {
                id: 2,
                result: Reply::Users(vec![UserPresence {
                    user: User { id: 1, username: "ann".into(), role: Role::Admin },
                    online: true,
                    status: Some("cooking".into()),
                }]),
            },
            ServerFrame::Event { event: Event::ServerShutdown { reason: "bye".into() } },
        ];
        for frame in frames {
            let mut wire = BytesMut::from(&encode_frame(&frame)[..]);
            let payload = decode_frame(&mut wire).expect("valid").expect("complete");
            assert_eq!(parse_payload::<ServerFrame>(&payload), Ok(frame));
        }
    }

    #[test]
    fn negotiates_the_newest_common_version() {
        assert_eq!(negotiate_version(&[1]), Some(1));
        assert_eq!(negotiate_version(&[0, 1, 7]), Some(1));
        assert_eq!(negotiate_version(&[2, 3]), None);
        assert_eq!(negotiate_version(&[]), None);
    }

    #[test]
    fn session_walks_hello_login_password_change() {
        let mut session = Session::new();
        let login = Request::Login { username: "a".into(), password: "b".into(), device: None };
        assert_eq!(session.admit(&Request::Ping).map_err(|e| e.code), Err(ErrorCode::NotAllowedNow));
        assert!(session.admit(&login).is_err());
        assert!(session.admit(&Request::Hello { versions: vec![1], client: "t".into() }).is_ok());
        session.welcomed();
        assert!(session.admit(&Request::Hello { versions: vec![1], client: "t".into() }).is_err());
        assert!(session.admit(&Request::ListChannels).is_err());
        assert!(session.admit(&login).is_ok());

        session.logged_in(true);
        assert_eq!(session.state(), SessionState::MustChangePassword);
        assert_eq!(session.admit(&Request::ListChannels).map_err(|e| e.code), Err(ErrorCode::PasswordChangeRequired));
        assert!(session.admit(&Request::Ping).is_ok());
        let change = Request::ChangePassword { old_password: "b".into(), new_password: "c".into() };
        assert!(session.admit(&change).is_ok());

        session.password_changed();
        assert!(session.admit(&Request::ListChannels).is_ok());
        assert!(session.admit(&login).is_err());
        session.logged_out();
        assert!(session.admit(&Request::ListChannels).is_err());
        assert!(session.admit(&login).is_ok());
    }
}
