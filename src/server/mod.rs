//! The server: start-up (certificate, database, default admin, listeners), the shared state of
//! one running server, and graceful shutdown.
//!
//! [`start`] takes an already loaded [`Config`] and a data directory and returns a
//! [`RunningServer`]; nothing here reads the command line or installs a logger. Each accepted
//! control connection runs in its own task ([`connection`]); requests are handled by domain in
//! [`auth`], [`chat`], [`admin`], [`invites`], [`tokens`], [`data_rights`], [`files`], [`emoji`]
//! and [`vpn`] (the file store itself is [`uploads`]); [`hub`] knows who is online and fans
//! events out.

pub mod admin;
pub mod auth;
pub mod backups;
pub mod chat;
pub mod connection;
pub mod context;
pub mod data_rights;
pub mod devices;
pub mod emoji;
pub mod files;
pub mod handle;
pub mod hub;
pub mod images;
pub mod invites;
pub mod link_previews;
pub mod moderation;
pub mod passwords;
pub mod permissions;
pub mod pressure;
pub mod reactions;
mod reading;
pub mod sanctions;
pub mod search;
pub mod supervision;
pub mod threads;
pub mod throttle;
pub mod tokens;
pub mod uploads;
pub mod voice;
pub mod vpn;
pub mod wards;

pub use context::{Failure, Shared};
pub use handle::{RunningServer, ServerHandle};

use crate::code::ConnectionCode;
use crate::config::{Config, DataDir};
use crate::net::PortMappingState;
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
    /// The link previews' TLS client could not be set up.
    #[error("chat.link_previews: cannot set up TLS for fetching pages: {0}")]
    Previews(rustls::Error),
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
    let uploads = uploads::Uploads::open(&data_dir, &config.server, store.clone()).await.map_err(|err| match err {
        uploads::UploadError::Store(err) => StartError::Store(err),
        uploads::UploadError::Io(source) => io_err(&uploads)(source),
        other => io_err(&uploads)(std::io::Error::other(other)),
    })?;
    let now = crate::clock::now_ms();
    let device_cookies = devices::DeviceCookies::load_or_create(&data_dir.root().join(devices::KEY_FILE))?;
    let passwords = passwords::Passwords::for_this_machine();
    let default_hash = passwords.hash(config.auth.default_password.clone()).await?;
    if store.ensure_default_admin(config.auth.default_user.clone(), default_hash.clone(), now).await? {
        tracing::info!(user = %config.auth.default_user, "created the default admin account");
    }
    let sanctions = sanctions::Sanctions::load(&store, now).await?;
    let wards = wards::Wards::default();
    wards.reload(&store).await?;

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
    let recent_pressure = Arc::new(Mutex::new(pressure::RecentPressure::new(pressure_window())));
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
        sanctions,
        wards,
        backups: std::sync::OnceLock::new(),
        previews: crate::preview::Previews::new(vec![control_addr.ip(), rest_addr.ip()])
            .map_err(StartError::Previews)?,
        uploads,
        background: (tasks.clone(), cancel.clone()),
        config,
    });
    tasks.spawn(sweep_uploads(shared.clone(), cancel.clone()));
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
    tasks.spawn(end_timeouts(shared.clone(), cancel.clone()));
    let router = crate::rest::router(Arc::new(context::RestView(shared.clone())));
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
    Ok(RunningServer {
        handle: ServerHandle { shared },
        control_addr,
        media_addr,
        rest_addr,
        cancel,
        tasks,
        _lock: lock,
    })
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

/// Counts one event of pressure in `log`, now.
pub(crate) fn note(log: &Mutex<pressure::PressureLog>, kind: pressure::Kind) {
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

/// Every second, gives timed-out users whose time is up their voice back.
async fn end_timeouts(ctx: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => ctx.end_timeouts(crate::clock::now_ms()),
        }
    }
}

/// Logs each kind of pressure at most once per window, as one `warn` line with its count.
async fn report_pressure(
    log: Arc<Mutex<pressure::PressureLog>>,
    recent: Arc<Mutex<pressure::RecentPressure>>,
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

/// How long an uploaded file may wait for a message (or custom emoji) to carry it.
const UNATTACHED_FILE_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How often the server looks for such files.
const UNATTACHED_FILE_CHECK_EVERY: Duration = Duration::from_secs(60 * 60);

/// Removes uploads whose resume window has passed, and (hourly) uploaded files that nothing
/// carried within [`UNATTACHED_FILE_LIFETIME`], until `cancel`.
async fn sweep_uploads(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(shared.uploads.sweep_every());
    let mut unattached_checked: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let removed = shared.uploads.sweep(now).await;
        if removed > 0 {
            tracing::info!(removed, "removed uploads not finished within server.upload_resume_seconds");
        }
        if unattached_checked.is_some_and(|checked| now.duration_since(checked) < UNATTACHED_FILE_CHECK_EVERY) {
            continue;
        }
        unattached_checked = Some(now);
        let uploaded_before = crate::clock::now_ms() - UNATTACHED_FILE_LIFETIME.as_millis() as i64;
        if let Err(err) = shared.uploads.collect(shared.store.collect_unattached_files(uploaded_before)).await {
            tracing::warn!(error = %err, "could not remove uploaded files that no message carries");
        }
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
