//! The `itc` CLI as people script it: two terminals chat through a real server, passwords from
//! the environment and from stdin, and the REST API on its own port.

mod common;

use common::{client_binary, run_bounded, write_config, ServerProcess, WAIT};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn itc(server: &ServerProcess, known_hosts: &std::path::Path) -> Command {
    let mut command = Command::new(client_binary());
    command
        .env("ITC_SERVER", &server.code)
        .env("ITC_KNOWN_HOSTS", known_hosts)
        .env_remove("ITC_USER")
        .env_remove("ITC_PASSWORD");
    command
}

fn run_ok(command: &mut Command) -> String {
    let (ok, stdout, stderr) = run_bounded(command);
    assert!(ok, "{command:?} failed: {stderr}");
    stdout
}

#[test]
fn two_people_chat_with_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let known = dir.path().join("known_hosts");

    // The parent sets a password (read from stdin), then the family registers.
    let mut passwd = itc(&server, &known)
        .args(["--user", "chatter", "--password-stdin", "passwd"])
        .env("ITC_NEW_PASSWORD", "parent-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    passwd.stdin.take().expect("stdin").write_all(b"chatter\n").expect("writes");
    let output = passwd.wait_with_output().expect("finishes");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for name in ["mum", "kid"] {
        run_ok(itc(&server, &known).args(["--user", name, "register"]).env("ITC_PASSWORD", "family-password"));
    }

    // kid follows #general in one terminal...
    let mut follow = itc(&server, &known)
        .args(["--user", "kid", "follow", "general", "--count", "2", "--seconds", "20"])
        .env("ITC_PASSWORD", "family-password")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut follow_err = BufReader::new(follow.stderr.take().expect("stderr"));
    let mut line = String::new();
    follow_err.read_line(&mut line).expect("reads");
    assert!(line.contains("logged in as kid"), "{line}");

    // ...while mum sends from another.
    let sent = run_ok(
        itc(&server, &known)
            .args(["-u", "mum", "send", "#general", "homework", "done?"])
            .env("ITC_PASSWORD", "family-password"),
    );
    assert!(sent.starts_with("sent #"), "{sent}");
    run_ok(
        itc(&server, &known)
            .args(["-u", "mum", "send", "general", "dinner at 6"])
            .env("ITC_PASSWORD", "family-password"),
    );

    let started = std::time::Instant::now();
    let output = loop {
        if follow.try_wait().expect("wait").is_some() {
            break follow.wait_with_output().expect("output");
        }
        assert!(started.elapsed() < WAIT * 2, "follow did not finish");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(output.status.success());
    let seen = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines.len(), 2, "{seen}");
    assert!(lines[0].ends_with("mum: homework done?"), "{seen}");
    assert!(lines[1].ends_with("mum: dinner at 6"), "{seen}");

    // History, direct messages, channels and users.
    let history =
        run_ok(itc(&server, &known).args(["-u", "kid", "history", "general"]).env("ITC_PASSWORD", "family-password"));
    assert_eq!(history.lines().count(), 2, "{history}");
    run_ok(
        itc(&server, &known)
            .args(["-u", "kid", "dm", "mum", "can I have a snack"])
            .env("ITC_PASSWORD", "family-password"),
    );
    let direct =
        run_ok(itc(&server, &known).args(["-u", "mum", "history", "@kid"]).env("ITC_PASSWORD", "family-password"));
    assert!(direct.contains("kid: can I have a snack"), "{direct}");
    let channels = run_ok(itc(&server, &known).args(["-u", "mum", "channels"]).env("ITC_PASSWORD", "family-password"));
    assert!(channels.contains("#general"), "{channels}");
    let users = run_ok(itc(&server, &known).args(["-u", "chatter", "users"]).env("ITC_PASSWORD", "parent-password"));
    assert!(users.contains("chatter (owner)") && users.contains("kid (member)"), "{users}");

    // Admin commands: allowed for the parent, refused for the kid with a clear line.
    let created = run_ok(
        itc(&server, &known)
            .args(["-u", "chatter", "admin", "create-channel", "school"])
            .env("ITC_PASSWORD", "parent-password"),
    );
    assert!(created.contains("#school"), "{created}");
    let (ok, _, stderr) = run_bounded(
        itc(&server, &known)
            .args(["-u", "kid", "admin", "delete-channel", "school"])
            .env("ITC_PASSWORD", "family-password"),
    );
    assert!(!ok);
    assert!(stderr.contains("only admins can delete channels"), "{stderr}");

    // Wrong password: a clear error, non-zero exit.
    let (ok, _, stderr) =
        run_bounded(itc(&server, &known).args(["-u", "kid", "channels"]).env("ITC_PASSWORD", "nope-nope"));
    assert!(!ok);
    assert!(stderr.contains("wrong user name or password"), "{stderr}");
    server.terminate();
}

#[test]
fn cli_decodes_codes_and_reports_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "name = \"Smith Family\"", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let decoded = run_ok(Command::new(client_binary()).args(["decode", &server.code]));
    assert!(decoded.contains("name: Smith Family"), "{decoded}");
    assert!(decoded.contains("tls: true"), "{decoded}");
    let info = run_ok(Command::new(client_binary()).args(["--server", &server.code, "info"]));
    assert!(info.contains("motd: Welcome to IPTinCan!"), "{info}");

    let mut damaged = server.code.clone();
    damaged.truncate(damaged.len() - 3);
    let (ok, _, stderr) = run_bounded(Command::new(client_binary()).args(["--server", &damaged, "info"]));
    assert!(!ok);
    assert!(stderr.contains("damaged"), "{stderr}");
    server.terminate();
}

/// `GET /api/health` and `GET /api/server` over HTTPS with the server's own certificate.
#[tokio::test]
async fn rest_api_reports_health_and_server_info() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = common::TestServer::start_with(|config| config.server.name = "Smith Family".into()).await;
    let _ann = server.member("ann").await;
    let get = |path: &'static str| {
        let addr = server.running().rest_addr();
        let verifier = iptincan::tls::PinningVerifier::new(server.running().fingerprint());
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
            let connector = tokio_rustls::TlsConnector::from(verifier.client_config().expect("config"));
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let mut tls = connector.connect(name, tcp).await.expect("HTTPS");
            let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            tls.write_all(request.as_bytes()).await.expect("writes");
            let mut response = String::new();
            tls.read_to_string(&mut response).await.expect("reads");
            let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            serde_json::from_str::<serde_json::Value>(body).expect("JSON body")
        }
    };
    let health = get("/api/health").await;
    assert_eq!(health["status"], "ok");
    let info = get("/api/server").await;
    assert_eq!(info["name"], "Smith Family");
    assert_eq!(info["description"], "A community chat server");
    assert_eq!(info["motd"], "Welcome to IPTinCan!");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["tags"], serde_json::json!(["gaming", "community"]));
    assert_eq!(info["users_online"], 1);
    assert_eq!(info["port_mapping"]["state"], "off", "port mapping is off unless configured");
}
