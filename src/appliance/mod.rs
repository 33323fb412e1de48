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

mod backups;
mod error;
mod invites;
mod logs;
mod setup;
mod status;
mod vpn;

pub use backups::{BackupAttempt, BackupEntry, BackupProgress, BackupResult};
pub use error::ApplianceError;
pub use invites::{InviteCard, InviteRequest};
pub use logs::{LogBuffer, LogLine};
pub use setup::{SetupChoices, MAX_SERVER_NAME_CHARS};
pub use status::{ApplianceState, Status, DISK_FULL};
pub use vpn::VpnCard;

use crate::backup::{self, schedule::Backups};
use crate::config::{self, ConfigError, DataDir};
use crate::server::{self, RunningServer, ServerHandle};
use crate::update::desktop::DesktopUpdates;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
        server.attach_backups(self.backups.clone());
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

    /// Downloads the available update and checks its signature, without installing it.
    pub async fn download_update(&self) -> Result<crate::update::desktop::Downloaded, ApplianceError> {
        Ok(self.updates.download().await?)
    }

    /// Downloads the available update, checks its signature and hands it to the system's
    /// installer; returns the version installed (the app then restarts into it).
    pub async fn install_update(&self) -> Result<String, ApplianceError> {
        Ok(self.updates.install().await?)
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
