//! What every request handler works with, and the only part of `server` the handlers import:
//! the running server's shared state ([`Shared`]), the connection a request came on ([`Conn`]),
//! the failure the client is told ([`Failure`]), and the checks and announcements handlers
//! share ([`require_admin`] and [`permit`], which ask the one permission function
//! [`decide`]; [`Shared::channel_allows`], [`Shared::publish_to_channel`], [`audit_line`],
//! [`Shared::announce_presence`], [`token_hash`]). Handlers never
//! import each other; the dispatcher in `connection` composes them where one request touches
//! several domains (logging out leaves the call, deleting a channel ends its calls).

use super::hub::Hub;
pub use super::hub::{Eviction, Member, ServerFull};
use super::passwords::{HashingUnavailable, Passwords};
pub use super::permissions::{decide, Action, ChannelRules, Contact, Denied};
pub use super::pressure::Kind as PressureKind;
pub(crate) use super::reading::{
    can_read, check_body, check_client_id, fit_in_one_frame, history_limit, may_send, publish, readable_channel,
    readable_channels, readable_message, throttle, Paging,
};
pub(crate) use super::sanctions::word_pattern;
pub use super::sanctions::Sanctions;
pub use super::throttle::{address_key, Attempt, LoginLimits, LoginRefusal, RegistrationRefusal};
pub use super::uploads::Uploads;
pub use super::voice::MuteReason;
use super::voice::{Membership, Seat, VoiceSessions};
pub use super::wards::{describe as describe_supervision, Wards};
use super::{connection_code, default_public_host};
use crate::code::ConnectionCode;
use crate::config::Config;
use crate::ids::SessionId;
use crate::ids::UserId;
use crate::net::PortMappingState;
use crate::proto::{
    encode_frame, AuthMethod, Channel, ChannelKind, ErrorCode, Event, Role, ServerFrame, ServerInfo, Session, User,
    UserPresence,
};
use crate::store::{NewAuditEntry, Store, StoreError};
use crate::tls::Fingerprint;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Shortest password accepted for new passwords.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (hashing cost is bounded).
pub(crate) const MAX_PASSWORD_CHARS: usize = 1024;

/// Checks a new password's length.
pub(crate) fn check_new_password(password: &str) -> Result<(), Failure> {
    let len = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&len) {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!("passwords are {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

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
            StoreError::Duplicate => Failure::new(ErrorCode::InvalidArgument, "that exists already"),
            StoreError::DiskFull => Failure::new(ErrorCode::DiskFull, "the server's disk is full; nothing was saved"),
            StoreError::LimitReached(why) => Failure::new(ErrorCode::LimitReached, why),
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
    /// Moderation's in-memory state: overrides, timeouts, slow mode, filters, waiting registrations.
    pub sanctions: Sanctions,
    /// Supervised members: guardians, contacts, quiet hours.
    pub wards: Wards,
    /// The backup service of the program that runs this server (`itc-server`, the appliance),
    /// once it attached it ([`super::handle::ServerHandle::attach_backups`]): backups are not
    /// the server's, so the server only asks it.
    pub backups: std::sync::OnceLock<Arc<crate::backup::schedule::Backups>>,
    /// Fetches link previews (used when `chat.link_previews` is on).
    pub previews: crate::preview::Previews,
    /// Stored files under `uploads/` and the uploads in progress.
    pub uploads: Uploads,
    /// The server's background tasks (shutdown waits for them) and the token that stops them:
    /// work a request starts that outlives it (a link preview's fetch) runs here.
    pub background: (tokio_util::task::TaskTracker, tokio_util::sync::CancellationToken),
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

    /// Whether `user` may do a channel `action` (view, send, speak, manage) in `channel`: a
    /// direct channel's two members may do all but manage, and send only where supervision
    /// allows the pair ([`Wards::contact`]); public channels ask [`decide`].
    pub(crate) fn channel_allows(&self, user: &User, channel: &Channel, action: Action) -> bool {
        if channel.kind == ChannelKind::Direct {
            let member = channel.members.contains(&user.id) && action != Action::Manage;
            return member && (action == Action::View || self.direct_allowed(user, &channel.members).is_ok());
        }
        decide(user.role, action, None, &self.sanctions.rules(channel)).is_ok()
    }

    /// Whether supervision lets `user` write in a direct conversation between `members`.
    pub(crate) fn direct_allowed(&self, user: &User, members: &[UserId]) -> Result<(), Denied> {
        let other = members.iter().copied().find(|id| *id != user.id).unwrap_or(user.id);
        decide(user.role, Action::Direct(self.wards.contact(user.id, other)), None, &ChannelRules::default())
    }

    /// Queues an event to everyone online who can see `channel`.
    pub(crate) fn publish_to_channel(&self, channel: &Channel, event: Event) {
        let frame = encode_frame(&ServerFrame::Event { event });
        if channel.kind == ChannelKind::Direct {
            self.hub.send_to_users(&channel.members, &frame);
        } else {
            let rules = self.sanctions.rules(channel);
            self.hub.send_to_matching(&frame, |user| decide(user.role, Action::View, None, &rules).is_ok());
        }
    }

    /// Refuses with `banned` when a ban is in force on `user`'s account or on `peer`'s address
    /// (an address ban never locks out an admin or the owner).
    pub(crate) async fn refuse_banned(&self, user: Option<&User>, peer: IpAddr) -> Result<(), Failure> {
        let exempt = user.is_some_and(|user| user.role.is_admin());
        let address = (!exempt).then(|| super::throttle::address_key(peer));
        let Some(ban) = self.store.ban_on(user.map(|user| user.id), address, crate::clock::now_ms()).await? else {
            return Ok(());
        };
        let until = ban.expires_at.map_or("for good".to_string(), |at| format!("until {at} (Unix ms)"));
        let why = ban.reason.map(|reason| format!(": {reason}")).unwrap_or_default();
        Err(Failure::new(ErrorCode::Banned, format!("you are banned from this server {until}{why}")))
    }

    /// Sets (or lifts) one reason of a server mute on the voice sessions `pick` chooses and
    /// tells each call; returns how many were picked. A session stays muted while another
    /// reason holds.
    pub(crate) fn set_server_muted(
        &self,
        pick: impl Fn(&Membership) -> bool,
        reason: MuteReason,
        muted: bool,
    ) -> usize {
        let changed = self.voice.update_where(pick, |member| member.server_mute.set(reason, muted));
        for seat in &changed {
            seat.announce(self, seat.state_event());
        }
        changed.len()
    }

    /// Lifts the timeout's mute of every user whose timeout ended by `now` (a moderator's
    /// mute, or the channel's, stays); `start`'s sweep calls it every second.
    pub(crate) fn end_timeouts(&self, now: i64) {
        for user_id in self.sanctions.take_ended(now) {
            self.set_server_muted(|member| member.user.id == user_id, MuteReason::Timeout, false);
        }
    }

    /// After channel permissions changed: every call follows its channel's permissions now.
    /// Who may no longer see the channel leaves the call (told `voice_left` like the call);
    /// who may no longer speak is server-muted, and who may again is unmuted (unless another
    /// reason holds); the call's events reach those who may see the channel now.
    pub(crate) async fn recheck_calls(&self) -> Result<(), Failure> {
        for channel_id in self.voice.channels() {
            let Some(channel) = self.store.channel(channel_id).await? else { continue };
            if channel.kind == ChannelKind::Direct {
                continue;
            }
            let rules = self.sanctions.rules(&channel);
            let may = |member: &Membership, action| decide(member.user.role, action, None, &rules).is_ok();
            for seat in self.voice.end_where(|id, member| id == channel_id && !may(member, Action::View)) {
                let event = Event::VoiceLeft { channel_id, user_id: seat.member.user.id, session_id: seat.session_id };
                let frame = encode_frame(&ServerFrame::Event { event: event.clone() });
                self.hub.send_to_connection(seat.member.connection, &frame);
                seat.announce(self, event);
            }
            let changed = self.voice.update_channel(channel_id, |member| {
                member.audience_rules = rules.clone();
                let speak = may(member, Action::Speak);
                member.server_mute.set(MuteReason::Channel, !speak);
            });
            for (seat, mute_changed) in changed {
                if mute_changed {
                    seat.announce(self, seat.state_event());
                }
            }
        }
        Ok(())
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

/// The server as the REST API sees it: the shared state, owned, so that a request can start
/// background work (a link preview) the way a control connection's can.
pub(crate) struct RestView(pub(crate) Arc<Shared>);

impl crate::rest::ServerView for RestView {
    fn server_info(&self) -> ServerInfo {
        self.0.server_info()
    }

    fn uptime(&self) -> Duration {
        self.0.started_at.elapsed()
    }

    fn port_mapping(&self) -> PortMappingState {
        self.0.port_mapping.borrow().clone()
    }

    fn call<'a>(
        &'a self,
        secret: &'a str,
        request: crate::proto::Request,
    ) -> crate::rest::ServerFuture<'a, Result<crate::proto::Reply, crate::rest::ApiError>> {
        Box::pin(async move { super::connection::handle_for_token(&self.0, secret, request).await.map_err(api_error) })
    }

    fn upload<'a>(
        &'a self,
        secret: &'a str,
        spec: crate::proto::UploadSpec,
        body: crate::rest::UploadBody,
    ) -> crate::rest::ServerFuture<'a, Result<crate::proto::FileInfo, crate::rest::ApiError>> {
        Box::pin(
            async move { super::connection::upload_for_token(&self.0, secret, spec, body).await.map_err(api_error) },
        )
    }

    fn download<'a>(
        &'a self,
        secret: &'a str,
        file_id: i64,
        thumbnail: bool,
    ) -> crate::rest::ServerFuture<'a, Result<crate::rest::Download, crate::rest::ApiError>> {
        Box::pin(async move {
            super::connection::download_for_token(&self.0, secret, file_id, thumbnail).await.map_err(api_error)
        })
    }
}

/// A handler's refusal as the REST API tells it.
fn api_error(failure: Failure) -> crate::rest::ApiError {
    crate::rest::ApiError::from_code(failure.code, failure.message)
}

impl Seat {
    /// Tells this call's audience about `event`.
    pub(crate) fn announce(&self, ctx: &Shared, event: Event) {
        let frame = encode_frame(&ServerFrame::Event { event });
        if self.member.audience.is_empty() {
            let rules = &self.member.audience_rules;
            ctx.hub.send_to_matching(&frame, |user| decide(user.role, Action::View, None, rules).is_ok());
        } else {
            ctx.hub.send_to_users(&self.member.audience, &frame);
        }
    }

    /// This member's mute and deafen state, as the call hears it.
    pub(crate) fn state_event(&self) -> Event {
        Event::VoiceState {
            channel_id: self.channel_id,
            session_id: self.session_id,
            self_muted: self.member.self_muted,
            self_deafened: self.member.self_deafened,
            server_muted: self.member.server_mute.any(),
        }
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
    /// The user an access token acts as, for a REST request (such a connection is not in the hub).
    pub acting_as: Option<User>,
}

impl Conn {
    /// The logged-in user, with the role as of now.
    pub fn user(&self, ctx: &Shared) -> Result<User, Failure> {
        if let Some(user) = &self.acting_as {
            return Ok(user.clone());
        }
        ctx.hub.user(self.id).ok_or_else(|| Failure::new(ErrorCode::NotAllowedNow, "not logged in"))
    }
}

/// The caller, if an admin (or the owner); otherwise `forbidden` "only admins can {action}".
pub(crate) fn require_admin(ctx: &Shared, conn: &Conn, action: &str) -> Result<User, Failure> {
    let user = conn.user(ctx)?;
    if !may_administer(&user) {
        return Err(Failure::new(ErrorCode::Forbidden, format!("only admins can {action}")));
    }
    Ok(user)
}

/// Whether `user` may do the server-wide admin things (the owner and admins).
pub(crate) fn may_administer(user: &User) -> bool {
    decide(user.role, Action::Administer, None, &ChannelRules::default()).is_ok()
}

/// Asks [`decide`] whether `actor` may do `action` to someone of role `target`; `forbidden`
/// "you cannot {what}: {why}" if not.
pub(crate) fn permit(actor: &User, action: Action, target: Option<Role>, what: &str) -> Result<(), Failure> {
    decide(actor.role, action, target, &ChannelRules::default())
        .map_err(|denied| Failure::new(ErrorCode::Forbidden, format!("you cannot {what}: {denied}")))
}

/// An audit line of `actor` doing `action` now.
pub(crate) fn audit_line(
    actor: &str,
    action: &str,
    target: Option<String>,
    target_user_id: Option<UserId>,
    reason: Option<String>,
) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        target,
        target_user_id,
        reason,
        at: crate::clock::now_ms(),
    }
}

/// SHA-256 of a secret (session token or invite secret): what is stored instead of it.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}
