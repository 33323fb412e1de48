//! The real `itc-server` binary: first run, second run, bad configuration, ports in use,
//! SIGTERM and SIGKILL, and the connection code's QR picture.

mod common;

use common::{next_matching, run_bounded, run_server_command, write_config, ServerProcess, MEMBER_PASSWORD, WAIT};
use iptincan::client::Client;
use iptincan::proto::{ChannelId, ErrorCode, Event};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn entries(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("reads dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect()
}

/// The spec's "First Run": exactly the documented files, the documented defaults, the default
/// admin, and the default ports. Uses ports 3784-3786 on loopback's wildcard like a real install.
#[tokio::test]
async fn first_run_creates_the_documented_files_and_a_second_run_reuses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::spawn(dir.path(), &[])
        .unwrap_or_else(|stderr| panic!("first run failed (is something else using ports 3784-3786?): {stderr}"));
    assert_eq!(server.control.rsplit(':').next(), Some("3784"));
    assert_eq!(server.rest.rsplit(':').next(), Some("3786"));
    let expected: BTreeSet<String> = [
        "server.toml",
        "itc-server.db",
        "itc-server.lock",
        "server-cert.pem",
        "server-key.pem",
        "device-cookie.key",
        "uploads",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(entries(dir.path()), expected);
    let written = std::fs::read_to_string(dir.path().join("server.toml")).expect("config");
    assert_eq!(written, iptincan::config::TEMPLATE);
    let reparsed = iptincan::config::parse(&written, "server.toml").expect("round-trips");
    assert_eq!(reparsed.config, iptincan::config::Config::default());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("server-key.pem")).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private key is readable by its owner only");
    }

    let mut target = server.target();
    if let iptincan::client::Target::Code(code) = &mut target {
        code.host = "127.0.0.1".into();
    }
    let admin = Client::connect(&target, None).await.expect("connects with the printed code");
    assert!(admin.login("chatter", "chatter").await.expect("default admin").must_change_password);
    admin.change_password("chatter", "our-family-secret").await.expect("changes");
    drop(admin);
    let first_code = server.code.clone();
    let (took, status) = server.terminate();
    assert!(status.success(), "clean exit on SIGTERM");
    assert!(took < Duration::from_secs(6), "stopped within shutdown_grace_seconds: {took:?}");

    let again = ServerProcess::spawn(dir.path(), &[]).expect("second run starts");
    assert_eq!(again.code, first_code, "same certificate, so the same code");
    assert_eq!(entries(dir.path()), expected);
    assert_eq!(std::fs::read_to_string(dir.path().join("server.toml")).expect("config"), written);
    let admin = Client::connect(&target, None).await.expect("connects");
    assert_code_login(&admin, "chatter", "chatter", ErrorCode::InvalidCredentials).await;
    admin.login("chatter", "our-family-secret").await.expect("the changed password persisted");
}

async fn assert_code_login(client: &Client, user: &str, password: &str, code: ErrorCode) {
    common::assert_code(client.login(user, password).await, code);
}

/// Each bad start-up stops with one line on stderr naming the key or port at fault.
#[test]
fn bad_configuration_stops_startup_with_one_clear_line() {
    let busy_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let busy_udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("binds");
    let tcp_port = busy_tcp.local_addr().expect("addr").port();
    let udp_port = busy_udp.local_addr().expect("addr").port();
    let in_use = |protocol: &str| format!("cannot listen on {protocol} 127.0.0.1:");
    let cases = [
        ("tcp_port = 0", "tcp_port = \"abc\"".to_string(), "", "server.tcp_port".to_string()),
        (
            "log_level = \"warn\"",
            "log_level = \"loud\"".into(),
            "",
            "server.log_level: must be one of trace, debug, info, warn, error".into(),
        ),
        ("log_level = \"warn\"", "max_users = -1".into(), "", "server.max_users".into()),
        ("", String::new(), "[auth]\nsession_ttl_seconds = 1", "auth.session_ttl_seconds".into()),
        (
            "",
            String::new(),
            "[tls]\ncert_path = \"/nonexistent/cert.pem\"\nkey_path = \"/nonexistent/key.pem\"",
            "tls.cert_path: file not found: /nonexistent/cert.pem".into(),
        ),
        ("", String::new(), "[vpn]\nsubnet = \"10.8.0.0/99\"", "vpn.subnet".into()),
        ("", String::new(), "[database]\npath = \"/nonexistent/dir/x.db\"", "database /nonexistent/dir/x.db".into()),
        ("tcp_port = 0", format!("tcp_port = {tcp_port}"), "", format!("server.tcp_port: {}", in_use("TCP"))),
        ("udp_port = 0", format!("udp_port = {udp_port}"), "", format!("server.udp_port: {}", in_use("UDP"))),
        ("rest_port = 0", format!("rest_port = {tcp_port}"), "", format!("server.rest_port: {}", in_use("TCP"))),
    ];
    for (line, replacement, sections, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = common::TEST_CONFIG.to_string();
        if !line.is_empty() {
            config = config.replace(line, &replacement);
        }
        std::fs::write(dir.path().join("server.toml"), format!("{config}{sections}\n")).expect("writes");
        let (ok, _, stderr) = run_server_command(dir.path(), &[]);
        assert!(!ok, "{expected}: must not start");
        let stderr = stderr.trim();
        assert_eq!(stderr.lines().count(), 1, "{expected}: one line, got {stderr:?}");
        assert!(stderr.contains(&expected), "{expected:?} not in {stderr:?}");
        if expected.contains("cannot listen") {
            assert!(stderr.to_lowercase().contains("in use"), "{stderr:?}");
        }
    }
}

#[test]
fn unknown_keys_warn_but_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "nmae = \"typo\"", "[extras]\nanything = 1");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts despite unknown keys");
    let (_, status) = {
        let stderr = server.stderr();
        assert!(stderr.contains("server.nmae: unknown key"), "{stderr}");
        assert!(stderr.contains("extras: unknown key"), "{stderr}");
        server.terminate()
    };
    assert!(status.success());
}

#[test]
fn custom_config_path_and_data_dir() {
    let data = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let config_path = elsewhere.path().join("family.toml");
    std::fs::write(&config_path, common::TEST_CONFIG.replace("[server]\n", "[server]\nname = \"Smith Family\"\n"))
        .expect("writes");
    let config_arg = config_path.to_string_lossy().into_owned();
    let server = ServerProcess::spawn(data.path(), &["--config", &config_arg]).expect("starts");
    let code = iptincan::code::ConnectionCode::decode(&server.code).expect("code");
    assert_eq!(code.name, "Smith Family");
    assert!(data.path().join("itc-server.db").exists());
    assert!(!data.path().join("server.toml").exists(), "the given config is used, none written");
    server.terminate();
}

#[tokio::test]
async fn sigterm_tells_connected_clients_and_stops_in_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "shutdown_grace_seconds = 2", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let mut client = Client::connect(&server.target(), None).await.expect("connects");
    client.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let (took, status) = server.terminate();
    assert!(status.success());
    assert!(took < Duration::from_secs(3), "{took:?}");
    let reason = next_matching(&mut client, |event| match event {
        Event::ServerShutdown { reason } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.contains("stopping"), "{reason}");
}

/// Nothing acknowledged is lost: SIGKILL while four members send as fast as they may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let target = server.target();
    let mut senders = Vec::new();
    for n in 0..4 {
        let client = Client::connect(&target, None).await.expect("connects");
        client.register(&format!("sender{n}"), MEMBER_PASSWORD).await.expect("registers");
        senders.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let started = Instant::now();
            for i in 0..5000 {
                if started.elapsed() > WAIT {
                    break;
                }
                match client.send(ChannelId(1), &format!("sender{n} message {i}")).await {
                    Ok(message) => acknowledged.push(message.id),
                    Err(err) if err.code() == Some(ErrorCode::RateLimited) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) => break, // the server is gone
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    let mut acknowledged = BTreeSet::new();
    for sender in senders {
        acknowledged.extend(sender.await.expect("sender task"));
    }
    assert!(acknowledged.len() > 100, "the senders were busy: {}", acknowledged.len());

    let restarted = ServerProcess::spawn(dir.path(), &[]).expect("restarts after SIGKILL");
    let reader = Client::connect(&restarted.target(), None).await.expect("connects");
    reader.login("sender0", MEMBER_PASSWORD).await.expect("logs in");
    let stored = common::all_message_ids(&reader, ChannelId(1)).await;
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost: {lost:?}", lost.len());
    restarted.terminate();
}

#[test]
fn code_command_prints_a_code_and_writes_a_qr_png_that_decodes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "name = \"Smith Family\"", "");
    let png = dir.path().join("code.png");
    let png_arg = png.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = run_server_command(dir.path(), &["code", "--host", "family.example", "--png", &png_arg]);
    assert!(ok, "{stderr}");
    let code_text = stdout.lines().next().expect("code line").trim().to_string();
    let code = iptincan::code::ConnectionCode::decode(&code_text).expect("valid code");
    assert_eq!((code.name.as_str(), code.host.as_str(), code.tls), ("Smith Family", "family.example", true));
    let cert = std::fs::read(dir.path().join("server-cert.pem")).expect("cert generated");
    assert!(!cert.is_empty());
    assert!(code.fingerprint.is_some());
    assert!(stdout.contains('█') || stdout.contains('▀') || stdout.contains('▄'), "a terminal QR follows");

    let zbarimg = std::process::Command::new("zbarimg").arg("--version").output();
    assert!(zbarimg.is_ok(), "zbarimg is missing: install zbar-tools (scripts/test does)");
    let (ok, decoded, stderr) = run_bounded(std::process::Command::new("zbarimg").args(["--raw", "-q", &png_arg]));
    assert!(ok, "zbarimg failed: {stderr}");
    assert_eq!(decoded.trim(), code_text);
}

/// Even at `trace`, the log holds no password, session token or message text.
#[tokio::test]
async fn logs_never_contain_secrets_or_message_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("server.toml"), common::TEST_CONFIG.replace("\"warn\"", "\"trace\""))
        .expect("writes");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let client = Client::connect(&server.target(), None).await.expect("connects");
    let password = "pw-MARKER-7f3a9c";
    let session = client.register("ann", password).await.expect("registers");
    let text = "text-MARKER-b41d77";
    client.send(ChannelId(1), text).await.expect("sends");
    common::assert_code(client.login("ann", "wrong-MARKER-0c9e").await, ErrorCode::NotAllowedNow);
    let other = Client::connect(&server.target(), None).await.expect("connects");
    common::assert_code(other.login("ann", "wrong-MARKER-0c9e").await, ErrorCode::InvalidCredentials);
    other.resume(&session.token).await.expect("resumes");
    drop((client, other));
    let stderr = server.stderr();
    let (_, status) = server.terminate();
    assert!(status.success());
    assert!(stderr.lines().count() > 5, "trace logging is on: {stderr}");
    for secret in [password, text, "wrong-MARKER-0c9e", session.token.as_str()] {
        assert!(!stderr.contains(secret), "{secret} leaked into the log");
    }
}
