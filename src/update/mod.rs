//! Updates: the signed release feed, checking it, downloading verified artifacts, and (in
//! [`install`]) replacing the headless server's binary with a trial run and rollback.
//!
//! The feed (`update.feed_url`, by default IPTinCan's download site) is a `manifest.json` in
//! `self_update`'s manifest format: releases with a semver `version` and `assets` (name, URL
//! relative to the manifest). Every asset is a `.tar.gz` signed with zipsign (ed25519ph); an
//! asset is used only after its signature checks out against [`keys::verifying_keys`], so an
//! unsigned or tampered download is refused and the running version stays. Versions that
//! failed their trial run once are remembered in the data directory ([`State`]) and never
//! offered again. Which artifact fits this computer is an [`Artifact`]: the portable server
//! archive (`itc-server` updates itself), the Debian package or the Windows installer (the tray
//! app hands those to the system's installer).
//!
//! All of this blocks (downloads, files); async callers run it on a blocking thread.

pub mod desktop;
pub mod health;
pub mod install;
pub mod keys;

use crate::config::UpdateSection;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the feed is read after the check at start.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// What went wrong while checking for or installing an update, in words for the log and the
/// dashboard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The feed could not be fetched or read.
    #[error("cannot read the release feed {url}: {reason}")]
    Feed {
        /// The feed's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The release has nothing for this computer.
    #[error("release {version} has no {artifact} for this computer ({target})")]
    NoArtifact {
        /// The release.
        version: String,
        /// What was looked for.
        artifact: String,
        /// This build's target triple.
        target: String,
    },
    /// The download failed.
    #[error("the download of {name} failed: {reason}")]
    Download {
        /// The artifact.
        name: String,
        /// Why.
        reason: String,
    },
    /// The signature is missing or does not match: the artifact may have been tampered with.
    #[error(
        "refused {name}: it is not signed with IPTinCan's release key (it may have been tampered with); \
         keeping version {running}"
    )]
    BadSignature {
        /// The artifact.
        name: String,
        /// The version that keeps running.
        running: String,
    },
    /// The artifact's contents are not what a release holds.
    #[error("{name} is not a usable release: {reason}")]
    BadArtifact {
        /// The artifact.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The new program does not run or does not report the version it was released as
    /// (nothing was changed; the version is not worth trying again).
    #[error("version {version} is broken: {reason}; keeping the running version")]
    BrokenRelease {
        /// The version.
        version: String,
        /// What the check found.
        reason: String,
    },
    /// Replacing the program failed (nothing was changed).
    #[error("cannot install version {version}: {reason}")]
    Install {
        /// The version.
        version: String,
        /// Why.
        reason: String,
    },
    /// There is no newer version to install.
    #[error("there is no update to install")]
    NothingToInstall,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io { path: path.display().to_string(), source }
}

/// A kind of release artifact, and how its file is named in the feed:
/// `PREFIX-VERSION-TARGET.tar.gz` (e.g. `itc-server-0.2.0-x86_64-unknown-linux-gnu.tar.gz`).
/// `scripts/package` names them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// The portable headless server: `itc-server` (and the README and default config).
    ServerArchive,
    /// The Debian package of the tray app, `itc-server` and `itc` (one `.deb` inside).
    DebPackage,
    /// The Windows installer (one NSIS `-setup.exe` inside).
    WindowsSetup,
}

impl Artifact {
    fn prefix(self) -> &'static str {
        match self {
            Artifact::ServerArchive => "itc-server",
            Artifact::DebPackage => "iptincan-deb",
            Artifact::WindowsSetup => "iptincan-setup",
        }
    }

    /// The file inside the archive that is the payload, by its ending.
    fn payload_suffix(self) -> &'static str {
        match self {
            Artifact::ServerArchive => "itc-server",
            Artifact::DebPackage => ".deb",
            Artifact::WindowsSetup => "-setup.exe",
        }
    }

    /// The artifact's file name in the feed.
    pub fn file_name(self, version: &str, target: &str) -> String {
        format!("{}-{version}-{target}.tar.gz", self.prefix())
    }

    /// What the tray app installs with on this platform (the headless server always uses
    /// [`Artifact::ServerArchive`]).
    pub(crate) fn for_desktop() -> Artifact {
        if cfg!(windows) {
            Artifact::WindowsSetup
        } else {
            Artifact::DebPackage
        }
    }
}

/// This build's target triple, as release artifacts name it.
pub fn target() -> &'static str {
    self_update::get_target()
}

/// A newer release in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Available {
    /// Its version.
    pub version: String,
    /// A page about it, if the feed names one.
    pub notes_url: Option<String>,
    /// Its artifacts: file name and absolute URL.
    #[serde(skip)]
    assets: Vec<(String, String)>,
}

impl Available {
    /// The URL of `artifact` for this computer.
    pub(crate) fn url_of(&self, artifact: Artifact) -> Result<(String, String), UpdateError> {
        let wanted = artifact.file_name(&self.version, target());
        self.assets.iter().find(|(name, _)| *name == wanted).cloned().ok_or_else(|| UpdateError::NoArtifact {
            version: self.version.clone(),
            artifact: wanted,
            target: target().to_string(),
        })
    }
}

/// Reads the feed at `feed_url` and returns the newest release above `running` that is not in
/// `skip` (versions that failed before) and has `artifact` for this computer.
pub fn check(
    feed_url: &str,
    running: &str,
    skip: &[String],
    artifact: Artifact,
) -> Result<Option<Available>, UpdateError> {
    use self_update::ReleaseSource as _;
    let feed_error = |reason: String| UpdateError::Feed { url: feed_url.to_string(), reason };
    let mut source = self_update::backends::manifest::ManifestSource::new(feed_url);
    source.timeout(std::time::Duration::from_secs(30));
    let releases = source.get_releases().map_err(|err| feed_error(err.to_string()))?;
    let running = semver::Version::parse(running).map_err(|err| feed_error(format!("running version: {err}")))?;
    let newest = releases
        .into_iter()
        .filter_map(|release| Some((semver::Version::parse(release.version()).ok()?, release)))
        .filter(|(version, release)| *version > running && !skip.iter().any(|bad| bad == release.version()))
        .map(|(version, release)| {
            let available = Available {
                version: release.version().to_string(),
                notes_url: release.release_notes_url().map(str::to_string),
                assets: release
                    .assets()
                    .iter()
                    .map(|asset| (asset.name().to_string(), asset.download_url().to_string()))
                    .collect(),
            };
            (version, available)
        })
        .filter(|(_, available)| available.url_of(artifact).is_ok())
        .max_by(|(a, _), (b, _)| a.cmp(b));
    Ok(newest.map(|(_, available)| available))
}

/// What the last look at the feed found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckState {
    /// A newer release for this computer, if any.
    pub available: Option<Available>,
    /// Why the last check failed, if it did.
    pub error: Option<String>,
}

/// Starts reading the feed now and every [`CHECK_INTERVAL`] (unless `update.check` is off, or
/// this program is on trial as a new version), looking for `artifact`; each result is logged
/// and published on the returned channel. Versions in the data directory's [`State`] are
/// skipped. Stops when `cancel` fires.
pub fn spawn_checker(
    settings: &UpdateSection,
    data_dir: PathBuf,
    artifact: Artifact,
    cancel: CancellationToken,
) -> Option<watch::Receiver<CheckState>> {
    if !settings.check || std::env::var_os(install::TRIAL_ENV).is_some() {
        return None;
    }
    let (sender, receiver) = watch::channel(CheckState::default());
    let feed_url = settings.feed_url.clone();
    tokio::spawn(async move {
        loop {
            let (url, dir) = (feed_url.clone(), data_dir.clone());
            let checked = tokio::task::spawn_blocking(move || {
                let skip = State::load(&dir).bad_versions;
                check(&url, crate::version::current(), &skip, artifact)
            })
            .await;
            let state = match checked {
                Ok(Ok(available)) => {
                    match &available {
                        Some(new) => tracing::info!(
                            version = %new.version,
                            running = crate::version::current(),
                            "update available: IPTinCan {}", new.version
                        ),
                        None => tracing::debug!("no update available"),
                    }
                    CheckState { available, error: None }
                }
                Ok(Err(err)) => {
                    tracing::warn!("could not look for updates: {err}");
                    CheckState { available: sender.borrow().available.clone(), error: Some(err.to_string()) }
                }
                Err(err) => CheckState { available: None, error: Some(err.to_string()) },
            };
            sender.send_replace(state);
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(CHECK_INTERVAL) => {}
            }
        }
    });
    Some(receiver)
}

/// How far a download has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DownloadProgress {
    /// Bytes so far.
    pub downloaded: u64,
    /// The whole size, when the server said.
    pub total: Option<u64>,
}

impl DownloadProgress {
    /// 0 to 100 (0 while the size is unknown).
    pub fn percent(&self) -> u64 {
        match self.total {
            Some(total) if total > 0 => (self.downloaded.min(total) * 100) / total,
            _ => 0,
        }
    }
}

/// Downloads `artifact` of `available` into `folder`, checks its signature, and unpacks its
/// payload (the `.deb` or the setup program); returns the payload's path. Nothing is kept
/// from a download whose signature does not check out.
pub(crate) fn download_verified(
    available: &Available,
    artifact: Artifact,
    folder: &Path,
    progress: impl Fn(DownloadProgress) + Send + Sync + 'static,
) -> Result<PathBuf, UpdateError> {
    let (name, url) = available.url_of(artifact)?;
    std::fs::create_dir_all(folder).map_err(io_error(folder))?;
    let staging = tempfile::tempdir_in(folder).map_err(io_error(folder))?;
    // The signature is bound to the file name, so the download keeps the feed's name.
    let archive = staging.path().join(&name);
    let file = std::fs::File::create(&archive).map_err(io_error(&archive))?;
    self_update::Download::from_url(&url)
        .timeout(std::time::Duration::from_secs(30 * 60))
        .progress_callback(move |downloaded, total| progress(DownloadProgress { downloaded, total }))
        .download_to(file)
        .map_err(|err| UpdateError::Download { name: name.clone(), reason: err.to_string() })?;
    verify(&archive, &name)?;
    let unpacked = staging.path().join("unpacked");
    self_update::Extract::from_source(&archive)
        .extract_into(&unpacked)
        .map_err(|err| UpdateError::BadArtifact { name: name.clone(), reason: err.to_string() })?;
    let payload = std::fs::read_dir(&unpacked)
        .map_err(io_error(&unpacked))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.is_file() && path.to_string_lossy().ends_with(artifact.payload_suffix()))
        .ok_or_else(|| UpdateError::BadArtifact {
            name: name.clone(),
            reason: format!("no file ending in {} inside", artifact.payload_suffix()),
        })?;
    let file_name = payload.file_name().map(ToOwned::to_owned).unwrap_or_default();
    let kept = folder.join(file_name);
    std::fs::rename(&payload, &kept).map_err(io_error(&kept))?;
    Ok(kept)
}

/// Checks `archive`'s zipsign signature against the built-in keys.
fn verify(archive: &Path, name: &str) -> Result<(), UpdateError> {
    self_update::verify_signature(archive, &keys::verifying_keys()).map_err(|err| {
        tracing::warn!(artifact = name, error = %err, "update refused: bad or missing signature");
        UpdateError::BadSignature { name: name.to_string(), running: crate::version::current().to_string() }
    })
}

/// What the updater remembers in the data directory (`update-state.json`): versions that
/// failed their trial run, so that they are not installed again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Versions rolled back after a failed trial run.
    #[serde(default)]
    pub bad_versions: Vec<String>,
}

/// The state file's name in the data directory.
pub(crate) const STATE_FILE: &str = "update-state.json";

impl State {
    /// Reads the state in `data_dir` (empty when there is none, or it is unreadable: a damaged
    /// file is logged and replaced on the next write).
    pub fn load(data_dir: &Path) -> State {
        let path = data_dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                tracing::warn!(path = %path.display(), error = %err, "the update state file is damaged; starting afresh");
                State::default()
            }),
            Err(_) => State::default(),
        }
    }

    /// Remembers that `version` failed, and writes the state to `data_dir`.
    pub fn mark_bad(data_dir: &Path, version: &str) -> Result<State, UpdateError> {
        let mut state = State::load(data_dir);
        if !state.bad_versions.iter().any(|bad| bad == version) {
            state.bad_versions.push(version.to_string());
        }
        let path = data_dir.join(STATE_FILE);
        let partial = data_dir.join(format!("{STATE_FILE}.partial"));
        let text = serde_json::to_vec_pretty(&state)
            .map_err(|err| UpdateError::Io { path: path.display().to_string(), source: std::io::Error::other(err) })?;
        std::fs::write(&partial, text).map_err(io_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(io_error(&path))?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_carry_version_and_target() {
        assert_eq!(
            Artifact::ServerArchive.file_name("1.2.3", "x86_64-unknown-linux-gnu"),
            "itc-server-1.2.3-x86_64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(Artifact::DebPackage.file_name("1.2.3", "t"), "iptincan-deb-1.2.3-t.tar.gz");
        assert_eq!(Artifact::WindowsSetup.file_name("1.2.3", "t"), "iptincan-setup-1.2.3-t.tar.gz");
    }

    #[test]
    fn progress_is_a_percentage_of_a_known_size() {
        assert_eq!(DownloadProgress { downloaded: 50, total: Some(200) }.percent(), 25);
        assert_eq!(DownloadProgress { downloaded: 50, total: None }.percent(), 0);
        assert_eq!(DownloadProgress { downloaded: 500, total: Some(200) }.percent(), 100);
    }

    #[test]
    fn bad_versions_are_remembered() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(State::load(dir.path()), State::default());
        State::mark_bad(dir.path(), "0.2.0").expect("writes");
        State::mark_bad(dir.path(), "0.2.0").expect("writes");
        assert_eq!(State::load(dir.path()).bad_versions, vec!["0.2.0".to_string()]);
        std::fs::write(dir.path().join(STATE_FILE), "{").expect("writes");
        assert_eq!(State::load(dir.path()), State::default(), "a damaged file starts afresh");
    }
}
