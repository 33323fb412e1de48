//! Installing a new headless `itc-server` in place of the running one, with a trial run and
//! rollback.
//!
//! [`replace_server`] downloads the release's server archive through `self_update` (progress
//! reported as it goes), which checks the zipsign signature before anything is unpacked and
//! runs the new program's `--version` before it replaces anything; the running program is kept
//! beside it as `itc-server.previous`. The caller then stops its server and calls
//! [`trial_run`]: the new program is started with the same arguments and must answer
//! `GET /api/health` with the new version within `update.health_timeout_seconds`. If it does
//! not, [`Installed::roll_back`] puts the previous program back and the version is remembered
//! as bad ([`super::State`]). A program installed by a package manager (under `/usr`) is never
//! replaced: the package manager owns it.

use super::health::{self, Target};
use super::{keys, Artifact, DownloadProgress, UpdateError};
use crate::tls::Fingerprint;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of a trial run, so that the new program does not look for updates
/// while it is on trial.
pub(crate) const TRIAL_ENV: &str = "ITC_UPDATE_TRIAL";

/// Where the program sits in the server archive: a folder named like the archive.
const ARCHIVE_PATH: &str = "itc-server-{{ version }}-{{ target }}/{{ bin }}";

/// A new program in place, with the previous one kept for rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The new version.
    pub version: String,
    /// The program's path (now the new version).
    pub exe: PathBuf,
    /// The previous program.
    pub previous: PathBuf,
}

impl Installed {
    /// Puts the previous program back in place.
    pub fn roll_back(&self) -> Result<(), UpdateError> {
        // Copied beside it, then renamed over it in one step.
        let staged =
            self.exe.with_file_name(format!("{}.rollback", self.exe.file_name().unwrap_or_default().to_string_lossy()));
        std::fs::copy(&self.previous, &staged).map_err(super::io_error(&staged))?;
        std::fs::rename(&staged, &self.exe).map_err(super::io_error(&self.exe))?;
        tracing::warn!(version = %self.version, path = %self.exe.display(), "rolled back to the previous program");
        Ok(())
    }
}

/// Whether the program at `exe` belongs to a package manager (it lives under `/usr`), which
/// alone may replace it.
pub fn managed_by_package(exe: &Path) -> bool {
    cfg!(unix) && exe.starts_with("/usr")
}

/// Downloads `version`'s server archive from the feed at `feed_url`, checks its signature and
/// that the new program reports `version`, keeps `exe` as `exe.previous`, and puts the new
/// program at `exe` (the running program's own path).
pub fn replace_server(
    feed_url: &str,
    version: &str,
    exe: &Path,
    progress: impl Fn(DownloadProgress) + Send + Sync + 'static,
) -> Result<Installed, UpdateError> {
    let install_error = |reason: String| UpdateError::Install { version: version.to_string(), reason };
    if managed_by_package(exe) {
        return Err(install_error(format!(
            "{} belongs to the system's package manager; install the new package instead",
            exe.display()
        )));
    }
    let previous = previous_path(exe);
    std::fs::copy(exe, &previous).map_err(super::io_error(&previous))?;
    let wanted = Artifact::ServerArchive.file_name(version, super::target());
    let expected = version.to_string();
    let status = self_update::backends::manifest::Update::configure()
        .manifest_url(feed_url)
        .bin_name("itc-server")
        .bin_path_in_archive(ARCHIVE_PATH)
        .bin_install_path(exe)
        .current_version(crate::version::current())
        .release_tag(version)
        .verifying_keys(keys::verifying_keys())
        .asset_matcher(move |assets| assets.iter().find(|asset| asset.name() == wanted).cloned())
        .progress_callback(move |downloaded, total| progress(DownloadProgress { downloaded, total }))
        .verify_binary(move |new_exe| reports_version(new_exe, &expected))
        .timeout(Duration::from_secs(30 * 60))
        .unattended()
        .build()
        .and_then(|update| update.update());
    match status {
        Ok(_) => {
            tracing::info!(version, path = %exe.display(), "installed the new program; the previous one is kept beside it");
            Ok(Installed { version: version.to_string(), exe: exe.to_path_buf(), previous })
        }
        Err(err) => {
            // Nothing was replaced; the copy of the running program is not needed.
            let _ = std::fs::remove_file(&previous);
            match err {
                self_update::errors::Error::Signature(_) | self_update::errors::Error::NoSignatures(_) => {
                    tracing::warn!(version, error = %err, "update refused: bad or missing signature");
                    Err(UpdateError::BadSignature {
                        name: Artifact::ServerArchive.file_name(version, super::target()),
                        running: crate::version::current().to_string(),
                    })
                }
                self_update::errors::Error::VerificationRejected { reason, .. } => Err(UpdateError::BrokenRelease {
                    version: version.to_string(),
                    reason: reason.unwrap_or_else(|| "the new program failed its check".into()),
                }),
                other => Err(install_error(other.to_string())),
            }
        }
    }
}

/// `itc-server` becomes `itc-server.previous` (`itc-server.exe` becomes `itc-server.previous.exe`).
fn previous_path(exe: &Path) -> PathBuf {
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    let name = match exe.extension() {
        Some(extension) => format!("{stem}.previous.{}", extension.to_string_lossy()),
        None => format!("{stem}.previous"),
    };
    exe.with_file_name(name)
}

/// Runs `new_exe --version` and checks that it reports `version`.
fn reports_version(new_exe: &Path, version: &str) -> self_update::errors::Result<()> {
    let output = Command::new(new_exe).arg("--version").env(TRIAL_ENV, "1").output().map_err(|err| {
        self_update::errors::Error::verification_rejected(format!("the new program does not run: {err}"))
    })?;
    let said = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && said.split_whitespace().any(|word| word == version) {
        Ok(())
    } else {
        Err(self_update::errors::Error::verification_rejected(format!(
            "the new program reports \"{}\" instead of version {version}",
            said.trim()
        )))
    }
}

/// Why a trial run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrialFailed(pub String);

/// Starts `exe` with `args` as the running server was started, and waits up to `timeout` for
/// it to answer `GET /api/health` with `version` (over TLS pinned to `fingerprint`, when TLS
/// is on). The trial program is stopped either way; the caller's own server must be stopped
/// first (it holds the ports and the data directory's lock).
pub async fn trial_run(
    exe: &Path,
    args: &[OsString],
    version: &str,
    fingerprint: Option<Fingerprint>,
    timeout: Duration,
) -> Result<(), TrialFailed> {
    let mut child = Command::new(exe)
        .args(args)
        .env(TRIAL_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| TrialFailed(format!("the new program does not start: {err}")))?;
    let rest_addr = rest_address_from(&mut child);
    let outcome = wait_healthy(&mut child, rest_addr, version, fingerprint, timeout).await;
    stop(&mut child);
    outcome
}

/// A thread reads the child's output and reports the REST address from its "listening" line.
fn rest_address_from(child: &mut Child) -> std::sync::mpsc::Receiver<SocketAddr> {
    let (sender, receiver) = std::sync::mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = parse_rest_address(&line) {
                    let _ = sender.send(addr);
                }
            }
        });
    }
    receiver
}

/// The REST address in `itc-server VERSION: listening control=… media=… rest=tcp/ADDR`, with a
/// wildcard address replaced by loopback.
fn parse_rest_address(line: &str) -> Option<SocketAddr> {
    let text = line.split_whitespace().find_map(|word| word.strip_prefix("rest=tcp/"))?;
    let mut addr: SocketAddr = text.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv6() {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        });
    }
    Some(addr)
}

async fn wait_healthy(
    child: &mut Child,
    rest_addr: std::sync::mpsc::Receiver<SocketAddr>,
    version: &str,
    fingerprint: Option<Fingerprint>,
    timeout: Duration,
) -> Result<(), TrialFailed> {
    let deadline = Instant::now() + timeout;
    let mut addr = None;
    let mut last_problem = "it did not say where it listens".to_string();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(TrialFailed(format!("the new program stopped ({status})")));
        }
        addr = addr.or_else(|| rest_addr.try_recv().ok());
        if let Some(addr) = addr {
            match health::probe(Target { addr, fingerprint }).await {
                Ok(report) if report.status == "ok" && report.version == version => return Ok(()),
                Ok(report) => last_problem = format!("it reports version {} ({})", report.version, report.status),
                Err(err) => last_problem = err.to_string(),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(TrialFailed(format!("no healthy answer within {} s: {last_problem}", timeout.as_secs())))
}

/// How long the trial program gets to stop by itself before it is killed.
#[cfg(target_os = "linux")]
const TRIAL_STOP_GRACE: Duration = Duration::from_secs(10);

/// Stops the trial program (on Linux first with SIGTERM, so that it shuts down as it would
/// under a service manager) and waits for it.
fn stop(child: &mut Child) {
    #[cfg(target_os = "linux")]
    if let Ok(pid) = i32::try_from(child.id()) {
        use nix::sys::signal::{kill, Signal};
        if kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + TRIAL_STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    if let Err(err) = child.kill() {
        tracing::debug!(error = %err, "the trial program had already stopped");
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_rest_address() {
        let line = "itc-server 0.2.0: listening control=tcp/0.0.0.0:3784 media=udp/0.0.0.0:3785 rest=tcp/0.0.0.0:3786";
        assert_eq!(parse_rest_address(line), Some("127.0.0.1:3786".parse().expect("address")));
        assert_eq!(parse_rest_address("rest=tcp/[::]:9"), Some("[::1]:9".parse().expect("address")));
        assert_eq!(parse_rest_address("Connection code: ITC-x"), None);
    }

    #[test]
    fn the_previous_program_sits_beside_the_new_one() {
        assert_eq!(previous_path(Path::new("/opt/itc/itc-server")), Path::new("/opt/itc/itc-server.previous"));
        assert_eq!(previous_path(Path::new("C:/itc/itc-server.exe")), Path::new("C:/itc/itc-server.previous.exe"));
        assert!(managed_by_package(Path::new("/usr/bin/itc-server")) == cfg!(unix));
        assert!(!managed_by_package(Path::new("/opt/itc/itc-server")));
    }
}
