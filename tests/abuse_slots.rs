//! Connection slots under attack (issue 18): connections that hold the TLS handshake, that
//! said `hello` and never log in, and logged-in connections of one account that sit idle do
//! not keep a new member out, on the control port or the REST port; the logged-in ones are
//! never the ones closed. Also the device cap, the keep-alive ping, and the once-a-minute
//! `warn` lines. Attackers bind to other loopback addresses (127.0.0.2 and up) so that the
//! per-address limits see them as the strangers they are. Every wait is bounded.

mod common;

use common::{next_message, ServerProcess, TestServer, MEMBER_PASSWORD, WAIT};
use iptincan::client::Client;
use iptincan::proto::{ErrorCode, Event, Reply, Request};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

/// The bound: the new member logs in and chats within this.
const WITHIN: Duration = Duration::from_secs(2);

/// Enough open files for a thousand attackers plus the server's side of them (in process).
/// Windows has no such limit on sockets.
#[cfg(target_os = "linux")]
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("reads the open-file limit");
    let wanted = 8192.min(hard);
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).expect("raises the open-file limit");
    }
}

/// 127.0.0.`last`.
fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection from `from` that never says anything (holds the TLS handshake open).
async fn silent_connection(from: IpAddr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from, 0)).ok()?;
    tokio::time::timeout(WAIT, socket.connect(to)).await.ok()?.ok()
}

/// Whether the server still answers `ping` on this connection.
async fn alive(client: &Client) -> bool {
    matches!(client.request(Request::Ping).await, Ok(Reply::Pong))
}

/// Runs `count` of `attempt` at once and keeps what succeeded.
async fn all_at_once<T: Send + 'static, F>(count: usize, attempt: impl Fn(usize) -> F) -> Vec<T>
where
    F: std::future::Future<Output = Option<T>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..count {
        set.spawn(attempt(i));
    }
    let mut kept = Vec::new();
    while let Some(done) = set.join_next().await {
        kept.extend(done.expect("attacker task"));
    }
    kept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_logs_in_and_chats_while_every_kind_of_slot_is_held() {
    #[cfg(target_os = "linux")]
    raise_open_file_limit();
    // Room for the device that registered the account plus the 200 idle ones.
    let server = TestServer::start_with(|config| config.server.max_devices_per_account = 201).await;
    let control = server.running().control_addr();
    let target = server.target();
    let mallory = server.connect().await;
    let token = mallory.register("mallory", MEMBER_PASSWORD).await.expect("registers").token;
    server.member("carol").await;
    let mut dave = server.member("dave").await;

    // 200 logged-in connections of one account, 10 from each of 20 addresses, then idle.
    let idle = all_at_once(20, |address| {
        let (target, token) = (target.clone(), token.clone());
        async move {
            let mut clients = Vec::new();
            for _ in 0..10 {
                let client = Client::connect_from(&target, None, Some(loopback(10 + address as u8))).await.ok()?;
                client.resume(&token).await.ok()?;
                clients.push(client);
            }
            Some(clients)
        }
    })
    .await;
    let idle: Vec<Client> = idle.into_iter().flatten().collect();
    assert_eq!(idle.len(), 200, "every idle device logged in");

    // 500 connections that never start the TLS handshake, 5 from each of 100 addresses.
    let silent = all_at_once(500, |i| silent_connection(loopback(40 + (i / 5) as u8), control)).await;
    // 300 that said hello and never log in, 5 from each of 60 addresses.
    let hello = all_at_once(300, |i| {
        let target = target.clone();
        async move {
            let connect = Client::connect_from(&target, None, Some(loopback(150 + (i / 5) as u8)));
            tokio::time::timeout(WAIT, connect).await.ok()?.ok()
        }
    })
    .await;
    assert_eq!(silent.len(), 500, "the kernel accepted every silent connection");
    assert!(!hello.is_empty(), "some hello holders got in");

    let started = Instant::now();
    let chatted = tokio::time::timeout(WITHIN, async {
        let carol = server.connect().await;
        carol.login("carol", MEMBER_PASSWORD).await.expect("carol logs in");
        let general = carol.find_channel("general").await.expect("general");
        carol.send(general.id, "made it in").await.expect("sent");
        carol
    })
    .await;
    let carol = chatted.unwrap_or_else(|_| panic!("carol was kept out for {:?}", started.elapsed()));
    assert_eq!(next_message(&mut dave).await.body, "made it in");

    // The REST port too: a GET from another address while 300 connections sit idle on it.
    let rest = server.running().rest_addr();
    let rest_idle = all_at_once(300, |i| silent_connection(loopback(40 + (i / 3) as u8), rest)).await;
    let health = iptincan::update::health::Target { addr: rest, fingerprint: server.running().fingerprint() };
    let report = tokio::time::timeout(WITHIN, iptincan::update::health::probe(health)).await;
    assert!(matches!(report, Ok(Ok(_))), "REST answered within 2 s: {report:?}");

    // No logged-in connection was closed to make room.
    for client in &idle {
        assert!(alive(client).await, "an idle device is still connected");
    }
    assert!(alive(&carol).await, "carol is still connected");
    drop((silent, hello, rest_idle));
}

#[tokio::test]
async fn an_account_has_at_most_its_devices_and_idle_connections_are_pinged() {
    let server = TestServer::start_with(|config| {
        config.server.max_devices_per_account = 2;
        config.server.keepalive_seconds = 1;
    })
    .await;
    let ann = server.connect().await;
    let token = ann.register("ann", MEMBER_PASSWORD).await.expect("registers").token;
    let second = server.connect().await;
    second.resume(&token).await.expect("second device");
    let third = server.connect().await;
    common::assert_code(third.resume(&token).await, ErrorCode::LimitReached);
    common::assert_code(third.login("ann", MEMBER_PASSWORD).await, ErrorCode::LimitReached);
    drop(second);
    tokio::time::timeout(WAIT, async {
        while third.resume(&token).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("room again once a device left");

    // The reference client answers the server's pings by itself: idle for several
    // keep-alive periods, it is still connected, and the pings never reach its events.
    let idle = server.connect().await;
    idle.login("ann", MEMBER_PASSWORD).await.expect_err("third device is in use");
    let mut bob = server.member("bob").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(alive(&bob).await, "still connected after 4 s idle");
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(100), bob.next_event()).await {
        assert!(!matches!(event, Event::Ping), "keep-alive pings are answered inside the client");
    }
    assert!(alive(&idle).await, "a connection not logged in is not pinged; its login deadline is 60 s");
}

#[tokio::test]
async fn a_client_that_does_not_answer_the_ping_is_closed() {
    use bytes::BytesMut;
    use iptincan::proto::{decode_frame, encode_frame, parse_payload, ClientFrame, ServerFrame};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|config| config.server.keepalive_seconds = 1).await;
    server.member("ann").await;
    let tcp = TcpStream::connect(server.running().control_addr()).await.expect("connects");
    let verifier = iptincan::tls::PinningVerifier::new(server.running().fingerprint());
    let connector = tokio_rustls::TlsConnector::from(verifier.client_config().expect("config"));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS");
    let hello = Request::Hello { versions: vec![1], client: "silent".into() };
    let login = Request::Login { username: "ann".into(), password: MEMBER_PASSWORD.into(), device: None };
    for (id, request) in [(1, hello), (2, login)] {
        tls.write_all(&encode_frame(&ClientFrame { id, request })).await.expect("writes");
    }
    let started = Instant::now();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            while let Some(payload) = decode_frame(&mut buf).expect("valid frames") {
                frames.push(parse_payload::<ServerFrame>(&payload).expect("parses"));
            }
            match tls.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("closed in time");
    assert!(frames.iter().any(|f| matches!(f, ServerFrame::Event { event: Event::Ping })), "{frames:?}");
    match frames.last() {
        Some(ServerFrame::Error { id: None, code: ErrorCode::Timeout, message }) => {
            assert_eq!(message, "did not answer the keep-alive ping within 1 s")
        }
        other => panic!("expected the timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "1 s idle, then 1 s to answer");
}

#[test]
fn each_kind_of_slot_pressure_is_one_warn_line_per_window_with_its_count_and_no_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = "[update]\ncheck = false\n[server]\nbind_address = \"127.0.0.1\"\ntcp_port = 0\nudp_port = 0\n\
                  rest_port = 0\nlog_level = \"info\"\nmax_unfinished_per_address = 16\nnew_connections_per_minute = 30\n";
    std::fs::write(dir.path().join("server.toml"), config).expect("config");
    let mut command = std::process::Command::new(common::server_binary());
    command.arg("--data-dir").arg(dir.path()).env("ITC_TEST_PRESSURE_WINDOW_MS", "2000");
    let server = ServerProcess::spawn_command(command).expect("server starts");
    let control: SocketAddr = server.control.parse().expect("control address");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // 40 at once from one address: 16 are let in, 14 more find it busy, 10 are over its rate
    // (30 a minute, all at once at first).
    let held = runtime.block_on(async {
        let mut held = Vec::new();
        for _ in 0..40 {
            held.extend(silent_connection(loopback(77), control).await);
        }
        held
    });
    assert_eq!(held.len(), 40);
    let busy = "refused 14 connections in the last 2s: too many unfinished connections from one address";
    let fast = "refused 10 connections in the last 2s: too many new connections from one address";
    let deadline = Instant::now() + WAIT;
    loop {
        let log = server.stderr();
        if log.contains(busy) && log.contains(fast) {
            break;
        }
        assert!(Instant::now() < deadline, "no pressure lines in time:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let log = server.stderr();
    assert_eq!(log.matches(busy).count(), 1, "one line per window:\n{log}");
    assert_eq!(log.matches(fast).count(), 1, "one line per window:\n{log}");
    assert!(!log.contains("127.0.0.77"), "no address at info:\n{log}");
    for line in log.lines().filter(|line| line.contains("refused")) {
        assert!(line.contains("WARN"), "{line}");
    }
    drop(held);
}
