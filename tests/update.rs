//! Self-update of the headless server, offline: a release feed served on loopback by the test,
//! with a newer build signed by a key the test made. A signed update installs, runs on trial,
//! and the new version answers; a tampered artifact is refused and the running version stays;
//! a new version that fails to start is rolled back and not tried again.
//!
//! The "newer build" is a small script that runs this build's real `itc-server` with
//! `ITC_TEST_VERSION` set, which debug builds report as their version (so these tests need a
//! Unix shell).
#![cfg(unix)]

mod common;

use common::release::{next_version, tamper, wrapper_script, Feed, TestKey};
use common::ServerProcess;
use iptincan::config::DataDir;
use iptincan::update::health::{self, Target};
use iptincan::update::{self, Artifact};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Long enough for a download, a trial run and a restart on a busy machine.
const UPDATE_WAIT: Duration = Duration::from_secs(90);

/// A copy of the server binary in its own folder (the updater replaces it) and a data
/// directory whose config points at `feed` with automatic installs.
struct Installation {
    root: tempfile::TempDir,
    exe: PathBuf,
    data: PathBuf,
}

impl Installation {
    fn new(feed: &Feed) -> Installation {
        let root = tempfile::tempdir().expect("tempdir");
        let exe = root.path().join("bin/itc-server");
        std::fs::create_dir_all(root.path().join("bin")).expect("bin");
        std::fs::copy(common::server_binary(), &exe).expect("copies the server");
        let data = root.path().join("data");
        std::fs::create_dir_all(&data).expect("data");
        let update =
            format!("check = true\nauto_install = true\nfeed_url = \"{}\"\nhealth_timeout_seconds = 5", feed.url);
        let config = common::TEST_CONFIG.replace("check = false", &update).replace("\"warn\"", "\"info\"");
        std::fs::write(data.join("server.toml"), config).expect("config");
        Installation { root, exe, data }
    }

    fn start(&self, key: &TestKey) -> ServerProcess {
        let mut command = Command::new(&self.exe);
        command.arg("--data-dir").arg(&self.data).env(update::keys::TEST_KEY_ENV, key.public_base64());
        ServerProcess::spawn_command(command).expect("the server starts")
    }

    /// Asks the server at `rest` (from its "listening" line) for its health.
    async fn health(&self, rest: &str) -> health::HealthReport {
        let loaded = iptincan::config::load_or_create(&self.data.join("server.toml")).expect("config");
        let mut target = Target::local(&loaded.config, &DataDir::new(&self.data)).expect("target");
        target.addr = rest.parse().expect("REST address");
        health::probe(target).await.expect("healthy")
    }
}

/// The REST address in a "listening" line.
fn rest_of(line: &str) -> String {
    line.split_whitespace().find_map(|word| word.strip_prefix("rest=tcp/")).expect("rest address").to_string()
}

/// Waits until the server's stderr contains `text`.
fn wait_for_log(server: &ServerProcess, text: &str) -> String {
    let deadline = std::time::Instant::now() + UPDATE_WAIT;
    loop {
        let log = server.stderr();
        if log.contains(text) {
            return log;
        }
        assert!(std::time::Instant::now() < deadline, "no \"{text}\" in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn server_artifact(version: &str) -> String {
    Artifact::ServerArchive.file_name(version, update::target())
}

/// The program's place in the server archive, as `scripts/package` packs it.
fn program_in_archive(version: &str) -> String {
    format!("itc-server-{version}-{}/itc-server", update::target())
}

fn executable_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("reads the program")
}

#[tokio::test]
async fn a_signed_update_installs_and_the_new_version_answers() {
    let (feed, key, next) = (Feed::start(), TestKey::new(), next_version());
    let name = server_artifact(&next);
    feed.add_artifact(&name, &[(&program_in_archive(&next), wrapper_script(&next).as_bytes(), 0o755)], Some(&key));
    feed.publish(&next, &[&name]);
    let install = Installation::new(&feed);
    let server = install.start(&key);

    let line = server
        .next_stdout_line(&format!("itc-server {next}: listening"), UPDATE_WAIT)
        .unwrap_or_else(|| panic!("the new version did not come up:\n{}", server.stderr()));
    let report = install.health(&rest_of(&line)).await;
    assert_eq!(report.version, next, "the new version answers its health check");
    let log = server.stderr();
    assert!(log.contains(&format!("downloading IPTinCan {next}: 100%")), "progress is logged:\n{log}");
    assert!(log.contains("passed its health check"), "{log}");
    assert!(feed.served().contains(&name), "the artifact came from the feed");

    let version = Command::new(&install.exe).arg("--version").output().expect("runs");
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("itc-server {next}"));
    assert_eq!(
        executable_bytes(&install.root.path().join("bin/itc-server.previous")),
        executable_bytes(&common::server_binary()),
        "the previous program is kept for rollback"
    );
    server.terminate();
}

#[tokio::test]
async fn a_tampered_update_is_refused_and_the_running_version_stays() {
    let (feed, key, next) = (Feed::start(), TestKey::new(), next_version());
    let name = server_artifact(&next);
    let artifact =
        feed.add_artifact(&name, &[(&program_in_archive(&next), wrapper_script(&next).as_bytes(), 0o755)], Some(&key));
    tamper(&artifact);
    feed.publish(&next, &[&name]);
    let install = Installation::new(&feed);
    let before = executable_bytes(&install.exe);
    let server = install.start(&key);

    let log = wait_for_log(&server, "the update was not installed");
    assert!(log.contains("not signed with IPTinCan's release key"), "a clear message:\n{log}");
    assert!(log.contains(&format!("keeping version {}", env!("CARGO_PKG_VERSION"))), "{log}");
    assert_eq!(install.health(&server.rest).await.version, env!("CARGO_PKG_VERSION"), "still running");
    assert_eq!(executable_bytes(&install.exe), before, "the program was not touched");
    assert!(!install.root.path().join("bin/itc-server.previous").exists());
    server.terminate();
}

#[tokio::test]
async fn an_unsigned_update_is_refused() {
    let (feed, key, next) = (Feed::start(), TestKey::new(), next_version());
    let name = server_artifact(&next);
    feed.add_artifact(&name, &[(&program_in_archive(&next), wrapper_script(&next).as_bytes(), 0o755)], None);
    feed.publish(&next, &[&name]);
    let install = Installation::new(&feed);
    let server = install.start(&key);
    let log = wait_for_log(&server, "the update was not installed");
    assert!(log.contains("not signed with IPTinCan's release key"), "{log}");
    assert_eq!(install.health(&server.rest).await.version, env!("CARGO_PKG_VERSION"));
    server.terminate();
}

#[tokio::test]
async fn a_new_version_that_fails_to_start_is_rolled_back_and_not_tried_again() {
    let (feed, key, next) = (Feed::start(), TestKey::new(), next_version());
    let name = server_artifact(&next);
    // It knows its version, but cannot serve.
    let broken = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'itc-server {next}'; exit 0; fi\necho broken >&2\nexit 3\n"
    );
    feed.add_artifact(&name, &[(&program_in_archive(&next), broken.as_bytes(), 0o755)], Some(&key));
    feed.publish(&next, &[&name]);
    let install = Installation::new(&feed);
    let before = executable_bytes(&install.exe);
    let server = install.start(&key);

    let line = server
        .next_stdout_line(&format!("itc-server {}: listening", env!("CARGO_PKG_VERSION")), UPDATE_WAIT)
        .unwrap_or_else(|| panic!("the previous version did not come back:\n{}", server.stderr()));
    let log = server.stderr();
    assert!(log.contains(&format!("IPTinCan {next} failed its trial run")), "{log}");
    assert!(log.contains("rolled back to the previous program"), "{log}");
    assert_eq!(executable_bytes(&install.exe), before, "the previous program is back");
    assert_eq!(install.health(&rest_of(&line)).await.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(update::State::load(&install.data).bad_versions, vec![next.clone()]);
    server.terminate();

    // Started again, it looks at the feed and leaves the bad version alone.
    let served_before = feed.served().len();
    let again = install.start(&key);
    let deadline = std::time::Instant::now() + UPDATE_WAIT;
    while feed.served().len() == served_before {
        assert!(std::time::Instant::now() < deadline, "the feed was not read again");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = again.stderr();
    assert!(!log.contains("update available"), "{log}");
    assert!(!log.contains("installing IPTinCan"), "{log}");
    again.terminate();
}

/// The process-wide test key for in-process updaters (the tray's engine), whose public half is
/// put in this test process's environment once.
fn in_process_key() -> &'static TestKey {
    static KEY: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let key = TestKey::new();
        std::env::set_var(update::keys::TEST_KEY_ENV, key.public_base64());
        key
    })
}

/// The tray's engine with its config pointing at `feed`, set up and running.
async fn appliance_with_feed(dir: &Path, feed: &Feed) -> iptincan::appliance::Appliance {
    let template = common::TEST_CONFIG.replace("check = false", &format!("check = true\nfeed_url = \"{}\"", feed.url));
    let appliance = iptincan::appliance::Appliance::open_with_template(dir, &template).expect("opens");
    let choices = iptincan::appliance::SetupChoices {
        server_name: "Smith Family".into(),
        admin_password: common::ADMIN_PASSWORD.into(),
        open_router_ports: false,
    };
    appliance.setup(choices).await.expect("setup");
    appliance
}

async fn wait_until_available(appliance: &iptincan::appliance::Appliance) -> iptincan::update::desktop::UpdateStatus {
    let deadline = std::time::Instant::now() + UPDATE_WAIT;
    loop {
        let update = appliance.status().update;
        if update.available.is_some() {
            return update;
        }
        assert!(std::time::Instant::now() < deadline, "no update shown: {update:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tray shows "update available" and, on request, downloads the signed package and
/// checks it before anything is installed.
#[tokio::test]
async fn the_tray_engine_shows_an_update_and_fetches_the_signed_package() {
    let (feed, key, next) = (Feed::start(), in_process_key(), next_version());
    let name = Artifact::DebPackage.file_name(&next, update::target());
    let deb_name = format!("iptincan_{next}_amd64.deb");
    feed.add_artifact(&name, &[(&deb_name, b"!<arch>\nnot really a package", 0o644)], Some(key));
    feed.publish(&next, &[&name]);
    let dir = tempfile::tempdir().expect("tempdir");
    let appliance = appliance_with_feed(dir.path(), &feed).await;

    let shown = wait_until_available(&appliance).await;
    assert_eq!(shown.available.as_deref(), Some(next.as_str()));
    assert_eq!(shown.problem, None);
    let downloaded = appliance.download_update().await.expect("downloads and verifies");
    assert_eq!(downloaded.version, next);
    assert_eq!(downloaded.path, dir.path().join("updates").join(&deb_name));
    assert_eq!(std::fs::read(&downloaded.path).expect("package"), b"!<arch>\nnot really a package");
    let after = appliance.status().update;
    assert_eq!((after.activity, after.problem), (None, None), "done, nothing wrong");
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn the_tray_engine_refuses_a_tampered_package() {
    let (feed, key, next) = (Feed::start(), in_process_key(), next_version());
    let name = Artifact::DebPackage.file_name(&next, update::target());
    let deb_name = format!("iptincan_{next}_amd64.deb");
    let artifact = feed.add_artifact(&name, &[(&deb_name, &[7u8; 4096], 0o644)], Some(key));
    tamper(&artifact);
    feed.publish(&next, &[&name]);
    let dir = tempfile::tempdir().expect("tempdir");
    let appliance = appliance_with_feed(dir.path(), &feed).await;
    wait_until_available(&appliance).await;

    let refused = appliance.install_update().await.expect_err("refused");
    assert!(refused.to_string().contains("not signed with IPTinCan's release key"), "{refused}");
    let problem = appliance.status().update.problem.expect("the dashboard says why");
    assert!(problem.contains("may have been tampered with"), "{problem}");
    assert!(!dir.path().join("updates").join(&deb_name).exists(), "nothing kept");
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn a_release_whose_program_reports_another_version_is_refused_before_anything_changes() {
    let (feed, key, next) = (Feed::start(), TestKey::new(), next_version());
    let name = server_artifact(&next);
    // Signed, but the program inside is not the version the feed says.
    feed.add_artifact(&name, &[(&program_in_archive(&next), wrapper_script("0.0.1").as_bytes(), 0o755)], Some(&key));
    feed.publish(&next, &[&name]);
    let install = Installation::new(&feed);
    let before = executable_bytes(&install.exe);
    let server = install.start(&key);

    let log = wait_for_log(&server, "the update was not installed");
    assert!(log.contains(&format!("version {next} is broken")), "{log}");
    assert_eq!(executable_bytes(&install.exe), before, "the program was not touched");
    assert_eq!(install.health(&server.rest).await.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(update::State::load(&install.data).bad_versions, vec![next], "not tried again");
    server.terminate();
}
