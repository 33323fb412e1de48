//! What every request handler works with, and the only part of `server` the handlers import:
//! the running server's shared state ([`Shared`]), the connection a request came on ([`Conn`]),
//! the failure the client is told ([`Failure`]), and the checks and announcements handlers
//! share ([`require_admin`], [`Shared::announce_presence`], [`token_hash`]). Handlers never
//! import each other; the dispatcher in `connection` composes them where one request touches
//! several domains (logging out leaves the call, deleting a channel ends its calls).

use super::hub::Hub;
pub use super::hub::{Eviction, Member, ServerFull};
use super::passwords::{HashingUnavailable, Passwords};
pub use super::pressure::Kind as PressureKind;
pub use super::throttle::{address_key, Attempt, LoginLimits, LoginRefusal, RegistrationRefusal};
pub use super::uploads::Uploads;
use super::voice::VoiceSessions;
use super::{connection_code, default_public_host};
use crate::code::ConnectionCode;
use crate::config::Config;
use crate::ids::SessionId;
use crate::net::PortMappingState;
use crate::proto::{
    encode_frame, AuthMethod, ErrorCode, Event, Role, ServerFrame, ServerInfo, Session, User, UserPresence,
};
use crate::store::{Store, StoreError};
use crate::tls::Fingerprint;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// A request that failed, as the client will be told.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Plain-words explanation.
    pub message: String,
}

impl Failure {
    /// A failure with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Failure::new(ErrorCode::NotFound, "no such item"),
            StoreError::UsernameTaken => Failure::new(ErrorCode::UsernameTaken, "that user name is taken"),
            StoreError::InviteUnusable(why) => Failure::new(ErrorCode::InviteInvalid, why.to_string()),
            StoreError::DiskFull => Failure::new(ErrorCode::DiskFull, "the server's disk is full; nothing was saved"),
            other => {
                tracing::error!(error = %other, "storage failed");
                Failure::new(ErrorCode::Internal, "the server could not save or read this; nothing was changed")
            }
        }
    }
}

impl From<HashingUnavailable> for Failure {
    fn from(err: HashingUnavailable) -> Self {
        tracing::error!(error = %err, "password hashing failed");
        Failure::new(ErrorCode::Internal, "the server could not check passwords; nothing was changed")
    }
}

/// State shared by every task of one running server.
#[derive(Debug)]
pub struct Shared {
    /// The configuration it started with.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Who is online.
    pub hub: Hub,
    /// Login throttling.
    pub login_limits: Mutex<super::throttle::LoginLimits>,
    /// How many accounts `register` may make.
    pub registration_limits: Mutex<super::throttle::RegistrationLimits>,
    /// Makes and checks device cookies.
    pub device_cookies: super::devices::DeviceCookies,
    /// Message throttling per user.
    pub message_limits: Mutex<crate::ratelimit::RateLimiter>,
    /// Argon2id hashing on a fixed pool of threads.
    pub passwords: Passwords,
    /// A hash to verify against when the user does not exist, so timing reveals nothing.
    pub dummy_hash: String,
    /// When the server started.
    pub started_at: Instant,
    /// Source of connection ids.
    pub next_connection_id: AtomicU64,
    /// Every voice session (with the media relay they run through).
    pub voice: VoiceSessions,
    /// The UDP media port clients send to.
    pub media_port: u16,
    /// The TCP control port clients connect to.
    pub control_port: u16,
    /// SHA-256 of the TLS certificate, when TLS is on.
    pub fingerprint: Option<Fingerprint>,
    /// What router port mapping is doing (`Off` unless `[network] upnp = true`).
    pub port_mapping: watch::Receiver<PortMappingState>,
    /// The built-in VPN.
    pub vpn: crate::vpn::Vpn,
    /// Counts of refusals under pressure, for the once-a-minute warnings.
    pub pressure: Arc<Mutex<super::pressure::PressureLog>>,
    /// The warnings logged in the last two windows, for the dashboard.
    pub recent_pressure: Arc<Mutex<super::pressure::RecentPressure>>,
    /// Stored files under `uploads/` and the uploads in progress.
    pub uploads: Uploads,
}

impl Shared {
    /// Counts one event of pressure for the once-a-minute warning.
    pub(crate) fn note_pressure(&self, kind: super::pressure::Kind) {
        super::note(&self.pressure, kind);
    }

    /// Counts a refused request as pressure when it is one (a full disk).
    pub(crate) fn note_failure(&self, failure: &Failure) {
        if failure.code == ErrorCode::DiskFull {
            self.note_pressure(super::pressure::Kind::DiskFull);
        }
    }

    /// The failure for a login the hub refused; a full set of devices counts as pressure.
    pub(crate) fn join_refused(&self, refused: super::hub::JoinRefused) -> Failure {
        if matches!(refused, super::hub::JoinRefused::TooManyDevices(_)) {
            self.note_pressure(super::pressure::Kind::TooManyDevices);
        }
        Failure::new(refused.code(), refused.to_string())
    }

    /// Tells everyone online about a user's presence.
    pub(crate) fn announce_presence(&self, presence: UserPresence) {
        self.hub.broadcast(&encode_frame(&ServerFrame::Event { event: Event::Presence(presence) }));
    }

    /// The custom status a user has saved (none if it cannot be read).
    pub(crate) async fn stored_status(&self, username: &str) -> Option<String> {
        self.store.user_by_name(username.to_string()).await.ok().flatten().and_then(|record| record.status)
    }

    /// The code to give out: for the router's external address and mapped port while port
    /// mapping has the ports open, else for [`default_public_host`] (the LAN address).
    pub fn public_code(&self) -> ConnectionCode {
        match self.port_mapping.borrow().internet_address() {
            Some(address) => connection_code(&self.config, &address.ip().to_string(), address.port(), self.fingerprint),
            None => self.connection_code(&default_public_host(&self.config)),
        }
    }

    /// The connection code for reaching this server at `host`.
    pub fn connection_code(&self, host: &str) -> ConnectionCode {
        connection_code(&self.config, host, self.control_port, self.fingerprint)
    }

    /// The public description of the server right now.
    pub(crate) fn server_info(&self) -> ServerInfo {
        let server = &self.config.server;
        ServerInfo {
            name: server.name.clone(),
            description: server.description.clone(),
            version: crate::version::current().to_string(),
            motd: server.motd.clone(),
            tags: server.tags.clone(),
            users_online: self.hub.users_online(),
            max_users: server.max_users,
        }
    }

    /// The ways to log in that this server offers.
    pub fn auth_methods(&self) -> Vec<AuthMethod> {
        let mut methods = vec![AuthMethod::Password, AuthMethod::Token, AuthMethod::Invite];
        if self.config.auth.allow_registration {
            methods.push(AuthMethod::Register);
        }
        methods
    }
}

impl crate::rest::ServerView for Shared {
    fn server_info(&self) -> ServerInfo {
        Shared::server_info(self)
    }

    fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    fn port_mapping(&self) -> PortMappingState {
        self.port_mapping.borrow().clone()
    }
}

/// One connection's state, handed to the handlers.
#[derive(Debug)]
pub struct Conn {
    /// Unique within this server run.
    pub id: u64,
    /// The peer's IP address.
    pub peer: IpAddr,
    /// Where the connection is in the protocol.
    pub session: Session,
    /// Hash of the current session token, once logged in.
    pub token_hash: Option<Vec<u8>>,
    /// The connection's outgoing queue.
    pub outbox: mpsc::Sender<Bytes>,
    /// Set when the connection must close (slow consumer, dead writer, session ended).
    pub eviction: Eviction,
    /// The media session, while in one (its channel and state are kept by `Shared::voice`).
    pub voice: Option<SessionId>,
}

impl Conn {
    /// The logged-in user, with the role as of now.
    pub fn user(&self, ctx: &Shared) -> Result<User, Failure> {
        ctx.hub.user(self.id).ok_or_else(|| Failure::new(ErrorCode::NotAllowedNow, "not logged in"))
    }
}

/// The caller, if an admin; otherwise `forbidden` "only admins can {action}".
pub(crate) fn require_admin(ctx: &Shared, conn: &Conn, action: &str) -> Result<User, Failure> {
    let user = conn.user(ctx)?;
    if user.role != Role::Admin {
        return Err(Failure::new(ErrorCode::Forbidden, format!("only admins can {action}")));
    }
    Ok(user)
}

/// SHA-256 of a secret (session token or invite secret): what is stored instead of it.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}
