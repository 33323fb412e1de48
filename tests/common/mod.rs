//! Test harness: real servers on loopback with ephemeral ports in temp dirs, in-process
//! ([`TestServer`]) or as the real `itc-server` binary ([`ServerProcess`]), and clients that
//! log in. Every wait is bounded.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod audio;
pub mod netns;
pub mod pattern;
pub mod picture;
pub mod release;
pub mod uploads_dir;

use iptincan::client::{Client, ClientError, Target};
use iptincan::config::{Config, DataDir};
use iptincan::proto::{ChannelId, ErrorCode, Event, MessageId};
use iptincan::server::{self, RunningServer};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The password the tests give the default admin.
pub const ADMIN_PASSWORD: &str = "family-admin-pass";
/// The password of every member the tests register.
pub const MEMBER_PASSWORD: &str = "member-password";
/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Config text for tests: no update checks, loopback only, ephemeral ports, quiet logs (ends
/// in the `[server]` section, so that more server keys can be appended).
pub const TEST_CONFIG: &str = "[update]\ncheck = false\n[server]\nbind_address = \"127.0.0.1\"\ntcp_port = 0\nudp_port = 0\nrest_port = 0\nlog_level = \"warn\"\n";

/// A configuration for tests: [`TEST_CONFIG`], with the registration limits out of the way
/// (tests register many members from 127.0.0.1).
pub fn test_config() -> Config {
    let mut config = iptincan::config::parse(TEST_CONFIG, "test").expect("test config is valid").config;
    config.auth.registrations_per_address = 10_000;
    config.auth.registrations_per_server = 100_000;
    config
}

/// An in-process server in its own temp dir.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub config: Config,
    running: Option<RunningServer>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config();
        adjust(&mut config);
        let running = server::start(config.clone(), DataDir::new(dir.path())).await.expect("server starts");
        TestServer { dir, config, running: Some(running) }
    }

    pub fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("running")
    }

    /// The connection code for 127.0.0.1.
    pub fn target(&self) -> Target {
        Target::Code(self.running().connection_code("127.0.0.1"))
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.target(), None).await.expect("connects")
    }

    /// The default admin, logged in, with the password changed to [`ADMIN_PASSWORD`] (once).
    pub async fn admin(&self) -> Client {
        let client = self.connect().await;
        match client.login("chatter", ADMIN_PASSWORD).await {
            Ok(_) => {}
            Err(_) => {
                let session = client.login("chatter", "chatter").await.expect("default admin logs in");
                assert!(session.must_change_password);
                client.change_password("chatter", ADMIN_PASSWORD).await.expect("changes password");
            }
        }
        client
    }

    /// A newly registered member.
    pub async fn member(&self, name: &str) -> Client {
        let client = self.connect().await;
        client.register(name, MEMBER_PASSWORD).await.expect("registers");
        client
    }

    /// Stops the server (gracefully) and returns its data dir for a restart.
    pub async fn stop(mut self) -> (tempfile::TempDir, Config) {
        if let Some(running) = self.running.take() {
            assert!(running.shutdown().await, "stopped within the grace period");
        }
        (self.dir, self.config)
    }

    /// Starts again on an existing data dir.
    pub async fn restart(dir: tempfile::TempDir, config: Config) -> TestServer {
        let running = server::start(config.clone(), DataDir::new(dir.path())).await.expect("server restarts");
        TestServer { dir, config, running: Some(running) }
    }
}

/// Waits for the next event matching `want`, skipping others.
pub async fn next_matching<T>(client: &mut Client, mut want: impl FnMut(Event) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = client.next_event().await.expect("connection open");
            if let Some(found) = want(event) {
                return found;
            }
        }
    })
    .await
    .expect("event arrived in time")
}

/// Waits for the next new chat message.
pub async fn next_message(client: &mut Client) -> iptincan::proto::Message {
    next_matching(client, |event| match event {
        Event::MessageCreated(message) => Some(message),
        _ => None,
    })
    .await
}

/// Every message id in a channel's history, paging back to the start.
pub async fn all_message_ids(client: &Client, channel_id: ChannelId) -> std::collections::BTreeSet<MessageId> {
    let mut stored = std::collections::BTreeSet::new();
    let mut before = None;
    loop {
        let page = client.history(channel_id, before, Some(100)).await.expect("history");
        stored.extend(page.messages.iter().map(|m| m.id));
        if !page.has_more {
            return stored;
        }
        before = page.messages.first().map(|m| m.id);
    }
}

/// Asserts that a request failed with `code`.
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, ClientError>, code: ErrorCode) {
    match result {
        Err(ClientError::Server { code: actual, .. }) if actual == code => {}
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

/// The `itc-server` binary under test.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_itc-server"))
}

/// The `itc` binary under test.
pub fn client_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_itc"))
}

/// The real server binary, running in `dir`.
pub struct ServerProcess {
    pub child: Child,
    pub code: String,
    pub control: String,
    pub rest: String,
    stderr: tempfile::NamedTempFile,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `itc-server --data-dir dir` and waits for its connection code. On failure
    /// returns what it wrote to stderr.
    pub fn spawn(dir: &Path, extra_args: &[&str]) -> Result<ServerProcess, String> {
        let mut command = Command::new(server_binary());
        command.arg("--data-dir").arg(dir).args(extra_args);
        Self::spawn_command(command)
    }

    /// Runs `command` (which must end up exec-ing `itc-server`) and waits for its code.
    pub fn spawn_command(mut command: Command) -> Result<ServerProcess, String> {
        let stderr_log = tempfile::NamedTempFile::new().expect("stderr file");
        let stderr = stderr_log.reopen().expect("stderr file");
        // Whatever the server tries to reach off this machine (the default update feed) goes to
        // a closed port on loopback instead; loopback itself is reached directly.
        command.env("ALL_PROXY", "http://127.0.0.1:9").env("NO_PROXY", "127.0.0.1,localhost,::1");
        let mut child = command.stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawns itc-server");
        let stdout = child.stdout.take().expect("stdout piped");
        let (lines_tx, lines_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut control, mut rest) = (String::new(), String::new());
        loop {
            match lines_rx.recv_timeout(WAIT) {
                Ok(line) if line.contains("listening control=") => {
                    let field = |name: &str| {
                        line.split_whitespace()
                            .find_map(|part| part.strip_prefix(name))
                            .map(|addr| addr.split_once('/').map_or(addr, |(_, a)| a).to_string())
                            .unwrap_or_default()
                    };
                    control = field("control=");
                    rest = field("rest=");
                }
                Ok(line) if line.starts_with("Connection code: ") => {
                    let code = line.trim_start_matches("Connection code: ").trim().to_string();
                    return Ok(ServerProcess { child, code, control, rest, stderr: stderr_log, stdout: lines_rx });
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(std::fs::read_to_string(stderr_log.path()).unwrap_or_default());
                }
            }
        }
    }

    pub fn target(&self) -> Target {
        Target::parse(&self.code).expect("valid code")
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// The next line the server prints on stdout that starts with `prefix`, waiting at most
    /// `limit`; other lines are skipped.
    pub fn next_stdout_line(&self, prefix: &str, limit: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns how long it took.
    pub fn terminate(mut self) -> (Duration, std::process::ExitStatus) {
        let started = std::time::Instant::now();
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (started.elapsed(), status);
            }
            assert!(started.elapsed() < WAIT, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no goodbyes.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` and waits (bounded) until a line of its stderr starts with `ready`; its
/// stderr keeps being drained afterwards. A process that never says so is killed.
pub fn spawn_until_ready(command: Command, ready: &str) -> Child {
    spawn_until_ready_with_stderr(command, ready).0
}

/// [`spawn_until_ready`], also handing back the lines of stderr that come after `ready`.
pub fn spawn_until_ready_with_stderr(mut command: Command, ready: &str) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawns");
    let stderr = child.stderr.take().expect("stderr piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    loop {
        match lines_rx.recv_timeout(WAIT) {
            Ok(line) if line.starts_with(ready) => return (child, lines_rx),
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command:?} never printed a line starting with {ready:?}");
            }
        }
    }
}

/// Runs `itc-server` with arguments to completion (bounded) and returns (success, stdout, stderr).
pub fn run_server_command(dir: &Path, args: &[&str]) -> (bool, String, String) {
    run_bounded(Command::new(server_binary()).arg("--data-dir").arg(dir).args(args))
}

/// Runs a command with a time limit; returns (success, stdout, stderr).
pub fn run_bounded(command: &mut Command) -> (bool, String, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns");
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > WAIT * 3 {
            let _ = child.kill();
            panic!("command did not finish in time: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `itc` against an in-process server as `user` (bounded); returns (success, stdout,
/// stderr).
pub async fn itc_as(server: &TestServer, user: &str, password: &str, args: &[&str]) -> (bool, String, String) {
    let code = server.running().connection_code("127.0.0.1").encode().expect("code");
    let mut command = Command::new(client_binary());
    command
        .env("ITC_SERVER", code)
        .env("ITC_KNOWN_HOSTS", server.dir.path().join("itc-known-hosts"))
        .env("ITC_USER", user)
        .env("ITC_PASSWORD", password)
        .stdin(Stdio::null())
        .args(args);
    tokio::task::spawn_blocking(move || run_bounded(&mut command)).await.expect("runs")
}

/// Writes a test config (plus `extra` TOML appended into its sections) into `dir`.
pub fn write_config(dir: &Path, server_extra: &str, rest: &str) {
    let text = format!("{TEST_CONFIG}{server_extra}\n{rest}\n");
    std::fs::write(dir.join("server.toml"), text).expect("writes config");
}

/// An HTTPS connection to `server`'s REST port, pinned to its certificate.
pub async fn rest_connect(server: &TestServer) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let verifier = iptincan::tls::PinningVerifier::new(server.running().fingerprint());
    let tcp = tokio::net::TcpStream::connect(server.running().rest_addr()).await.expect("connects");
    let connector = tokio_rustls::TlsConnector::from(verifier.client_config().expect("config"));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("HTTPS")
}
