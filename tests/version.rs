//! One version everywhere: `itc-server --version`, `itc --version`, the handshake,
//! `GET /api/health` and `GET /api/server`, the tray's status (the dashboard shows it) and the Tauri bundle all take
//! the workspace version from `Cargo.toml`.

mod common;

use std::process::Command;

fn printed_version(program: std::path::PathBuf) -> String {
    let output = Command::new(program).arg("--version").output().expect("runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_string()
}

#[tokio::test]
async fn every_place_shows_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(iptincan::version::current(), version);
    assert_eq!(printed_version(common::server_binary()), format!("itc-server {version}"));
    assert_eq!(printed_version(common::client_binary()), format!("itc {version}"));

    let server = common::TestServer::start().await;
    let client = server.connect().await;
    assert_eq!(client.welcome().server.version, version, "the handshake");
    // GET /api/server carries the same ServerInfo (tests/cli.rs checks its version field too).
    let target = iptincan::update::health::Target {
        addr: server.running().rest_addr(),
        fingerprint: server.running().fingerprint(),
    };
    let health = iptincan::update::health::probe(target).await.expect("healthy");
    assert_eq!(health.version, version, "GET /api/health");

    let dir = tempfile::tempdir().expect("tempdir");
    let appliance = iptincan::appliance::Appliance::open_with_template(dir.path(), common::TEST_CONFIG).expect("opens");
    assert_eq!(appliance.status().version, version, "the dashboard's version");
}

/// The tray app's bundle takes its version from Cargo.toml too: tauri.conf.json names none.
#[test]
fn the_tray_bundle_has_no_version_of_its_own() {
    let config: serde_json::Value =
        serde_json::from_str(include_str!("../src-tauri/tauri.conf.json")).expect("tauri.conf.json");
    assert!(config.get("version").is_none(), "the version comes from Cargo.toml");
    let workspace = include_str!("../Cargo.toml");
    assert!(workspace.contains(&format!("[workspace.package]\nversion = \"{}\"", env!("CARGO_PKG_VERSION"))));
}
