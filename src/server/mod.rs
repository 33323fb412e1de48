//! The server: start-up (certificate, database, default admin, listeners), the shared state of
//! one running server, and graceful shutdown.
//!
//! [`start`] takes an already loaded [`Config`] and a data directory and returns a
//! [`RunningServer`]; nothing here reads the command line or installs a logger. Each accepted
//! control connection runs in its own task ([`connection`]); requests are handled by domain in
//! [`auth`], [`chat`], [`admin`] and [`vpn`]; [`hub`] knows who is online and fans events out.

pub mod admin;
pub mod auth;
pub mod chat;
pub mod connection;
pub mod devices;
pub mod hub;
pub mod invites;
pub mod passwords;
pub mod pressure;
pub mod throttle;
pub mod voice;
pub mod vpn;

use crate::code::ConnectionCode;
use crate::config::{Config, DataDir};
use crate::net::PortMappingState;
use crate::proto::{AuthMethod, ErrorCode, ServerInfo};
use crate::store::{Store, StoreError};
use crate::tls::{Fingerprint, ServerIdentity, TlsError};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the server could not start. Each message is one line naming the key or port at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Certificate trouble.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Database trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A port could not be bound.
    #[error("{key}: cannot listen on {protocol} {addr}: {source}")]
    Bind {
        /// Config key of the port.
        key: &'static str,
        /// "TCP" or "UDP".
        protocol: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why (e.g. address already in use).
        source: std::io::Error,
    },
    /// Another server runs on this data directory.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// Password hashing could not start.
    #[error(transparent)]
    Hashing(#[from] passwords::HashingUnavailable),
    /// The device cookie key could not be read or made.
    #[error(transparent)]
    DeviceKey(#[from] devices::DeviceKeyError),
    /// A file or folder could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
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
            StoreError::DiskFull => Failure::new(ErrorCode::DiskFull, "the server's disk is full; nothing was saved"),
            other => {
                tracing::error!(error = %other, "storage failed");
                Failure::new(ErrorCode::Internal, "the server could not save or read this; nothing was changed")
            }
        }
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
    pub hub: hub::Hub,
    /// Login throttling.
    pub login_limits: Mutex<throttle::LoginLimits>,
    /// How many accounts `register` may make.
    pub registration_limits: Mutex<throttle::RegistrationLimits>,
    /// Makes and checks device cookies.
    pub device_cookies: devices::DeviceCookies,
    /// Message throttling per user.
    pub message_limits: Mutex<crate::ratelimit::RateLimiter>,
    /// Argon2id hashing on a fixed pool of threads.
    pub passwords: passwords::Passwords,
    /// A hash to verify against when the user does not exist, so timing reveals nothing.
    pub dummy_hash: String,
    /// When the server started.
    pub started_at: Instant,
    /// Source of connection ids.
    pub next_connection_id: AtomicU64,
    /// Every voice session (with the media relay they run through).
    pub voice: voice::VoiceSessions,
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
    pub pressure: Arc<Mutex<pressure::PressureLog>>,
    /// The warnings logged in the last two windows, for the dashboard.
    pub recent_pressure: Arc<Mutex<RecentPressure>>,
}

/// The pressure summaries logged lately, each with when it was logged.
#[derive(Debug, Default)]
pub struct RecentPressure {
    window: Duration,
    logged: Vec<(Instant, pressure::Summary)>,
}

impl RecentPressure {
    fn new(window: Duration) -> Self {
        RecentPressure { window, logged: Vec::new() }
    }

    /// Keeps `due`, logged at `now`, and forgets what is older than two windows.
    fn add(&mut self, due: Vec<pressure::Summary>, now: Instant) {
        let keep = self.window * 2;
        self.logged.retain(|(at, _)| now.saturating_duration_since(*at) < keep);
        self.logged.extend(due.into_iter().map(|summary| (now, summary)));
    }

    /// The lines of the summaries kept, oldest first, as sentences.
    fn lines(&self, now: Instant) -> Vec<String> {
        let keep = self.window * 2;
        self.logged
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) < keep)
            .map(|(_, summary)| {
                let mut text = summary.text.clone();
                if let Some(first) = text.get(..1).map(str::to_uppercase) {
                    text.replace_range(..1, &first);
                }
                format!("{text}.")
            })
            .collect()
    }
}

impl Shared {
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
    pub fn server_info(&self) -> ServerInfo {
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

    /// Counts one event of pressure for the once-a-minute warning.
    pub fn note_pressure(&self, kind: pressure::Kind) {
        note(&self.pressure, kind);
    }

    /// Counts a refused request as pressure when it is one (a full disk).
    pub fn note_failure(&self, failure: &Failure) {
        if failure.code == ErrorCode::DiskFull {
            self.note_pressure(pressure::Kind::DiskFull);
        }
    }

    /// The failure for a login the hub refused; a full set of devices counts as pressure.
    pub fn join_refused(&self, refused: hub::JoinRefused) -> Failure {
        if matches!(refused, hub::JoinRefused::TooManyDevices(_)) {
            self.note_pressure(pressure::Kind::TooManyDevices);
        }
        Failure::new(refused.code(), refused.to_string())
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

/// A server that is running; drop it or call [`RunningServer::shutdown`] to stop.
#[derive(Debug)]
pub struct RunningServer {
    shared: Arc<Shared>,
    control_addr: SocketAddr,
    media_addr: SocketAddr,
    rest_addr: SocketAddr,
    fingerprint: Option<Fingerprint>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    _lock: crate::lock::DataDirLock,
}

impl RunningServer {
    /// Where the control listener is bound.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Where the UDP media socket is bound.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// Where the REST listener is bound.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// The certificate fingerprint, when TLS is on.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// Media datagrams dropped so far, per reason.
    pub fn media_drops(&self) -> crate::media::packet::DropCounts {
        self.shared.voice.drops()
    }

    /// Media packets forwarded so far (one per recipient).
    pub fn media_forwarded(&self) -> u64 {
        self.shared.voice.forwarded()
    }

    /// Users online now.
    pub fn users_online(&self) -> usize {
        self.shared.hub.users_online()
    }

    /// A cheap handle for reading its counters without holding the server.
    pub fn monitor(&self) -> ServerMonitor {
        ServerMonitor { shared: self.shared.clone() }
    }

    /// Sets a user's password without the old one (the tray's first-run setup); ends their
    /// sessions.
    pub async fn reset_password(&self, username: &str, password: String) -> Result<(), Failure> {
        auth::reset_password(&self.shared, username, password).await
    }

    /// The code to give out: see [`Shared::public_code`].
    pub fn public_code(&self) -> ConnectionCode {
        self.shared.public_code()
    }

    /// The connection code for reaching this server at `host`.
    pub fn connection_code(&self, host: &str) -> ConnectionCode {
        self.shared.connection_code(host)
    }

    /// Makes an invite (for the tray's "Invite someone…"), with a connection code for `host`
    /// (default: [`Shared::public_code`]).
    pub async fn create_invite(
        &self,
        options: invites::InviteOptions,
        host: Option<&str>,
    ) -> Result<crate::proto::CreatedInvite, invites::InviteError> {
        let code = host.map_or_else(|| self.shared.public_code(), |host| self.shared.connection_code(host));
        invites::create(&self.shared.store, None, options, code).await
    }

    /// Every invite, newest first.
    pub async fn list_invites(&self) -> Result<Vec<crate::proto::InviteInfo>, StoreError> {
        self.shared.store.list_invites(crate::clock::now_ms()).await
    }

    /// Makes an invite unusable.
    pub async fn revoke_invite(&self, invite_id: i64) -> Result<crate::proto::InviteInfo, StoreError> {
        self.shared.store.revoke_invite(invite_id, crate::clock::now_ms()).await
    }

    /// Every account, by name (e.g. whom the dashboard can make a VPN config for).
    pub async fn list_users(&self) -> Result<Vec<crate::proto::User>, StoreError> {
        let users = self.shared.store.list_users().await?;
        Ok(users.into_iter().map(|presence| presence.user).collect())
    }

    /// The VPN's state and every peer with its traffic (the dashboard's VPN view).
    pub async fn vpn_status(&self) -> Result<crate::proto::VpnStatus, Failure> {
        Ok(self.shared.vpn.status(&self.shared.store, None).await?)
    }

    /// Makes a key pair and WireGuard app config for `username`'s device `name`, with the
    /// Endpoint at `host` (default: the public connection code's host).
    pub async fn vpn_create_peer(
        &self,
        username: &str,
        name: &str,
        host: Option<&str>,
    ) -> Result<crate::proto::VpnCreatedPeer, Failure> {
        vpn::create_peer_for(&self.shared, username, name, host).await
    }

    /// Removes a VPN peer and ends its tunnel at once.
    pub async fn vpn_revoke(&self, peer_id: i64) -> Result<crate::proto::VpnPeerInfo, Failure> {
        Ok(self.shared.vpn.revoke(&self.shared.store, peer_id, None).await?)
    }

    /// Sets a peer's (or with no peer the server-wide) VPN cap in kbit/s; `None` = default.
    pub async fn vpn_set_limit(&self, peer_id: Option<i64>, kbps: Option<u32>) -> Result<(), Failure> {
        self.shared.vpn.set_limit(&self.shared.store, peer_id, kbps).await?;
        Ok(())
    }

    /// What router port mapping is doing; `changed()` wakes on every new state.
    pub fn port_mapping(&self) -> watch::Receiver<PortMappingState> {
        self.shared.port_mapping.clone()
    }

    /// The connection code for reaching this server from the internet: its router's external
    /// address and mapped control port. `None` unless the ports are open and reachable.
    pub fn internet_connection_code(&self) -> Option<ConnectionCode> {
        let address = self.shared.port_mapping.borrow().internet_address()?;
        Some(connection_code(&self.shared.config, &address.ip().to_string(), address.port(), self.fingerprint))
    }

    /// A token that stops the server when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Tells every client, stops every task (port mapping removes its mappings from the
    /// router), and waits at most `shutdown_grace_seconds`. Returns whether everything stopped
    /// in time.
    pub async fn shutdown(self) -> bool {
        self.cancel.cancel();
        self.tasks.close();
        let grace = Duration::from_secs(self.shared.config.server.shutdown_grace_seconds);
        let finished = tokio::time::timeout(grace, self.tasks.wait()).await.is_ok();
        if !finished {
            tracing::warn!("some connections did not close within shutdown_grace_seconds");
        }
        finished
    }
}

/// Dropping stops the server without waiting; port mapping still removes its mappings if the
/// runtime keeps running.
impl Drop for RunningServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Reads a running server's counters (for the tray's status); it keeps no server running.
#[derive(Debug, Clone)]
pub struct ServerMonitor {
    shared: Arc<Shared>,
}

impl ServerMonitor {
    /// Users online now.
    pub fn users_online(&self) -> usize {
        self.shared.hub.users_online()
    }

    /// How long the server has been running.
    pub fn uptime(&self) -> Duration {
        self.shared.started_at.elapsed()
    }

    /// The code to give out now: see [`Shared::public_code`].
    pub fn public_code(&self) -> ConnectionCode {
        self.shared.public_code()
    }

    /// What the VPN is doing now, in one plain line.
    pub fn vpn_state(&self) -> crate::vpn::VpnState {
        self.shared.vpn.state().clone()
    }

    /// What router port mapping is doing now.
    pub fn port_mapping(&self) -> PortMappingState {
        self.shared.port_mapping.borrow().clone()
    }

    /// Whether the last write to the database failed because the disk is full (until a
    /// write succeeds again).
    pub fn disk_full(&self) -> bool {
        self.shared.store.disk_full()
    }

    /// What the server is holding off right now, in plain words for the dashboard: the
    /// accounts someone is guessing passwords for, then the pressure warnings of the last two
    /// minutes (as logged once a minute).
    pub fn pressure(&self) -> Vec<String> {
        let now = Instant::now();
        let limits = self.shared.login_limits.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines: Vec<String> = limits
            .accounts_under_attack(now)
            .into_iter()
            .map(|name| {
                format!("Someone is trying many passwords for {name}'s account; {name}'s own devices are not affected.")
            })
            .collect();
        drop(limits);
        lines.extend(self.shared.recent_pressure.lock().unwrap_or_else(|p| p.into_inner()).lines(now));
        lines
    }
}

/// The connection code for a server with this config, reached at `host:port`.
pub fn connection_code(config: &Config, host: &str, port: u16, fingerprint: Option<Fingerprint>) -> ConnectionCode {
    ConnectionCode {
        name: config.server.name.clone(),
        host: host.to_string(),
        port,
        tls: config.tls.enabled,
        fingerprint,
    }
}

/// Makes sure the certificate exists, generating a self-signed one on first run.
///
/// Generates only when both files are missing and both paths are inside the data directory;
/// a configured certificate elsewhere that is missing is an error, never overwritten.
pub fn prepare_identity(config: &Config, data_dir: &DataDir) -> Result<Option<ServerIdentity>, TlsError> {
    if !config.tls.enabled {
        return Ok(None);
    }
    let cert = data_dir.resolve(&config.tls.cert_path);
    let key = data_dir.resolve(&config.tls.key_path);
    let ours = |configured: &str| std::path::Path::new(configured).is_relative();
    if !cert.exists() && !key.exists() && ours(&config.tls.cert_path) && ours(&config.tls.key_path) {
        tracing::info!(cert = %cert.display(), "generating a self-signed TLS certificate");
        crate::tls::generate_self_signed(&cert, &key)?;
    }
    ServerIdentity::load(&cert, &key).map(Some)
}

/// Starts a server from a loaded configuration, with its files in `data_dir`.
pub async fn start(config: Config, data_dir: DataDir) -> Result<RunningServer, StartError> {
    let io_err = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| StartError::Io { path, source }
    };
    let uploads = data_dir.uploads();
    std::fs::create_dir_all(&uploads).map_err(io_err(&uploads))?;
    let lock = crate::lock::DataDirLock::acquire(&data_dir)?;
    let identity = prepare_identity(&config, &data_dir)?;
    let fingerprint = identity.as_ref().map(ServerIdentity::fingerprint);
    let acceptor = match &identity {
        Some(identity) => Some(TlsAcceptor::from(identity.server_config()?)),
        None => None,
    };

    let store = Store::open(&data_dir.resolve(&config.database.path))?;
    let now = crate::clock::now_ms();
    let device_cookies = devices::DeviceCookies::load_or_create(&data_dir.root().join(devices::KEY_FILE))?;
    let passwords = passwords::Passwords::for_this_machine();
    let default_hash = passwords.hash(config.auth.default_password.clone()).await?;
    if store.ensure_default_admin(config.auth.default_user.clone(), default_hash.clone(), now).await? {
        tracing::info!(user = %config.auth.default_user, "created the default admin account");
    }

    let bind_ip: IpAddr = config.server.bind_address.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let control = bind_tcp("server.tcp_port", SocketAddr::new(bind_ip, config.server.tcp_port))?;
    let media = bind_udp("server.udp_port", SocketAddr::new(bind_ip, config.server.udp_port)).await?;
    let rest = bind_tcp("server.rest_port", SocketAddr::new(bind_ip, config.server.rest_port))?;
    let local = |result: std::io::Result<SocketAddr>, key, protocol, addr| {
        result.map_err(|source| StartError::Bind { key, protocol, addr, source })
    };
    let wanted = SocketAddr::new(bind_ip, 0);
    let control_addr = local(control.local_addr(), "server.tcp_port", "TCP", wanted)?;
    let media_addr = local(media.local_addr(), "server.udp_port", "UDP", wanted)?;
    let rest_addr = local(rest.local_addr(), "server.rest_port", "TCP", wanted)?;

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let port_mapping = if config.network.upnp {
        let settings = crate::net::Settings {
            bind_ip,
            ports: crate::net::server_ports(control_addr.port(), media_addr.port(), rest_addr.port()),
            lease_seconds: config.network.lease_seconds,
        };
        crate::net::spawn(settings, &tasks, cancel.clone())
    } else {
        watch::channel(PortMappingState::Off).1
    };

    let (vpn, vpn_inlet) = crate::vpn::Vpn::start(&config.vpn, &store, &media, &tasks, cancel.clone()).await;
    let pressure = Arc::new(Mutex::new(pressure::PressureLog::new(pressure_window())));
    let control_gate =
        gate(&config, config.server.max_unfinished_connections as usize, pressure::Port::Control, &pressure);
    let rest_gate = gate(&config, crate::rest::MAX_CONNECTIONS, pressure::Port::Rest, &pressure);
    let recent_pressure = Arc::new(Mutex::new(RecentPressure::new(pressure_window())));
    tasks.spawn(report_pressure(pressure.clone(), recent_pressure.clone(), cancel.clone()));
    let (voice, relay) = voice::VoiceSessions::new();
    let shared = Arc::new(Shared {
        store,
        hub: hub::Hub::new(config.server.max_devices_per_account as usize),
        login_limits: Mutex::new(throttle::LoginLimits::new()),
        registration_limits: Mutex::new(throttle::RegistrationLimits::new(
            config.auth.registrations_per_address,
            config.auth.registrations_per_server,
            Duration::from_secs(config.auth.registration_window_seconds),
        )),
        device_cookies,
        message_limits: Mutex::new(chat::message_limiter()),
        dummy_hash: default_hash,
        passwords,
        next_connection_id: AtomicU64::new(1),
        voice,
        media_port: media_addr.port(),
        control_port: control_addr.port(),
        fingerprint,
        port_mapping,
        vpn,
        started_at: Instant::now(),
        pressure,
        recent_pressure,
        config,
    });
    let control_ctx = shared.clone();
    let control_cancel = cancel.clone();
    tasks.spawn(crate::transport::listen(
        control,
        acceptor.clone(),
        control_gate,
        cancel.clone(),
        tasks.clone(),
        move |stream, peer, slot| connection::serve(control_ctx.clone(), stream, peer, slot, control_cancel.clone()),
    ));
    let (talking_tx, mut talking_rx) = tokio::sync::mpsc::channel(1024);
    tasks.spawn(crate::media::run(media, relay, talking_tx, vpn_inlet, cancel.clone()));
    let talking_ctx = shared.clone();
    tasks.spawn(async move {
        while let Some(change) = talking_rx.recv().await {
            voice::announce_talking(&talking_ctx, change);
        }
    });
    let router = crate::rest::router(shared.clone());
    let rest_cancel = cancel.clone();
    tasks.spawn(crate::transport::listen(
        rest,
        acceptor,
        rest_gate,
        cancel.clone(),
        tasks.clone(),
        move |stream, _peer, slot| crate::rest::serve_connection(router.clone(), stream, slot, rest_cancel.clone()),
    ));
    tracing::info!(%control_addr, %media_addr, %rest_addr, tls = fingerprint.is_some(), "server started");
    Ok(RunningServer { shared, control_addr, media_addr, rest_addr, fingerprint, cancel, tasks, _lock: lock })
}

fn bind_tcp(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    crate::transport::bind(addr).map_err(|source| StartError::Bind { key, protocol: "TCP", addr, source })
}

/// A port's admission gate with the config's per-address limits and `budget` unfinished
/// connections, noting each refusal in the pressure log.
fn gate(
    config: &Config,
    budget: usize,
    port: pressure::Port,
    log: &Arc<Mutex<pressure::PressureLog>>,
) -> Arc<crate::transport::Gate> {
    let per_minute = config.server.new_connections_per_minute;
    let limits = crate::transport::Limits {
        unfinished: budget,
        unfinished_per_address: config.server.max_unfinished_per_address as usize,
        new_per_address: per_minute,
        new_per_address_every: Duration::from_secs(60) / per_minute.max(1),
    };
    let log = log.clone();
    crate::transport::Gate::new(limits, Box::new(move |refusal| note(&log, pressure::Kind::Connections(port, refusal))))
}

fn note(log: &Mutex<pressure::PressureLog>, kind: pressure::Kind) {
    log.lock().unwrap_or_else(|p| p.into_inner()).note(kind, Instant::now());
}

/// The pressure log's window: [`pressure::WINDOW`]; debug builds take
/// `ITC_TEST_PRESSURE_WINDOW_MS` instead when it is set (the tests' short minute).
fn pressure_window() -> Duration {
    let test_window = cfg!(debug_assertions)
        .then(|| std::env::var("ITC_TEST_PRESSURE_WINDOW_MS").ok()?.parse().ok())
        .flatten()
        .map(Duration::from_millis);
    test_window.unwrap_or(pressure::WINDOW)
}

/// Logs each kind of pressure at most once per window, as one `warn` line with its count.
async fn report_pressure(
    log: Arc<Mutex<pressure::PressureLog>>,
    recent: Arc<Mutex<RecentPressure>>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let due = log.lock().unwrap_or_else(|p| p.into_inner()).take_due(now);
        for summary in &due {
            tracing::warn!("{}", summary.text);
        }
        recent.lock().unwrap_or_else(|p| p.into_inner()).add(due, now);
    }
}

async fn bind_udp(key: &'static str, addr: SocketAddr) -> Result<UdpSocket, StartError> {
    UdpSocket::bind(addr).await.map_err(|source| StartError::Bind { key, protocol: "UDP", addr, source })
}

/// The address to put in connection codes when none is given: the bind address if it is a
/// specific one, else this machine's first private LAN IPv4 address, else loopback.
pub fn default_public_host(config: &Config) -> String {
    if let Ok(ip) = config.server.bind_address.parse::<IpAddr>() {
        if !ip.is_unspecified() {
            return ip.to_string();
        }
    }
    let lan = if_addrs::get_if_addrs().ok().and_then(|interfaces| {
        interfaces.into_iter().find_map(|interface| match interface.ip() {
            IpAddr::V4(ip) if ip.is_private() => Some(ip.to_string()),
            _ => None,
        })
    });
    lan.unwrap_or_else(|| "127.0.0.1".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_shows_the_pressure_of_the_last_two_windows_as_sentences() {
        let start = Instant::now();
        let window = Duration::from_secs(60);
        let mut recent = RecentPressure::new(window);
        let mut log = pressure::PressureLog::new(window);
        for _ in 0..3 {
            log.note(pressure::Kind::RegistrationFlood, start);
        }
        recent.add(log.take_due(start + window), start + window);
        let line = "Refused 3 registrations in the last minute: too many new accounts.".to_string();
        assert_eq!(recent.lines(start + window), vec![line.clone()]);
        assert_eq!(recent.lines(start + window * 2), vec![line]);
        assert!(recent.lines(start + window * 3).is_empty(), "forgotten after two windows");
        recent.add(Vec::new(), start + window * 3);
        assert!(recent.logged.is_empty());
    }
}
