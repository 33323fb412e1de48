//! The appliance: the engine as the tray app drives it, one call per tray action, so that
//! every action has an engine-level test and the tray stays a thin shell.
//!
//! An [`Appliance`] owns one data directory (the tray uses the OS's per-user data directory):
//! first-run [`Appliance::setup`] (server name, the admin's own password — the default
//! `chatter`/`chatter` is never shown — and whether to open router ports), start, stop,
//! restart, a [`Status`] snapshot for the tray icon and the dashboard, invites with their QR
//! pictures, the VPN view (on/off, which restarts the server; devices with their traffic, caps,
//! cutting access), back up now / list / restore (a restore stops the server, restores, and
//! starts it again), updates ([`DesktopUpdates`]: "update available" and install on request),
//! and the recent log lines (the app's tracing output goes to [`Appliance::log_writer`]).
//!
//! Backups run beside the server, not inside it: the appliance owns a [`Backups`] service next
//! to the [`RunningServer`], so "Back up now" works while the server is stopped, the nightly
//! backup runs while the server runs, Stop lets a backup under way finish in the background,
//! and [`Appliance::quit`] cancels it cleanly.

use crate::backup::schedule::{BackupOutcome, Backups};
use crate::backup::{self, BackupError, Passphrase, RestoreOptions};
use crate::code::{render_qr_svg, QrError};
use crate::config::{self, ConfigError, DataDir};
use crate::net::PortMappingState;
use crate::proto::{InviteInfo, Role, User};
use crate::server::invites::{InviteError, InviteOptions};
use crate::server::{self, Failure, RunningServer, ServerHandle, StartError};
use crate::store::StoreError;
use crate::update::desktop::{DesktopUpdates, UpdateStatus};
use crate::update::UpdateError;
use crate::vpn::VpnState;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Log lines kept for the dashboard.
const LOG_LINES: usize = 200;
/// What the dashboard says while the disk is full.
pub const DISK_FULL: &str = "The disk is full: the server cannot save new messages or changes. Free some space on \
                             this computer's disk.";
/// Longest server name, in characters (it travels in connection codes).
pub const MAX_SERVER_NAME_CHARS: usize = 64;

/// What went wrong, in words for the parent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplianceError {
    /// Setup has not been done yet.
    #[error("the server is not set up yet")]
    NotSetUp,
    /// Setup was already done.
    #[error("the server is already set up")]
    AlreadySetUp,
    /// The server is not running.
    #[error("the server is not running; start it first")]
    NotRunning,
    /// A choice in the setup form is not allowed.
    #[error("{0}")]
    BadChoice(String),
    /// The configuration is broken.
    #[error("the settings file is damaged: {0}")]
    Config(#[from] ConfigError),
    /// The server could not start.
    #[error("the server could not start: {0}")]
    Start(#[from] StartError),
    /// The server refused (e.g. a password that is too short).
    #[error("{0}")]
    Refused(#[from] Failure),
    /// An invite could not be made.
    #[error("{0}")]
    Invite(#[from] InviteError),
    /// The database failed.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    /// The QR picture could not be made.
    #[error("{0}")]
    Qr(#[from] QrError),
    /// A backup or restore failed.
    #[error("{0}")]
    Backup(#[from] BackupError),
    /// An update could not be downloaded, verified or installed.
    #[error("{0}")]
    Update(#[from] UpdateError),
}

impl Serialize for ApplianceError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// The first-run setup form.
#[derive(Debug, Clone, Deserialize)]
pub struct SetupChoices {
    /// What family members will see.
    pub server_name: String,
    /// The admin's own password (replaces the default one).
    pub admin_password: String,
    /// Open the router's ports with UPnP / NAT-PMP.
    pub open_router_ports: bool,
}

/// What the tray icon and the dashboard show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplianceState {
    /// First-run setup has not been done.
    SetupNeeded,
    /// Set up, not running.
    Stopped,
    /// Running, nothing to worry about.
    Running,
    /// Something needs the parent: see [`Status::attention`].
    NeedsAttention,
}

/// A snapshot of the appliance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Overall state.
    pub state: ApplianceState,
    /// The server's name.
    pub server_name: String,
    /// Software version.
    pub version: String,
    /// Seconds since the server started (0 when stopped).
    pub uptime_seconds: u64,
    /// Family members online now.
    pub users_online: usize,
    /// The connection code to give out, while running.
    pub connection_code: Option<String>,
    /// Problems, in plain words.
    pub attention: Vec<String>,
    /// What the server is holding off (someone guessing passwords, floods of connections or
    /// registrations), in plain words; nothing for the parent to do.
    pub pressure: Vec<String>,
    /// Whether the server can be reached from outside the home, in plain words (problems with
    /// the router are also in `attention`).
    pub reachability: String,
    /// Whether the settings turn the VPN on (`[vpn] enabled`), whether or not it can run.
    pub vpn_enabled: bool,
    /// What the VPN is doing, in one plain line.
    pub vpn: String,
    /// The newest backup archive in the backup folder.
    pub last_backup: Option<BackupEntry>,
    /// How the last backup asked for since the app started ended (written, cancelled or
    /// failed), whether or not the server was running.
    pub last_backup_outcome: Option<BackupAttempt>,
    /// When the next nightly backup is due (local time, RFC 3339), while running.
    pub next_backup: Option<String>,
    /// A backup or restore under way.
    pub backup_progress: Option<BackupProgress>,
    /// A newer version, and an update under way.
    pub update: UpdateStatus,
    /// The most recent log lines, oldest first.
    pub log_lines: Vec<String>,
}

/// A WireGuard app config made for a member, to show once (text and QR picture).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpnCard {
    /// The peer.
    pub peer: crate::proto::VpnPeerInfo,
    /// The config text, with the private key.
    pub config_text: String,
    /// Its QR code as an SVG picture, for the official apps to scan.
    pub qr_svg: String,
}

/// A backup or restore under way, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupProgress {
    /// What is being done, in plain words ("Backing up: writing the archive").
    pub activity: String,
    /// How far this step has got, 0 to 100.
    pub percent: u64,
}

impl BackupProgress {
    fn new(doing: &str, progress: backup::Progress) -> Self {
        BackupProgress { activity: format!("{doing}: {}", progress.step), percent: progress.percent() }
    }
}

/// How a backup ended, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupAttempt {
    /// When it ended (RFC 3339, UTC).
    pub finished_at: String,
    /// Written, cancelled or failed.
    pub result: BackupResult,
    /// What happened, in plain words.
    pub message: String,
}

/// How a backup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupResult {
    /// Written and verified.
    Written,
    /// Cancelled (the app quit), leaving no partial archive.
    Cancelled,
    /// Failed.
    Failed,
}

impl From<backup::schedule::BackupStatus> for BackupAttempt {
    fn from(status: backup::schedule::BackupStatus) -> Self {
        let (result, message) = match status.outcome {
            BackupOutcome::Written(report) => {
                (BackupResult::Written, format!("Backed up and verified: {}", report.path.display()))
            }
            BackupOutcome::Cancelled => {
                (BackupResult::Cancelled, "The backup was cancelled; it left no partial archive.".to_string())
            }
            BackupOutcome::Failed(error) => (BackupResult::Failed, format!("The last backup failed: {error}")),
        };
        BackupAttempt { finished_at: status.finished.to_string(), result, message }
    }
}

/// A backup archive as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    /// Full path, for restore.
    pub path: PathBuf,
    /// When it was taken (RFC 3339, UTC).
    pub taken_at: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Encrypted with a passphrase.
    pub encrypted: bool,
}

impl From<backup::BackupReport> for BackupEntry {
    fn from(report: backup::BackupReport) -> Self {
        BackupEntry {
            path: report.path,
            taken_at: report.created.to_string(),
            size_bytes: report.size,
            encrypted: report.encrypted,
        }
    }
}

impl From<backup::ArchiveInfo> for BackupEntry {
    fn from(info: backup::ArchiveInfo) -> Self {
        BackupEntry {
            path: info.path,
            taken_at: info.created.to_string(),
            size_bytes: info.size,
            encrypted: info.encrypted,
        }
    }
}

/// What "Invite someone…" asks for; absent values take the defaults (single use, no expiry,
/// member).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InviteRequest {
    /// Accounts it can create.
    pub uses: Option<u32>,
    /// Seconds until it expires.
    pub expires_in_seconds: Option<u64>,
    /// Role of the accounts it creates.
    pub role: Option<Role>,
    /// Who it is for.
    pub note: Option<String>,
}

/// A new invite as the dashboard shows it: text to copy and a QR picture.
#[derive(Debug, Clone, Serialize)]
pub struct InviteCard {
    /// The invite.
    pub invite: InviteInfo,
    /// `ITC-<code>.<secret>`.
    pub text: String,
    /// Its QR code as an SVG document.
    pub qr_svg: String,
}

/// The tray's engine: one data directory, at most one running server.
#[derive(Debug)]
pub struct Appliance {
    data_dir: DataDir,
    /// The configuration that setup starts from.
    template: String,
    running: tokio::sync::Mutex<Option<RunningServer>>,
    /// Back up now, the nightly backups while the server runs, and their status.
    backups: Arc<Backups>,
    snapshot: Mutex<Snapshot>,
    logs: LogBuffer,
    /// How far a restore under way has got (backups report through `backups`).
    restore_progress: backup::ProgressCell,
    updates: DesktopUpdates,
}

/// What [`Appliance::status`] reads without waiting for a start or stop in progress.
#[derive(Debug, Default)]
struct Snapshot {
    server_name: String,
    /// `server.log_level` (info until setup writes a configuration).
    log_level: Option<tracing::Level>,
    /// Where the backups go.
    backup_folder: Option<PathBuf>,
    /// `vpn.enabled`.
    vpn_enabled: bool,
    live: Option<Live>,
    last_error: Option<String>,
}

#[derive(Debug, Clone)]
struct Live {
    monitor: ServerHandle,
}

impl Appliance {
    /// The appliance for `data_dir` (created if missing). Nothing starts yet.
    pub fn open(data_dir: impl Into<PathBuf>) -> Result<Appliance, ApplianceError> {
        Self::open_with_template(data_dir, config::TEMPLATE)
    }

    /// Like [`Appliance::open`], with setup starting from `template` instead of the built-in
    /// default configuration (tests use loopback and free ports this way).
    pub fn open_with_template(data_dir: impl Into<PathBuf>, template: &str) -> Result<Appliance, ApplianceError> {
        let data_dir = DataDir::new(data_dir);
        let io_err = |source| ConfigError::Io { path: data_dir.root().display().to_string(), source };
        std::fs::create_dir_all(data_dir.root()).map_err(io_err)?;
        let appliance = Appliance {
            updates: DesktopUpdates::new(data_dir.root()),
            // Reconfigured from server.toml whenever it is loaded (below, if set up); before
            // setup `back_up_now` refuses.
            backups: Arc::new(Backups::new(config::Config::default(), data_dir.clone())),
            data_dir,
            template: template.to_string(),
            running: tokio::sync::Mutex::new(None),
            snapshot: Mutex::new(Snapshot::default()),
            logs: LogBuffer::default(),
            restore_progress: backup::ProgressCell::default(),
        };
        if !appliance.needs_setup() {
            let loaded = config::load_or_create(&appliance.data_dir.config_file())?;
            appliance.remember(&loaded.config);
        }
        Ok(appliance)
    }

    fn remember(&self, config: &config::Config) {
        let mut snapshot = self.snapshot();
        snapshot.server_name = config.server.name.clone();
        snapshot.log_level = config.server.log_level.parse().ok();
        snapshot.backup_folder = Some(self.data_dir.resolve(&config.backup.directory));
        snapshot.vpn_enabled = config.vpn.enabled;
        self.backups.reconfigure(config.clone());
    }

    fn snapshot(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much the app should log: `server.log_level` from the configuration (validated when
    /// it was loaded), info before first-run setup.
    pub fn log_level(&self) -> tracing::Level {
        self.snapshot().log_level.unwrap_or(tracing::Level::INFO)
    }

    /// Whether first-run setup is still to be done (there is no `server.toml` yet).
    pub fn needs_setup(&self) -> bool {
        !self.data_dir.config_file().exists()
    }

    /// First-run setup: writes the configuration, starts the server (which makes the
    /// certificate and the admin account) and gives the admin the chosen password.
    pub async fn setup(&self, choices: SetupChoices) -> Result<Status, ApplianceError> {
        if !self.needs_setup() {
            return Err(ApplianceError::AlreadySetUp);
        }
        let name = choices.server_name.trim();
        if name.is_empty() || name.chars().count() > MAX_SERVER_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ApplianceError::BadChoice(format!(
                "the server name is 1 to {MAX_SERVER_NAME_CHARS} printable characters"
            )));
        }
        crate::server::auth::check_new_password(&choices.admin_password)?;
        let loaded =
            config::write_setup(&self.data_dir.config_file(), &self.template, name, choices.open_router_ports)?;
        let admin = loaded.config.auth.default_user.clone();
        self.start().await?;
        let guard = self.running.lock().await;
        let running = guard.as_ref().ok_or(ApplianceError::NotRunning)?;
        running.reset_password(&admin, choices.admin_password).await?;
        drop(guard);
        tracing::info!("first-run setup done");
        Ok(self.status())
    }

    /// Starts the server (does nothing if it runs).
    pub async fn start(&self) -> Result<Status, ApplianceError> {
        if self.needs_setup() {
            return Err(ApplianceError::NotSetUp);
        }
        let mut running = self.running.lock().await;
        if running.is_none() {
            match self.start_server().await {
                Ok(server) => *running = Some(server),
                Err(err) => {
                    self.snapshot().last_error = Some(err.to_string());
                    return Err(err);
                }
            }
        }
        drop(running);
        Ok(self.status())
    }

    async fn start_server(&self) -> Result<RunningServer, ApplianceError> {
        let loaded = config::load_or_create(&self.data_dir.config_file())?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        self.remember(&loaded.config);
        self.updates.start_checking(&loaded.config.update);
        let server = server::start(loaded.config, self.data_dir.clone()).await?;
        tokio::spawn(self.backups.clone().run_nightly(server.cancel_token()));
        let mut snapshot = self.snapshot();
        snapshot.last_error = None;
        snapshot.live = Some(Live { monitor: server.handle() });
        tracing::info!("server started");
        Ok(server)
    }

    /// Stops the server (does nothing if it is stopped). A backup under way goes on in the
    /// background: it needs no server ([`Status::backup_progress`], then
    /// [`Status::last_backup_outcome`], tell how it goes).
    pub async fn stop(&self) -> Result<Status, ApplianceError> {
        let mut running = self.running.lock().await;
        if let Some(server) = running.take() {
            self.snapshot().live = None;
            if !server.shutdown().await {
                tracing::warn!("some connections did not close within the grace period");
            }
            tracing::info!("server stopped");
        }
        drop(running);
        Ok(self.status())
    }

    /// Quit: stops the server, and cancels a backup under way, waiting until it has removed
    /// its partial archive (one left to finish in the background would be cut off when the app
    /// ends). Afterwards the appliance takes no more backups.
    pub async fn quit(&self) -> Result<Status, ApplianceError> {
        self.stop().await?;
        self.backups.close().await;
        Ok(self.status())
    }

    /// Stops, then starts again (e.g. after the settings changed).
    pub async fn restart(&self) -> Result<Status, ApplianceError> {
        self.stop().await?;
        self.start().await
    }

    /// The state right now; never waits.
    pub fn status(&self) -> Status {
        let snapshot = self.snapshot();
        let mut attention = Vec::new();
        if let Some(error) = &snapshot.last_error {
            attention.push(error.clone());
        }
        let last_backup_outcome = self.backups.last().map(BackupAttempt::from);
        if let Some(failed) = last_backup_outcome.as_ref().filter(|attempt| attempt.result == BackupResult::Failed) {
            attention.push(failed.message.clone());
        }
        let port_mapping = snapshot.live.as_ref().map(|live| live.monitor.port_mapping());
        if let Some(PortMappingState::Problem(problem)) = &port_mapping {
            attention.push(problem.message.clone());
        }
        let vpn_state = snapshot.live.as_ref().map(|live| live.monitor.vpn_state());
        if let Some(state @ (VpnState::Unavailable(_) | VpnState::Running { forwarding: false })) = &vpn_state {
            attention.push(state.summary());
        }
        if snapshot.live.as_ref().is_some_and(|live| live.monitor.disk_full()) {
            attention.push(DISK_FULL.to_string());
        }
        let vpn = vpn_state.map_or_else(|| "the server is stopped".to_string(), |state| state.summary());
        let reachability = reachability(port_mapping.as_ref());
        let state = match (&snapshot.live, self.needs_setup()) {
            (_, true) => ApplianceState::SetupNeeded,
            (None, false) if attention.is_empty() => ApplianceState::Stopped,
            (Some(_), false) if attention.is_empty() => ApplianceState::Running,
            _ => ApplianceState::NeedsAttention,
        };
        Status {
            state,
            server_name: snapshot.server_name.clone(),
            version: crate::version::current().to_string(),
            uptime_seconds: snapshot.live.as_ref().map_or(0, |live| live.monitor.uptime().as_secs()),
            users_online: snapshot.live.as_ref().map_or(0, |live| live.monitor.users_online()),
            connection_code: snapshot.live.as_ref().and_then(|live| live.monitor.public_code().encode().ok()),
            attention,
            pressure: snapshot.live.as_ref().map_or_else(Vec::new, |live| live.monitor.pressure()),
            reachability,
            vpn_enabled: snapshot.vpn_enabled,
            vpn,
            last_backup: snapshot
                .backup_folder
                .as_deref()
                .and_then(|folder| backup::list(folder).ok()?.pop())
                .map(Into::into),
            last_backup_outcome,
            next_backup: snapshot.live.as_ref().and_then(|_| self.backups.next()).map(|at| at.timestamp().to_string()),
            backup_progress: self
                .restore_progress
                .get()
                .map(|p| BackupProgress::new("Restoring", p))
                .or_else(|| Some(BackupProgress::new("Backing up", self.backups.in_progress()?))),
            update: self.updates.status(),
            log_lines: self.logs.lines(),
        }
    }

    /// Downloads the available update and checks its signature, without installing it.
    pub async fn download_update(&self) -> Result<crate::update::desktop::Downloaded, ApplianceError> {
        Ok(self.updates.download().await?)
    }

    /// Downloads the available update, checks its signature and hands it to the system's
    /// installer; returns the version installed (the app then restarts into it).
    pub async fn install_update(&self) -> Result<String, ApplianceError> {
        Ok(self.updates.install().await?)
    }

    /// The connection code to give out, while running ("Copy connection code"): for the
    /// internet when the router's ports are open, else for the home network.
    pub fn connection_code(&self) -> Option<String> {
        self.snapshot().live.as_ref().and_then(|live| live.monitor.public_code().encode().ok())
    }

    /// Makes an invite ("Invite someone…") with its QR picture.
    pub async fn create_invite(&self, request: InviteRequest) -> Result<InviteCard, ApplianceError> {
        let options = InviteOptions::checked(request.uses, request.expires_in_seconds, request.role, request.note)?;
        let running = self.running.lock().await;
        let server = running.as_ref().ok_or(ApplianceError::NotRunning)?;
        let created = server.create_invite(options, None).await?;
        let qr_svg = render_qr_svg(&created.text)?;
        Ok(InviteCard { invite: created.invite, text: created.text, qr_svg })
    }

    /// Every invite, newest first.
    pub async fn list_invites(&self) -> Result<Vec<InviteInfo>, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.list_invites().await?)
    }

    /// Withdraws an invite.
    pub async fn revoke_invite(&self, invite_id: i64) -> Result<InviteInfo, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.revoke_invite(invite_id).await?)
    }

    /// Every account, by name (whom "Add a device" can make a VPN config for).
    pub async fn list_members(&self) -> Result<Vec<User>, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.list_users().await?)
    }

    /// Turns the VPN on or off (the dashboard's VPN box): writes `[vpn] enabled` into
    /// `server.toml`, keeping the rest of the file as it is, and restarts the server if it runs
    /// so that the change takes effect. The new state is in [`Status::vpn`].
    pub async fn set_vpn_enabled(&self, enabled: bool) -> Result<Status, ApplianceError> {
        if self.needs_setup() {
            return Err(ApplianceError::NotSetUp);
        }
        let loaded = config::write_vpn_enabled(&self.data_dir.config_file(), enabled)?;
        self.remember(&loaded.config);
        tracing::info!(enabled, "VPN setting changed");
        let running = self.running.lock().await.is_some();
        if running {
            return self.restart().await;
        }
        Ok(self.status())
    }

    /// The VPN view: its state and every peer with its traffic.
    pub async fn vpn_status(&self) -> Result<crate::proto::VpnStatus, ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_status().await?)
    }

    /// A WireGuard app config (text and QR picture) for `username`'s device `name`, shown once.
    pub async fn vpn_create_peer(&self, username: &str, name: &str) -> Result<VpnCard, ApplianceError> {
        let running = self.running.lock().await;
        let created = running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_create_peer(username, name, None).await?;
        let qr_svg = crate::code::render_qr_svg(&created.config_text)?;
        Ok(VpnCard { peer: created.peer, config_text: created.config_text, qr_svg })
    }

    /// Cuts a member's VPN access at once.
    pub async fn vpn_revoke(&self, peer_id: i64) -> Result<crate::proto::VpnPeerInfo, ApplianceError> {
        let running = self.running.lock().await;
        let peer = running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_revoke(peer_id).await?;
        tracing::info!(user = %peer.username, device = %peer.name, "VPN access cut from the dashboard");
        Ok(peer)
    }

    /// Sets a peer's (or with no peer the server-wide) cap in kbit/s; `None` = default.
    pub async fn vpn_set_limit(&self, peer_id: Option<i64>, kbps: Option<u32>) -> Result<(), ApplianceError> {
        let running = self.running.lock().await;
        Ok(running.as_ref().ok_or(ApplianceError::NotRunning)?.vpn_set_limit(peer_id, kbps).await?)
    }

    /// Takes a backup now ("Back up now"), as the nightly one does: into `backup.directory`,
    /// verified, then old archives pruned. Works whether or not the server runs, and a Stop
    /// meanwhile does not wait for it.
    pub async fn back_up_now(&self) -> Result<BackupEntry, ApplianceError> {
        if self.needs_setup() {
            return Err(ApplianceError::NotSetUp);
        }
        Ok(self.backups.back_up_now().await?.into())
    }

    /// The archives in the backup folder, newest first.
    pub fn list_backups(&self) -> Result<Vec<BackupEntry>, ApplianceError> {
        let Some(folder) = self.snapshot().backup_folder.clone() else { return Ok(Vec::new()) };
        Ok(backup::list(&folder)?.into_iter().rev().map(Into::into).collect())
    }

    /// Restores an archive: stops the server, restores (the replaced files are kept aside in
    /// the data directory), and starts it again. A damaged or foreign archive is refused and
    /// changes nothing; the server is started again either way.
    pub async fn restore(&self, archive: PathBuf, passphrase: Option<String>) -> Result<Status, ApplianceError> {
        let was_running = self.running.lock().await.is_some();
        self.stop().await?;
        let data_dir = self.data_dir.clone();
        let options = RestoreOptions { passphrase: passphrase.map(Passphrase::new), replace_other_server: false };
        let record_progress = self.restore_progress.recorder();
        let restored =
            tokio::task::spawn_blocking(move || backup::restore(&archive, &data_dir, &options, record_progress))
                .await
                .map_err(|err| BackupError::io("restore", std::io::Error::other(err.to_string())));
        self.restore_progress.clear();
        let restart = if was_running || restored.is_ok() { self.start().await.map(drop) } else { Ok(()) };
        let report = restored??;
        tracing::info!(files = report.files, "restored a backup");
        restart?;
        Ok(self.status())
    }

    /// Where the app's tracing output goes, so that [`Status::log_lines`] can show it.
    pub fn log_writer(&self) -> LogBuffer {
        self.logs.clone()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }
}

/// Whether the internet reaches the server, in plain words, from the port-mapping state
/// (`None`: stopped).
fn reachability(port_mapping: Option<&PortMappingState>) -> String {
    match port_mapping {
        None => "The server is stopped: nobody can connect.".into(),
        Some(PortMappingState::Mapped(mapped)) => format!(
            "Reachable from the internet at {}: the router opened the ports. The connection code and invites work \
             at home and away.",
            mapped.external_ip
        ),
        Some(PortMappingState::Discovering) => "Looking for your router to open the ports…".into(),
        Some(PortMappingState::Problem(problem)) => {
            format!("Only reachable at home. {}", problem.message)
        }
        Some(_) => "Reachable at home only: automatic router port opening is off. To connect from outside, turn it \
                    on, or forward the server's ports (TCP 3784, UDP 3785, TCP 3786 by default) on your router."
            .into(),
    }
}

/// The most recent log lines, shared; a `tracing_subscriber` writer (one line per event).
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl LogBuffer {
    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// One event being written; becomes a line when dropped.
#[derive(Debug)]
pub struct LogLine {
    buffer: LogBuffer,
    bytes: Vec<u8>,
}

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut lines = self.buffer.lines.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if lines.len() == LOG_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_string());
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine { buffer: self.clone(), bytes: Vec::new() }
    }
}
