//! What can be checked of the installers without building them: `itc-server health` (the
//! container's HEALTHCHECK), and that the Docker, Compose, Debian and Windows files agree with
//! the documented ports, the `/data` volume and each other. No Docker engine runs on the
//! development machines; `scripts/test-package` installs the real `.deb` on a fresh Debian.

mod common;

use common::{run_server_command, ServerProcess};
use iptincan::config::Config;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn the_health_command_answers_for_a_running_server_and_fails_for_a_stopped_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::write_config(dir.path(), "", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let (healthy, stdout, stderr) = run_server_command(dir.path(), &["health", "--address", &server.rest]);
    assert!(healthy, "{stderr}");
    let expected = format!("ok: itc-server {} at {}, up ", env!("CARGO_PKG_VERSION"), server.rest);
    assert!(stdout.starts_with(&expected), "{stdout}");
    let rest = server.rest.clone();
    server.terminate();
    let (healthy, _, stderr) = run_server_command(dir.path(), &["health", "--address", &rest]);
    assert!(!healthy, "a stopped server is not healthy");
    assert!(stderr.contains("no answer from"), "{stderr}");
}

#[test]
fn the_container_image_publishes_the_documented_ports_and_keeps_data_in_a_volume() {
    let defaults = Config::default().server;
    let dockerfile = read("installer/Dockerfile");
    let expose = format!("EXPOSE {}/tcp {}/udp {}/tcp", defaults.tcp_port, defaults.udp_port, defaults.rest_port);
    assert!(dockerfile.contains(&expose), "{expose}");
    for line in [
        "FROM debian:bookworm-slim",
        "VOLUME /data",
        "USER iptincan",
        "CMD [\"itc-server\", \"--data-dir\", \"/data\", \"health\"]",
        "ENTRYPOINT [\"itc-server\", \"--data-dir\", \"/data\"]",
    ] {
        assert!(dockerfile.contains(line), "the Dockerfile lacks {line}");
    }
    // Every file the build stage copies from the context exists (the context is the repository).
    for copied in ["Cargo.toml", "Cargo.lock", "src/bin/itc-server.rs", "src/bin/itc.rs"] {
        assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(copied).exists(), "{copied}");
    }
    let compose = read("installer/compose.yaml");
    for port in [
        format!("\"{0}:{0}\"", defaults.tcp_port),
        format!("\"{0}:{0}/udp\"", defaults.udp_port),
        format!("\"{0}:{0}\"", defaults.rest_port),
    ] {
        assert!(compose.contains(&port), "compose.yaml lacks {port}");
    }
    assert!(compose.contains("iptincan-data:/data") && compose.contains("dockerfile: installer/Dockerfile"));
}

#[test]
fn the_debian_package_runs_the_service_as_its_own_user_and_keeps_data_until_purge() {
    let config: serde_json::Value = serde_json::from_str(&read("installer/linux/tauri.linux.json")).expect("JSON");
    let deb = &config["bundle"]["linux"]["deb"];
    for key in ["postInstallScript", "preRemoveScript", "postRemoveScript", "desktopTemplate"] {
        let path = deb[key].as_str().expect(key).trim_start_matches("../");
        assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path).exists(), "{key}: {path}");
    }
    assert_eq!(config["productName"], "iptincan", "the Debian package is called iptincan");
    let unit = read("installer/linux/iptincan-server.service");
    assert!(
        unit.contains("User=iptincan") && unit.contains("ExecStart=/usr/bin/itc-server --data-dir /var/lib/iptincan")
    );
    let postrm = read("installer/linux/postrm");
    assert!(postrm.contains("purge)\n        rm -rf /var/lib/iptincan"), "only purge deletes the data");
    assert!(!read("installer/linux/postinst").contains("systemctl enable"), "the service stays disabled");
}

#[test]
fn the_windows_installer_is_per_user_and_carries_wintun() {
    let script = read("installer/windows/installer.nsi");
    for line in [
        "RequestExecutionLevel user",
        "InstallDir \"$LOCALAPPDATA\\${PRODUCT}\"",
        "File \"${STAGE}/wintun.dll\"",
        "WriteRegStr HKCU \"Software\\Classes\\itc\" \"URL Protocol\" \"\"",
    ] {
        assert!(script.contains(line), "installer.nsi lacks {line}");
    }
    let workflow = read(".github/workflows/windows.yml");
    assert!(workflow.contains("WINTUN_SHA256") && workflow.contains("installer/windows/wintun.dll \"$stage/\""));
    assert!(workflow.contains("installer/windows/installer.nsi"), "the workflow builds the same installer");
    assert!(read("scripts/package").contains("installer/windows/installer.nsi"), "so does scripts/package");
}

/// The value of `!define NAME "VALUE"` in the NSIS script.
fn nsis_define<'a>(script: &'a str, name: &str) -> &'a str {
    let prefix = format!("!define {name} \"");
    let line = script.lines().find_map(|line| line.strip_prefix(prefix.as_str()));
    line.and_then(|rest| rest.strip_suffix('"')).unwrap_or_else(|| panic!("installer.nsi defines no {name}"))
}

#[test]
fn the_windows_installer_installs_webview2_and_its_uninstaller_cleans_up_after_the_app() {
    let script = read("installer/windows/installer.nsi");
    let tauri: serde_json::Value = serde_json::from_str(&read("src-tauri/tauri.conf.json")).expect("JSON");
    // The autostart plugin names its Run value after the product; the app's data folder is its identifier.
    assert_eq!(nsis_define(&script, "PRODUCT"), tauri["productName"], "the autostart value's name");
    assert_eq!(nsis_define(&script, "DATA_FOLDER"), tauri["identifier"], "the app's data folder");
    assert_eq!(nsis_define(&script, "RUN_KEY"), r"Software\Microsoft\Windows\CurrentVersion\Run");
    let uninstall = script.split("Section \"Uninstall\"").nth(1).expect("an uninstall section");
    for line in [
        "DeleteRegValue HKCU \"${RUN_KEY}\" \"${PRODUCT}\"",
        "DeleteRegValue HKCU \"${STARTUP_APPROVED_KEY}\" \"${PRODUCT}\"",
        "${un.GetOptions} $R0 \"/DELETEDATA\" $R1",
        "RMDir /r \"$APPDATA\\${DATA_FOLDER}\"",
    ] {
        assert!(uninstall.contains(line), "the uninstaller lacks {line}");
    }
    // Asked, with No as the default, and kept when silent unless /DELETEDATA says otherwise.
    let question = uninstall.lines().find(|line| line.contains("Also delete your")).expect("the question");
    assert!(question.contains("MB_DEFBUTTON2") && question.contains("/SD IDNO IDNO keep"), "{question}");
    // WebView2: looked up in the registry, installed by the bundled bootstrapper when missing.
    let setup = nsis_define(&script, "WEBVIEW2_SETUP");
    assert_eq!(setup, "MicrosoftEdgeWebview2Setup.exe");
    assert!(script.contains("{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}") && script.contains("\"pv\""));
    assert!(script.contains("ExecWait '\"$PLUGINSDIR\\${WEBVIEW2_SETUP}\" /silent /install' $1"));
    assert!(script.contains("Call InstallWebView2"), "the install section runs the WebView2 check");
    let workflow = read(".github/workflows/windows.yml");
    assert!(workflow.contains(&format!("installer/windows/{setup}")), "the workflow downloads {setup}");
    assert!(workflow.contains(&format!("installer/windows/{setup} \"$stage/\"")), "and stages it");
    assert!(read("scripts/package").contains(&format!("cp installer/windows/{setup} \"$stage/\"")));
}
