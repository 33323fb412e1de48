//! Updates for the desktop (tray) app: it looks at the feed like the headless server does,
//! shows "update available", and installs on request through the system's own installer.
//!
//! The tray app is installed by a package (a `.deb` on Linux, an NSIS installer on Windows),
//! so it is updated by a newer package, not by replacing its program: [`DesktopUpdates::install`]
//! downloads the release's package artifact, checks its signature (refusing unsigned or
//! tampered ones), and hands the package to the installer: `pkexec apt-get install` of the
//! verified `.deb` (apt resolves its dependencies and keeps every user's data), or the verified
//! setup program on Windows. The app then restarts into the new version.

use super::{Artifact, Available, CheckState, DownloadProgress, UpdateError};
use crate::config::UpdateSection;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The folder in the data directory where the verified package is kept until installed (only
/// the newest one).
pub(crate) const DOWNLOAD_DIR: &str = "updates";

/// The updates part of the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateStatus {
    /// A newer version for this computer, when the feed has one.
    pub available: Option<String>,
    /// A page about it.
    pub notes_url: Option<String>,
    /// What is being done, in plain words ("Downloading IPTinCan 0.2.0").
    pub activity: Option<String>,
    /// How far the download has got, 0 to 100.
    pub percent: Option<u64>,
    /// The last problem (a failed check, a refused download), in plain words.
    pub problem: Option<String>,
}

/// A verified package, ready for the installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Its version.
    pub version: String,
    /// The package (`.deb` or setup program).
    pub path: PathBuf,
}

/// The tray's updater: the feed checker, and one download or install at a time.
#[derive(Debug)]
pub(crate) struct DesktopUpdates {
    folder: PathBuf,
    checks: OnceLock<watch::Receiver<CheckState>>,
    cancel: CancellationToken,
    activity: Arc<Mutex<Option<(String, u64)>>>,
    problem: Mutex<Option<String>>,
    busy: tokio::sync::Mutex<()>,
}

impl DesktopUpdates {
    /// The updater for the app whose data directory is `data_dir`; nothing runs yet.
    pub fn new(data_dir: &Path) -> DesktopUpdates {
        DesktopUpdates {
            folder: data_dir.to_path_buf(),
            checks: OnceLock::new(),
            cancel: CancellationToken::new(),
            activity: Arc::default(),
            problem: Mutex::default(),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Starts looking at the feed (now and daily), once; later calls do nothing. Needs a
    /// tokio runtime.
    pub(crate) fn start_checking(&self, settings: &UpdateSection) {
        if self.checks.get().is_some() {
            return;
        }
        let artifact = Artifact::for_desktop();
        if let Some(checks) = super::spawn_checker(settings, self.folder.clone(), artifact, self.cancel.clone()) {
            let _ = self.checks.set(checks);
        }
    }

    fn available(&self) -> Option<Available> {
        self.checks.get().and_then(|checks| checks.borrow().available.clone())
    }

    /// What the dashboard shows; never waits.
    pub fn status(&self) -> UpdateStatus {
        let checked = self.checks.get().map(|checks| checks.borrow().clone()).unwrap_or_default();
        let activity = lock(&self.activity).clone();
        let problem =
            lock(&self.problem).clone().or(checked.error.map(|err| format!("Could not look for updates: {err}")));
        UpdateStatus {
            available: checked.available.as_ref().map(|available| available.version.clone()),
            notes_url: checked.available.and_then(|available| available.notes_url),
            activity: activity.as_ref().map(|(what, _)| what.clone()),
            percent: activity.map(|(_, percent)| percent),
            problem,
        }
    }

    /// Downloads the available version's package for this computer into the data directory's
    /// `updates/` folder and checks its signature.
    pub async fn download(&self) -> Result<Downloaded, UpdateError> {
        let _busy = self.busy.lock().await;
        let available = self.available().ok_or(UpdateError::NothingToInstall)?;
        let version = available.version.clone();
        let folder = self.folder.join(DOWNLOAD_DIR);
        // The folder only ever holds the newest download.
        if let Err(err) = std::fs::remove_dir_all(&folder) {
            tracing::debug!(error = %err, "no earlier downloads to remove");
        }
        *lock(&self.activity) = Some((format!("Downloading IPTinCan {version}"), 0));
        let activity = self.activity.clone();
        let progress = move |progress: DownloadProgress| {
            if let Some((_, percent)) = lock(&activity).as_mut() {
                *percent = progress.percent();
            }
        };
        let downloaded = tokio::task::spawn_blocking(move || {
            super::download_verified(&available, Artifact::for_desktop(), &folder, progress)
        })
        .await
        .map_err(|err| UpdateError::Download { name: version.clone(), reason: err.to_string() })
        .and_then(|result| result);
        *lock(&self.activity) = None;
        let path = self.note(downloaded)?;
        tracing::info!(version, path = %path.display(), "downloaded and verified the update");
        Ok(Downloaded { version, path })
    }

    /// Downloads and verifies the available version, then hands it to the system's installer
    /// (which may ask for the administrator's password). Returns the version installed; the
    /// app should restart into it.
    pub async fn install(&self) -> Result<String, UpdateError> {
        let downloaded = self.download().await?;
        let _busy = self.busy.lock().await;
        *lock(&self.activity) = Some((format!("Installing IPTinCan {}", downloaded.version), 100));
        let path = downloaded.path.clone();
        let handed = tokio::task::spawn_blocking(move || hand_over(&path))
            .await
            .map_err(|err| UpdateError::Install { version: downloaded.version.clone(), reason: err.to_string() })
            .and_then(|result| {
                result.map_err(|reason| UpdateError::Install { version: downloaded.version.clone(), reason })
            });
        *lock(&self.activity) = None;
        self.note(handed)?;
        tracing::info!(version = %downloaded.version, "the update is installed");
        Ok(downloaded.version)
    }

    /// Remembers a failure for the dashboard (or clears the last one).
    fn note<T>(&self, result: Result<T, UpdateError>) -> Result<T, UpdateError> {
        *lock(&self.problem) = result.as_ref().err().map(ToString::to_string);
        if let Err(err) = &result {
            tracing::warn!("the update failed: {err}");
        }
        result
    }
}

impl Drop for DesktopUpdates {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs the verified `.deb` with apt, as the administrator (pkexec asks for the password).
#[cfg(not(windows))]
fn hand_over(package: &Path) -> Result<(), String> {
    let status = std::process::Command::new("pkexec")
        .args(["apt-get", "install", "-y", "--no-remove"])
        .arg(package)
        .status()
        .map_err(|err| format!("cannot run pkexec: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the package installer did not finish ({status})"))
    }
}

/// Starts the verified installer; it replaces the app (and asks to close it) by itself.
#[cfg(windows)]
fn hand_over(package: &Path) -> Result<(), String> {
    std::process::Command::new(package).spawn().map(drop).map_err(|err| format!("cannot start the installer: {err}"))
}
