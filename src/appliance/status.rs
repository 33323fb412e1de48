//! The [`Status`] snapshot the tray icon and the dashboard show, read without waiting.

use super::backups::{BackupAttempt, BackupEntry, BackupProgress, BackupResult};
use super::Appliance;
use crate::backup;
use crate::net::PortMappingState;
use crate::update::desktop::UpdateStatus;
use crate::vpn::VpnState;
use serde::Serialize;

/// What the dashboard says while the disk is full.
pub const DISK_FULL: &str = "The disk is full: the server cannot save new messages or changes. Free some space on \
                             this computer's disk.";

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

impl Appliance {
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
