//! The client library: connect by connection code or `host[:port]`, pin the server's
//! certificate, speak protocol v1, and expose typed requests and a stream of events.
//!
//! Pinning: a connection code carries the certificate's fingerprint, so the first connection is
//! already pinned. Connecting by address trusts on first use and records the fingerprint in a
//! [`KnownHosts`] file; a later change of certificate is refused with a clear error.
//! The `itc` CLI, the tests and the benchmarks use this module. [`media`] is the UDP side of a
//! voice session and [`call`] a whole end-to-end encrypted call on top of it.

pub mod audio;
pub mod call;
pub mod device_cookies;
pub mod media;
pub mod vpn;

use crate::code::{CodeError, ConnectionCode};
use crate::proto::{
    decode_frame, encode_frame, parse_payload, Channel, ChannelKind, ChannelList, ClientFrame, CreatedInvite,
    ErrorCode, Event, HistoryPage, InviteInfo, Message, Reply, Request, Role, ServerFrame, SessionInfo, UserPresence,
    VideoStream, VoiceSession, Welcome, WrappedKeyFor, SUPPORTED_VERSIONS,
};
use crate::tls::{format_fingerprint, hex_fingerprint, parse_hex_fingerprint, Fingerprint, PinningVerifier};
use crate::transport::Stream;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// The control port when an address has none.
pub const DEFAULT_PORT: u16 = 3784;
/// Time allowed for TCP connect plus TLS handshake plus hello.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for the answer to one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Events buffered for a reader that is not reading; later ones are dropped and counted.
const EVENT_BUFFER: usize = 8192;

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server text is neither a connection code nor `host[:port]`.
    #[error("not a server address or connection code: {0}")]
    BadTarget(String),
    /// A damaged connection code.
    #[error("{0}")]
    Code(#[from] CodeError),
    /// TCP connect failed.
    #[error("cannot reach {addr}: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate does not match the pinned fingerprint.
    #[error("refusing to connect: the server's certificate ({presented}) does not match the one {pinned_by} ({expected}). {advice}")]
    FingerprintMismatch {
        /// Where the expectation came from.
        pinned_by: String,
        /// Expected fingerprint.
        expected: String,
        /// Presented fingerprint.
        presented: String,
        /// What to do.
        advice: String,
    },
    /// TLS failed for another reason.
    #[error("TLS handshake with {addr} failed: {reason}")]
    Tls {
        /// host:port.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Connecting, or waiting for an answer, took too long.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The server answered with an error.
    #[error("{message} ({code:?})")]
    Server {
        /// The code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection is closed.
    #[error("connection closed: {0}")]
    Closed(String),
    /// Audio could not be encoded, decoded, read or written.
    #[error("audio: {0}")]
    Audio(#[from] audio::AudioError),
    /// The known-hosts file could not be read or written.
    #[error("known hosts file {path}: {source}")]
    KnownHosts {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl ClientError {
    /// The server's error code, if the server refused the request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A connection code: address, TLS setting and pinned fingerprint.
    Code(ConnectionCode),
    /// A bare address; TLS, trust on first use.
    Address {
        /// Host name or IP.
        host: String,
        /// Control port.
        port: u16,
    },
}

impl Target {
    /// Parses `ITC-…`, `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Target, ClientError> {
        let text = text.trim();
        if text.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("ITC-")) {
            if text.contains(crate::code::INVITE_SEPARATOR) {
                return Ok(Target::Code(crate::code::Invite::decode(text)?.code));
            }
            return Ok(Target::Code(ConnectionCode::decode(text)?));
        }
        let bad = || ClientError::BadTarget(text.to_string());
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        };
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return Err(bad());
        }
        Ok(Target::Address { host: host.to_string(), port })
    }

    fn host(&self) -> &str {
        match self {
            Target::Code(code) => &code.host,
            Target::Address { host, .. } => host,
        }
    }

    fn port(&self) -> u16 {
        match self {
            Target::Code(code) => code.port,
            Target::Address { port, .. } => *port,
        }
    }

    fn tls(&self) -> bool {
        match self {
            Target::Code(code) => code.tls,
            Target::Address { .. } => true,
        }
    }

    /// `host:port` (IPv6 in brackets), as known-hosts keys and messages use it.
    pub fn authority(&self) -> String {
        let host = self.host();
        if host.contains(':') {
            format!("[{host}]:{}", self.port())
        } else {
            format!("{host}:{}", self.port())
        }
    }
}

/// A file of `host:port sha256-hex` lines: the fingerprints pinned on first use.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    /// Uses the file at `path` (created when something is first pinned).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KnownHosts { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn error(&self, source: std::io::Error) -> ClientError {
        ClientError::KnownHosts { path: self.path.display().to_string(), source }
    }

    fn entries(&self) -> Result<Vec<(String, Fingerprint)>, ClientError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(self.error(err)),
        };
        Ok(text
            .lines()
            .filter_map(|line| {
                let (authority, hex) = line.trim().split_once(' ')?;
                Some((authority.to_string(), parse_hex_fingerprint(hex)?))
            })
            .collect())
    }

    /// The pinned fingerprint of `authority`.
    pub fn get(&self, authority: &str) -> Result<Option<Fingerprint>, ClientError> {
        Ok(self.entries()?.into_iter().find(|(a, _)| a == authority).map(|(_, f)| f))
    }

    /// Pins `fingerprint` for `authority`, replacing an older pin.
    pub fn pin(&self, authority: &str, fingerprint: &Fingerprint) -> Result<(), ClientError> {
        let mut entries = self.entries()?;
        entries.retain(|(a, _)| a != authority);
        entries.push((authority.to_string(), *fingerprint));
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| self.error(e))?;
        }
        let text: String = entries.iter().map(|(a, f)| format!("{a} {}\n", hex_fingerprint(f))).collect();
        std::fs::write(&self.path, text).map_err(|e| self.error(e))
    }
}

/// Requests waiting for their answers, and why the connection closed once it has. One lock
/// guards both, so a request either is answered by the reader or sees that it is gone.
#[derive(Debug, Default)]
struct Waiting {
    replies: HashMap<u64, oneshot::Sender<Result<Reply, ClientError>>>,
    closed: Option<String>,
}

type Pending = Arc<Mutex<Waiting>>;

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, Waiting> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connected client. Dropping it closes the connection.
#[derive(Debug)]
pub struct Client {
    outbox: mpsc::Sender<Bytes>,
    pending: Pending,
    next_id: AtomicU64,
    events: mpsc::Receiver<Event>,
    dropped_events: Arc<AtomicU64>,
    welcome: Welcome,
    host: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Client {
    /// Connects, checks the certificate, and says hello.
    pub async fn connect(target: &Target, known_hosts: Option<&KnownHosts>) -> Result<Client, ClientError> {
        Self::connect_with(target, known_hosts, None).await
    }

    /// Like [`Client::connect`], from the local address `local` (a machine with several
    /// addresses; the tests stand in for other machines with 127.0.0.x this way).
    pub async fn connect_from(
        target: &Target,
        known_hosts: Option<&KnownHosts>,
        local: IpAddr,
    ) -> Result<Client, ClientError> {
        Self::connect_with(target, known_hosts, Some(local)).await
    }

    async fn connect_with(
        target: &Target,
        known_hosts: Option<&KnownHosts>,
        local: Option<IpAddr>,
    ) -> Result<Client, ClientError> {
        let authority = target.authority();
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(target, known_hosts, local))
            .await
            .map_err(|_| ClientError::Timeout(format!("a connection to {authority}")))?
    }

    async fn connect_inner(
        target: &Target,
        known_hosts: Option<&KnownHosts>,
        local: Option<IpAddr>,
    ) -> Result<Client, ClientError> {
        let authority = target.authority();
        let connect_error = |source| ClientError::Connect { addr: authority.clone(), source };
        let tcp = match local {
            None => TcpStream::connect((target.host(), target.port())).await.map_err(connect_error)?,
            Some(local) => connect_tcp_from(target, local).await.map_err(connect_error)?,
        };
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> =
            if target.tls() { Box::new(tls_handshake(target, known_hosts, tcp).await?) } else { Box::new(tcp) };
        let (reader, mut writer) = tokio::io::split(stream);
        let (outbox, mut to_send) = mpsc::channel::<Bytes>(1024);
        let writer_task = tokio::spawn(async move {
            while let Some(frame) = to_send.recv().await {
                if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        let pending: Pending = Arc::default();
        let (event_tx, events) = mpsc::channel(EVENT_BUFFER);
        let dropped_events = Arc::new(AtomicU64::new(0));
        let reader_task = tokio::spawn(read_frames(reader, pending.clone(), event_tx, dropped_events.clone()));
        let next_id = AtomicU64::new(1);
        let hello = Request::Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            client: format!("itc {}", crate::version::current()),
        };
        let welcome = match round_trip(&outbox, &pending, &next_id, hello).await? {
            Reply::Welcome(welcome) => welcome,
            other => return Err(unexpected(other)),
        };
        let host = target.host().to_string();
        Ok(Client {
            outbox,
            pending,
            next_id,
            events,
            dropped_events,
            welcome,
            host,
            tasks: vec![writer_task, reader_task],
        })
    }

    /// What the server said in its welcome: name, description, MOTD, auth methods.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The server's host name or address, as connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        round_trip(&self.outbox, &self.pending, &self.next_id, request).await
    }

    /// The next server-pushed event; `None` once the connection is closed.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Events dropped because they were not read fast enough.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events.load(Ordering::Relaxed)
    }

    /// Logs in with a password.
    pub async fn login(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        self.login_with_device(username, password, None).await
    }

    /// Logs in with a password, presenting the device cookie an earlier session of this
    /// account on this server gave (see [`device_cookies`]); keep the reply's
    /// `device_cookie` for next time.
    pub async fn login_with_device(
        &self,
        username: &str,
        password: &str,
        device: Option<&str>,
    ) -> Result<SessionInfo, ClientError> {
        let request =
            Request::Login { username: username.into(), password: password.into(), device: device.map(Into::into) };
        expect_session(self.request(request).await?)
    }

    /// Creates an account and logs in.
    pub async fn register(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        let request = Request::Register { username: username.into(), password: password.into() };
        expect_session(self.request(request).await?)
    }

    /// Creates an account with an invite (its whole text, or just the secret after the `.`)
    /// and logs in.
    pub async fn redeem_invite(
        &self,
        invite: &str,
        username: &str,
        password: &str,
    ) -> Result<SessionInfo, ClientError> {
        let invite = invite.trim();
        let secret = invite.rsplit(crate::code::INVITE_SEPARATOR).next().unwrap_or(invite);
        let request =
            Request::RedeemInvite { secret: secret.into(), username: username.into(), password: password.into() };
        expect_session(self.request(request).await?)
    }

    /// Logs in with a session token.
    pub async fn resume(&self, token: &str) -> Result<SessionInfo, ClientError> {
        expect_session(self.request(Request::Resume { token: token.into() }).await?)
    }

    /// Ends the session.
    pub async fn logout(&self) -> Result<(), ClientError> {
        expect_ok(self.request(Request::Logout).await?)
    }

    /// Changes the password.
    pub async fn change_password(&self, old: &str, new: &str) -> Result<(), ClientError> {
        let request = Request::ChangePassword { old_password: old.into(), new_password: new.into() };
        expect_ok(self.request(request).await?)
    }

    /// Categories and channels.
    pub async fn channels(&self) -> Result<ChannelList, ClientError> {
        match self.request(Request::ListChannels).await? {
            Reply::Channels(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// A channel by name (with or without `#`), or by numeric id.
    pub async fn find_channel(&self, name: &str) -> Result<Channel, ClientError> {
        let wanted = name.trim_start_matches('#');
        let list = self.channels().await?;
        list.channels
            .into_iter()
            .find(|c| c.kind != ChannelKind::Direct && (c.name == wanted || c.id.to_string() == wanted))
            .ok_or_else(|| ClientError::Server {
                code: ErrorCode::NotFound,
                message: format!("no channel named #{wanted}"),
            })
    }

    /// Every account with presence.
    pub async fn users(&self) -> Result<Vec<UserPresence>, ClientError> {
        match self.request(Request::ListUsers).await? {
            Reply::Users(users) => Ok(users),
            other => Err(unexpected(other)),
        }
    }

    /// Sets or clears the custom status.
    pub async fn set_status(&self, status: Option<&str>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::SetStatus { status: status.map(str::to_string) }).await?)
    }

    /// Sends a message; returns it as committed by the server.
    pub async fn send(&self, channel_id: i64, body: &str) -> Result<Message, ClientError> {
        expect_message(self.request(Request::SendMessage { channel_id, body: body.into() }).await?)
    }

    /// Edits one's own message.
    pub async fn edit(&self, message_id: i64, body: &str) -> Result<Message, ClientError> {
        expect_message(self.request(Request::EditMessage { message_id, body: body.into() }).await?)
    }

    /// Deletes a message.
    pub async fn delete(&self, message_id: i64) -> Result<(), ClientError> {
        expect_ok(self.request(Request::DeleteMessage { message_id }).await?)
    }

    /// A page of history, oldest first.
    pub async fn history(
        &self,
        channel_id: i64,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ClientError> {
        match self.request(Request::History { channel_id, before, limit }).await? {
            Reply::History(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// The direct conversation with `username`.
    pub async fn open_direct(&self, username: &str) -> Result<Channel, ClientError> {
        expect_channel(self.request(Request::OpenDirect { username: username.into() }).await?)
    }

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
    pub async fn rename_channel(&self, channel_id: i64, name: &str) -> Result<Channel, ClientError> {
        expect_channel(self.request(Request::RenameChannel { channel_id, name: name.into() }).await?)
    }

    /// Admin: deletes a channel.
    pub async fn delete_channel(&self, channel_id: i64) -> Result<(), ClientError> {
        expect_ok(self.request(Request::DeleteChannel { channel_id }).await?)
    }

    /// Joins a voice channel publishing `device_key` (see [`crate::e2e::DeviceKey`]); open a
    /// [`media::MediaLink`] with the answer, or use [`call::Call`] which does all of it.
    pub async fn join_voice(&self, channel_id: i64, device_key: &str) -> Result<VoiceSession, ClientError> {
        match self.request(Request::JoinVoice { channel_id, device_key: device_key.into() }).await? {
            Reply::VoiceSession(session) => Ok(session),
            other => Err(unexpected(other)),
        }
    }

    /// Hands wrapped copies of this device's media key to the other members.
    pub async fn share_media_key(&self, key_id: u64, wrapped: Vec<WrappedKeyFor>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::ShareMediaKey { key_id, wrapped }).await?)
    }

    /// Sets this connection's own mute and deafen in voice.
    pub async fn set_voice_state(&self, self_muted: bool, self_deafened: bool) -> Result<(), ClientError> {
        expect_ok(self.request(Request::SetVoiceState { self_muted, self_deafened }).await?)
    }

    /// Admin: mutes or unmutes a user in voice.
    pub async fn server_mute(&self, username: &str, muted: bool) -> Result<(), ClientError> {
        expect_ok(self.request(Request::ServerMute { username: username.into(), muted }).await?)
    }

    /// Admin: moves a user's voice sessions to another voice channel.
    pub async fn move_voice(&self, username: &str, channel_id: i64) -> Result<(), ClientError> {
        expect_ok(self.request(Request::MoveVoice { username: username.into(), channel_id }).await?)
    }

    /// Starts or stops sending a video stream.
    pub async fn set_video(&self, stream: VideoStream, sending: bool) -> Result<(), ClientError> {
        let request = if sending { Request::StartVideo { stream } } else { Request::StopVideo { stream } };
        expect_ok(self.request(request).await?)
    }

    /// Starts or stops receiving another member's video stream.
    pub async fn watch_video(&self, session_id: u32, stream: VideoStream, watching: bool) -> Result<(), ClientError> {
        expect_ok(self.request(Request::WatchVideo { session_id, stream, watching }).await?)
    }

    /// Asks a video sender for a keyframe.
    pub async fn request_keyframe(&self, session_id: u32, stream: VideoStream) -> Result<(), ClientError> {
        expect_ok(self.request(Request::RequestKeyframe { session_id, stream }).await?)
    }

    /// Tells a video sender this receiver's bandwidth for its stream.
    pub async fn report_bandwidth(&self, session_id: u32, stream: VideoStream, kbps: u32) -> Result<(), ClientError> {
        expect_ok(self.request(Request::ReportBandwidth { session_id, stream, kbps }).await?)
    }

    /// Leaves the voice channel.
    pub async fn leave_voice(&self) -> Result<(), ClientError> {
        expect_ok(self.request(Request::LeaveVoice).await?)
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

    /// The VPN's state and the peers this account may see (an admin's: all).
    pub async fn vpn_status(&self) -> Result<crate::proto::VpnStatus, ClientError> {
        match self.request(Request::VpnStatus).await? {
            Reply::VpnStatus(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }

    /// Registers this device's WireGuard public key (base64) as device `name`.
    pub async fn vpn_register(&self, name: &str, public_key: &str) -> Result<crate::proto::VpnAccess, ClientError> {
        let request = Request::VpnRegister { name: name.to_string(), public_key: public_key.to_string() };
        match self.request(request).await? {
            Reply::VpnAccess(access) => Ok(access),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: a key pair and client config for `username`'s app (shown once).
    pub async fn vpn_create_peer(
        &self,
        username: &str,
        name: &str,
        host: Option<String>,
    ) -> Result<crate::proto::VpnCreatedPeer, ClientError> {
        let request = Request::VpnCreatePeer { username: username.to_string(), name: name.to_string(), host };
        match self.request(request).await? {
            Reply::VpnPeerCreated(created) => Ok(created),
            other => Err(unexpected(other)),
        }
    }

    /// Removes a VPN peer (admins: any; members: their own) and ends its tunnel.
    pub async fn vpn_revoke(&self, peer_id: i64) -> Result<crate::proto::VpnPeerInfo, ClientError> {
        match self.request(Request::VpnRevoke { peer_id }).await? {
            Reply::VpnPeer(peer) => Ok(peer),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: sets one peer's cap (or with no peer the server-wide one), kbit/s each way;
    /// `None` goes back to the default.
    pub async fn vpn_set_limit(&self, peer_id: Option<i64>, kbps: Option<u32>) -> Result<(), ClientError> {
        match self.request(Request::VpnSetLimit { peer_id, max_bandwidth_kbps: kbps }).await? {
            Reply::VpnPeer(_) | Reply::Ok => Ok(()),
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

async fn round_trip(
    outbox: &mpsc::Sender<Bytes>,
    pending: &Pending,
    next_id: &AtomicU64,
    request: Request,
) -> Result<Reply, ClientError> {
    let id = next_id.fetch_add(1, Ordering::Relaxed);
    let (reply_tx, reply_rx) = oneshot::channel();
    {
        let mut waiting = lock(pending);
        if let Some(reason) = &waiting.closed {
            return Err(ClientError::Closed(reason.clone()));
        }
        waiting.replies.insert(id, reply_tx);
    }
    if outbox.send(encode_frame(&ClientFrame { id, request })).await.is_err() {
        lock(pending).replies.remove(&id);
        return Err(ClientError::Closed("the connection is closed".into()));
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, reply_rx).await {
        Ok(answer) => answer.map_err(|_| ClientError::Closed("the connection closed before the answer".into()))?,
        Err(_) => {
            lock(pending).replies.remove(&id);
            Err(ClientError::Timeout(format!("an answer from the server (waited {} s)", REQUEST_TIMEOUT.as_secs())))
        }
    }
}

/// A TCP connection to the target from the local address `local`: the first of the target's
/// addresses in the same family.
async fn connect_tcp_from(target: &Target, local: IpAddr) -> std::io::Result<TcpStream> {
    let remote = tokio::net::lookup_host((target.host(), target.port()))
        .await?
        .find(|remote| remote.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, format!("no address like {local}")))?;
    let socket = if local.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.bind(std::net::SocketAddr::new(local, 0))?;
    socket.connect(remote).await
}

async fn tls_handshake(
    target: &Target,
    known_hosts: Option<&KnownHosts>,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let authority = target.authority();
    let code_pin = match target {
        Target::Code(code) => code.fingerprint,
        Target::Address { .. } => None,
    };
    let (expected, pinned_by) = match (code_pin, known_hosts) {
        (Some(pin), _) => (Some(pin), "in the connection code".to_string()),
        (None, Some(known)) => (known.get(&authority)?, format!("pinned on first use in {}", known.path().display())),
        (None, None) => (None, String::new()),
    };
    let verifier = PinningVerifier::new(expected);
    let config = verifier
        .client_config()
        .map_err(|err| ClientError::Tls { addr: authority.clone(), reason: err.to_string() })?;
    let name = rustls::pki_types::ServerName::try_from(target.host().to_string())
        .map_err(|_| ClientError::BadTarget(target.host().to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match connector.connect(name, tcp).await {
        Ok(stream) => {
            if let (None, Some(known), Some(seen)) = (expected, known_hosts, verifier.seen()) {
                known.pin(&authority, &seen)?;
            }
            Ok(stream)
        }
        Err(err) => match (expected, verifier.seen()) {
            (Some(expected), Some(presented)) if expected != presented => Err(ClientError::FingerprintMismatch {
                advice: if code_pin.is_some() {
                    "The code may be out of date, or someone may be intercepting the connection.".into()
                } else {
                    format!(
                        "If the server was reinstalled, remove its line ({authority}) from {}.",
                        known_hosts.map(|k| k.path().display().to_string()).unwrap_or_default()
                    )
                },
                pinned_by,
                expected: format_fingerprint(&expected),
                presented: format_fingerprint(&presented),
            }),
            _ => Err(ClientError::Tls { addr: authority, reason: err.to_string() }),
        },
    }
}

async fn read_frames(
    mut reader: tokio::io::ReadHalf<Box<dyn Stream>>,
    pending: Pending,
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let reason = 'read: loop {
        loop {
            let payload = match decode_frame(&mut buf) {
                Ok(Some(payload)) => payload,
                Ok(None) => break,
                Err(err) => break 'read format!("bad frame from server: {err}"),
            };
            match parse_payload::<ServerFrame>(&payload) {
                Ok(ServerFrame::Reply { id, result }) => answer(&pending, id, Ok(result)),
                Ok(ServerFrame::Error { id: Some(id), code, message }) => {
                    answer(&pending, id, Err(ClientError::Server { code, message }))
                }
                Ok(ServerFrame::Error { id: None, code, message }) => break 'read format!("{message} ({code:?})"),
                Ok(ServerFrame::Event { event }) => {
                    let shutdown = matches!(event, Event::ServerShutdown { .. });
                    if events.try_send(event).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    if shutdown {
                        break 'read "the server is shutting down".into();
                    }
                }
                Err(err) => break 'read format!("unreadable frame from server: {err}"),
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) => break "the server closed the connection".into(),
            Ok(_) => {}
            Err(err) => break format!("read failed: {err}"),
        }
    };
    let waiting: Vec<_> = {
        let mut waiting = lock(&pending);
        waiting.closed = Some(reason.clone());
        waiting.replies.drain().collect()
    };
    for (_, reply) in waiting {
        let _ = reply.send(Err(ClientError::Closed(reason.clone())));
    }
}

fn answer(pending: &Pending, id: u64, result: Result<Reply, ClientError>) {
    if let Some(reply) = lock(pending).replies.remove(&id) {
        let _ = reply.send(result);
    }
}

fn unexpected(reply: Reply) -> ClientError {
    ClientError::Protocol(format!("unexpected answer: {reply:?}"))
}

fn expect_ok(reply: Reply) -> Result<(), ClientError> {
    match reply {
        Reply::Ok => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn expect_session(reply: Reply) -> Result<SessionInfo, ClientError> {
    match reply {
        Reply::Session(session) => Ok(session),
        other => Err(unexpected(other)),
    }
}

fn expect_message(reply: Reply) -> Result<Message, ClientError> {
    match reply {
        Reply::Message(message) => Ok(message),
        other => Err(unexpected(other)),
    }
}

fn expect_channel(reply: Reply) -> Result<Channel, ClientError> {
    match reply {
        Reply::Channel(channel) => Ok(channel),
        other => Err(unexpected(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let addr = |host: &str, port| Target::Address { host: host.into(), port };
        assert_eq!(Target::parse("chat.example.com").ok(), Some(addr("chat.example.com", 3784)));
        assert_eq!(Target::parse("192.168.1.100:4000").ok(), Some(addr("192.168.1.100", 4000)));
        assert_eq!(Target::parse("[::1]:5000").ok(), Some(addr("::1", 5000)));
        assert_eq!(Target::parse("::1").ok(), Some(addr("::1", 3784)));
        assert_eq!(addr("::1", 5000).authority(), "[::1]:5000");
        for bad in ["", "host:0", "host:port", "a b", "[::1", "http://x/", "ab€:x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Target::parse("ITC-bad"), Err(ClientError::Code(_))));
    }

    #[test]
    fn known_hosts_pin_and_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let known = KnownHosts::new(dir.path().join("sub/known_hosts"));
        assert_eq!(known.get("h:1").expect("reads"), None);
        known.pin("h:1", &[1; 32]).expect("writes");
        known.pin("h:2", &[2; 32]).expect("writes");
        known.pin("h:1", &[3; 32]).expect("writes");
        assert_eq!(known.get("h:1").expect("reads"), Some([3; 32]));
        assert_eq!(known.get("h:2").expect("reads"), Some([2; 32]));
    }
}
