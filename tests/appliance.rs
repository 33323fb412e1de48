//! Every tray action, without a window: first-run setup, start, stop, restart, quit, status,
//! copy the connection code, invite someone, back up (also while stopped) and restore, and the
//! log lines the dashboard shows. Each test drives a real `Appliance` on a temp data directory,
//! with loopback and free ports.

mod common;

use common::TEST_CONFIG;
use common::WAIT;
use iptincan::appliance::{
    Appliance, ApplianceError, ApplianceState, BackupProgress, BackupResult, InviteRequest, SetupChoices,
};
use iptincan::client::{Client, Target};
use iptincan::code::{ConnectionCode, Invite};
use iptincan::proto::{AuthMethod, ErrorCode, Role};
use std::sync::Arc;

fn choices(password: &str) -> SetupChoices {
    SetupChoices {
        server_name: "The Millers".into(),
        admin_password: password.into(),
        // Router discovery never runs on the host: only in test namespaces.
        open_router_ports: false,
    }
}

fn fresh() -> (tempfile::TempDir, Appliance) {
    let dir = tempfile::tempdir().expect("tempdir");
    let appliance = Appliance::open_with_template(dir.path().join("data"), TEST_CONFIG).expect("opens");
    (dir, appliance)
}

fn target_for(appliance: &Appliance) -> Target {
    let code = appliance.connection_code().expect("a code while running");
    let mut code = ConnectionCode::decode(&code).expect("valid code");
    code.host = "127.0.0.1".into();
    Target::Code(code)
}

async fn client_for(appliance: &Appliance) -> Client {
    Client::connect(&target_for(appliance), None).await.expect("connects")
}

/// A family member joins the way the tray's server lets them: with an invite from the dashboard.
async fn join(appliance: &Appliance, name: &str, password: &str) -> Client {
    let card = appliance.create_invite(InviteRequest::default()).await.expect("an invite");
    let client = client_for(appliance).await;
    client.redeem_invite(&card.text, name, password).await.expect("joins with the invite");
    client
}

#[tokio::test]
async fn first_run_setup_starts_the_server_with_the_parents_password() {
    let (_dir, appliance) = fresh();
    assert!(appliance.needs_setup());
    assert_eq!(appliance.status().state, ApplianceState::SetupNeeded);
    assert!(matches!(appliance.start().await, Err(ApplianceError::NotSetUp)));

    let short = appliance.setup(choices("short")).await.expect_err("too short");
    assert!(short.to_string().contains("8 to 1024"), "{short}");
    let unnamed = SetupChoices { server_name: "  ".into(), ..choices("parent-password") };
    assert!(matches!(appliance.setup(unnamed).await, Err(ApplianceError::BadChoice(_))));
    assert!(appliance.needs_setup(), "a refused setup writes nothing");

    let status = appliance.setup(choices("parent-password")).await.expect("sets up");
    assert_eq!(status.state, ApplianceState::Running);
    assert_eq!(status.server_name, "The Millers");
    let code = ConnectionCode::decode(status.connection_code.as_deref().expect("a code")).expect("valid");
    assert_eq!(code.name, "The Millers");
    assert!(code.fingerprint.is_some(), "the certificate was generated");
    let data = appliance.data_dir().root();
    assert!(data.join("server-cert.pem").exists() && data.join("server.toml").exists());
    assert!(std::fs::read_to_string(data.join("server.toml")).expect("reads").contains("The Millers"));

    let client = client_for(&appliance).await;
    assert_eq!(
        client.login("chatter", "chatter").await.err().and_then(|e| e.code()),
        Some(ErrorCode::InvalidCredentials)
    );
    let session = client.login("chatter", "parent-password").await.expect("the parent's password works");
    assert!(!session.must_change_password, "no forced change: the parent chose it");

    // Invite-only: nobody registers without an invite.
    let config = std::fs::read_to_string(data.join("server.toml")).expect("reads");
    assert!(config.contains("allow_registration = false"), "{config}");
    let stranger = client_for(&appliance).await;
    assert!(!stranger.welcome().auth_methods.contains(&AuthMethod::Register));
    assert_eq!(
        stranger.register("stranger", "stranger-password").await.err().and_then(|e| e.code()),
        Some(ErrorCode::RegistrationClosed)
    );
    assert!(matches!(appliance.setup(choices("parent-password")).await, Err(ApplianceError::AlreadySetUp)));
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn password_guessing_shows_on_the_dashboard_in_plain_words() {
    let (_dir, appliance) = fresh();
    appliance.setup(choices("parent-password")).await.expect("sets up");
    assert!(appliance.status().pressure.is_empty());
    let target = target_for(&appliance);
    // Eleven addresses try a wrong password for the parent's account; the first is refused
    // when it tries again.
    for last in (10..21).chain([10]) {
        let local = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last));
        let guesser = Client::connect_from(&target, None, Some(local)).await.expect("connects");
        let refused = guesser.login("chatter", "a-wrong-guess").await.expect_err("wrong password");
        assert!(matches!(refused.code(), Some(ErrorCode::InvalidCredentials | ErrorCode::RateLimited)));
    }
    let status = appliance.status();
    assert_eq!(
        status.pressure,
        vec!["Someone is trying many passwords for chatter's account; chatter's own devices are not affected."]
    );
    assert_eq!(status.state, ApplianceState::Running, "nothing for the parent to do");
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn the_log_level_follows_the_configuration() {
    let (dir, appliance) = fresh();
    assert_eq!(appliance.log_level(), tracing::Level::INFO, "info before setup");
    appliance.setup(choices("parent-password")).await.expect("sets up");
    assert_eq!(appliance.log_level(), tracing::Level::WARN, "the template says warn");
    appliance.stop().await.expect("stops");
    let reopened = Appliance::open(dir.path().join("data")).expect("reopens");
    assert_eq!(reopened.log_level(), tracing::Level::WARN, "read back from server.toml");
}

#[tokio::test]
async fn start_stop_restart_and_status() {
    let (dir, appliance) = fresh();
    appliance.setup(choices("parent-password")).await.expect("sets up");
    let client = client_for(&appliance).await;
    client.login("chatter", "parent-password").await.expect("logs in");
    let status = appliance.status();
    assert_eq!((status.state, status.users_online), (ApplianceState::Running, 1));
    assert!(status.reachability.contains("router port opening is off"), "{}", status.reachability);

    let stopped = appliance.stop().await.expect("stops");
    assert_eq!((stopped.state, stopped.connection_code, stopped.users_online), (ApplianceState::Stopped, None, 0));
    assert!(appliance.connection_code().is_none());
    appliance.stop().await.expect("stopping twice is fine");
    assert!(matches!(appliance.create_invite(InviteRequest::default()).await, Err(ApplianceError::NotRunning)));

    appliance.start().await.expect("starts again");
    let restarted = appliance.restart().await.expect("restarts");
    assert_eq!(restarted.state, ApplianceState::Running);
    client_for(&appliance).await.login("chatter", "parent-password").await.expect("same account after restart");
    appliance.stop().await.expect("stops");

    // A new appliance on the same directory (the app started again) is already set up.
    let again = Appliance::open(dir.path().join("data")).expect("opens");
    assert!(!again.needs_setup());
    assert_eq!(again.status().server_name, "The Millers");
    assert_eq!(again.status().state, ApplianceState::Stopped);
}

#[tokio::test]
async fn a_failed_start_needs_attention_in_plain_words() {
    let (_dir, appliance) = fresh();
    appliance.setup(choices("parent-password")).await.expect("sets up");
    appliance.stop().await.expect("stops");
    let data = appliance.data_dir().root().to_path_buf();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = taken.local_addr().expect("addr").port();
    let config = std::fs::read_to_string(data.join("server.toml")).expect("reads");
    std::fs::write(data.join("server.toml"), config.replace("tcp_port = 0", &format!("tcp_port = {port}")))
        .expect("writes");

    let failed = appliance.start().await.expect_err("the port is taken");
    assert!(failed.to_string().contains("server.tcp_port"), "{failed}");
    let status = appliance.status();
    assert_eq!(status.state, ApplianceState::NeedsAttention);
    assert!(status.attention.iter().any(|line| line.contains("cannot listen")), "{:?}", status.attention);

    drop(taken);
    appliance.start().await.expect("starts once the port is free");
    assert_eq!(appliance.status().state, ApplianceState::Running, "the problem is cleared");
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn invite_someone_gives_a_qr_picture_and_a_working_invite() {
    let (_dir, appliance) = fresh();
    appliance.setup(choices("parent-password")).await.expect("sets up");
    let request = InviteRequest { note: Some("Grandma".into()), ..InviteRequest::default() };
    let card = appliance.create_invite(request).await.expect("invites");
    assert!(card.qr_svg.starts_with("<?xml") && card.qr_svg.contains("<svg"), "an SVG picture");
    let invite = Invite::decode(&card.text).expect("an invite");
    assert_eq!(Some(invite.code.encode().expect("encodes")), appliance.connection_code());
    assert_eq!(card.link, format!("itc://join/{}", card.text), "the link form of the same invite");
    assert_eq!(Invite::decode(&card.link).expect("the link decodes"), invite);

    let grandma = client_for(&appliance).await;
    let session = grandma.redeem_invite(&card.text, "grandma", "grandma-password").await.expect("joins");
    assert_eq!(session.user.role, Role::Member);
    let listed = appliance.list_invites().await.expect("lists");
    assert_eq!((listed.len(), listed[0].uses, listed[0].note.as_deref()), (1, 1, Some("Grandma")));
    assert!(appliance.revoke_invite(card.invite.id).await.is_ok());
    let bad = InviteRequest { uses: Some(0), ..InviteRequest::default() };
    assert!(appliance.create_invite(bad).await.expect_err("refused").to_string().contains("1 to 100"));
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn back_up_now_then_restore_from_the_dashboard() {
    let (_dir, appliance) = fresh();
    appliance.setup(choices("parent-password")).await.expect("sets up");
    assert!(appliance.status().last_backup.is_none());
    assert!(appliance.status().next_backup.is_some(), "the nightly backup is scheduled");
    let _ann = join(&appliance, "ann", "ann-password").await;

    let backup = appliance.back_up_now().await.expect("backs up");
    assert!(backup.path.exists() && backup.size_bytes > 0 && !backup.encrypted);
    assert_eq!(appliance.list_backups().expect("lists").len(), 1);
    assert_eq!(appliance.status().last_backup.map(|entry| entry.path), Some(backup.path.clone()));

    drop(join(&appliance, "bob", "bob-password").await);
    let mut damaged = std::fs::read(&backup.path).expect("reads");
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let damaged_path = backup.path.with_file_name("damaged.tar");
    std::fs::write(&damaged_path, damaged).expect("writes");
    let refused = appliance.restore(damaged_path, None).await.expect_err("a damaged archive is refused");
    assert!(
        refused.to_string().contains("damaged") || refused.to_string().contains("not an IPTinCan backup"),
        "{refused}"
    );
    assert_eq!(appliance.status().state, ApplianceState::Running, "the server runs again after a refused restore");
    client_for(&appliance).await.login("bob", "bob-password").await.expect("nothing was lost");

    let restored = appliance.restore(backup.path.clone(), None).await.expect("restores");
    assert_eq!(restored.state, ApplianceState::Running);
    let client = client_for(&appliance).await;
    client.login("ann", "ann-password").await.expect("ann is in the backup");
    let after = client_for(&appliance).await;
    assert_eq!(
        after.login("bob", "bob-password").await.err().and_then(|e| e.code()),
        Some(ErrorCode::InvalidCredentials),
        "bob joined after the backup"
    );
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn back_up_now_works_while_the_server_is_stopped() {
    let (_dir, appliance) = fresh();
    assert!(matches!(appliance.back_up_now().await, Err(ApplianceError::NotSetUp)));
    appliance.setup(choices("parent-password")).await.expect("sets up");
    drop(join(&appliance, "ann", "ann-password").await);
    std::fs::write(appliance.data_dir().uploads().join("drawing.png"), b"a drawing").expect("writes");
    let stopped = appliance.stop().await.expect("stops");
    assert_eq!((stopped.state, stopped.next_backup), (ApplianceState::Stopped, None), "nightly only while running");

    let entry = appliance.back_up_now().await.expect("backs up while stopped");
    let manifest = iptincan::backup::verify(&entry.path, None).expect("a verified archive");
    let files: Vec<_> = manifest.files.iter().map(|file| file.path.as_str()).collect();
    for wanted in ["server.toml", "itc-server.db", "server-cert.pem", "server-key.pem", "uploads/drawing.png"] {
        assert!(files.contains(&wanted), "{wanted} is not in {files:?}");
    }
    let status = appliance.status();
    assert_eq!(status.state, ApplianceState::Stopped, "backing up did not start the server");
    assert_eq!(status.last_backup.map(|last| last.path), Some(entry.path.clone()));
    let outcome = status.last_backup_outcome.expect("an outcome");
    assert_eq!(outcome.result, BackupResult::Written);

    // The archive holds what was there when the server stopped.
    appliance.restore(entry.path, None).await.expect("restores");
    client_for(&appliance).await.login("ann", "ann-password").await.expect("ann is in the backup");
    appliance.stop().await.expect("stops");
}

/// Starts "Back up now" in the background and waits (bounded) until the dashboard shows it
/// writing the archive.
async fn backing_up(
    appliance: &Arc<Appliance>,
) -> tokio::task::JoinHandle<Result<iptincan::appliance::BackupEntry, ApplianceError>> {
    let task = tokio::spawn({
        let appliance = appliance.clone();
        async move { appliance.back_up_now().await }
    });
    let started = std::time::Instant::now();
    while appliance.status().backup_progress.is_none_or(|p| p.activity != "Backing up: writing the archive") {
        assert!(started.elapsed() < WAIT, "the backup did not start writing");
        assert!(!task.is_finished(), "the backup ended before it was seen writing");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_a_backup_finish_in_the_background_and_quit_cancels_one_cleanly() {
    let (_dir, appliance) = fresh();
    let appliance = Arc::new(appliance);
    appliance.setup(choices("parent-password")).await.expect("sets up");
    // Enough data that writing and verifying it outlasts a stop.
    let photo: Vec<u8> = (0..32u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(appliance.data_dir().uploads().join("holiday.jpg"), photo).expect("writes");
    let folder = appliance.data_dir().root().join("backups");

    // Stop: returns without waiting for the backup, which finishes in the background.
    let first = backing_up(&appliance).await;
    let stopped = tokio::time::timeout(WAIT, appliance.stop()).await.expect("stop does not wait").expect("stops");
    assert_eq!(stopped.state, ApplianceState::Stopped);
    assert!(stopped.backup_progress.is_some(), "the backup is still under way after the stop");
    assert!(!first.is_finished());
    appliance.start().await.expect("the server starts again beside the backup");
    let entry = tokio::time::timeout(WAIT * 3, first).await.expect("finishes").expect("task").expect("backs up");
    iptincan::backup::verify(&entry.path, None).expect("the archive finished in the background is sound");
    let status = appliance.status();
    assert_eq!(status.last_backup_outcome.map(|outcome| outcome.result), Some(BackupResult::Written));
    assert_eq!(status.backup_progress, None);

    // Quit: cancels the backup under way and removes its partial archive before returning.
    let second = backing_up(&appliance).await;
    let quit = tokio::time::timeout(WAIT, appliance.quit()).await.expect("quit does not wait").expect("quits");
    assert_eq!(quit.state, ApplianceState::Stopped);
    assert_eq!(quit.backup_progress, None);
    let outcome = quit.last_backup_outcome.expect("an outcome");
    assert_eq!(outcome.result, BackupResult::Cancelled, "{}", outcome.message);
    assert!(outcome.message.contains("cancelled"), "{}", outcome.message);
    assert!(quit.attention.is_empty(), "a cancel is not a failure: {:?}", quit.attention);
    let ended = tokio::time::timeout(WAIT, second).await.expect("ended").expect("task");
    assert!(matches!(ended, Err(ApplianceError::Backup(iptincan::backup::BackupError::Cancelled))), "{ended:?}");
    let left: Vec<_> = std::fs::read_dir(&folder).expect("lists").map(|e| e.expect("entry").path()).collect();
    assert_eq!(left, [entry.path], "only the finished archive: no partial one, no temporary file");
}

/// Runs `work` while reading the status every few milliseconds, as the dashboard does; returns
/// its output and every progress report seen.
async fn watching_progress<T>(
    appliance: &Appliance,
    work: impl std::future::Future<Output = T>,
) -> (T, Vec<BackupProgress>) {
    let mut work = std::pin::pin!(work);
    let mut seen = Vec::new();
    loop {
        tokio::select! {
            output = &mut work => return (output, seen),
            _ = tokio::time::sleep(std::time::Duration::from_millis(2)) => {
                seen.extend(appliance.status().backup_progress);
            }
        }
    }
}

#[tokio::test]
async fn a_long_backup_and_restore_show_their_progress() {
    let (_dir, appliance) = fresh();
    appliance.setup(choices("parent-password")).await.expect("sets up");
    // Enough data that writing and verifying it takes many status reads.
    let photo: Vec<u8> = (0..32u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(appliance.data_dir().root().join("uploads").join("holiday.jpg"), photo).expect("writes");

    let (backup, seen) = watching_progress(&appliance, appliance.back_up_now()).await;
    let backup = backup.expect("backs up");
    assert!(backup.size_bytes > 32 << 20);
    assert!(seen.iter().any(|p| p.activity == "Backing up: writing the archive"), "{seen:?}");
    assert!(seen.iter().any(|p| p.activity == "Backing up: verifying the archive"), "{seen:?}");
    assert!(seen.iter().all(|p| p.activity.starts_with("Backing up: ") && p.percent <= 100), "{seen:?}");
    assert_eq!(appliance.status().backup_progress, None, "cleared when done");

    let (restored, seen) = watching_progress(&appliance, appliance.restore(backup.path, None)).await;
    restored.expect("restores");
    assert!(seen.iter().any(|p| p.activity.starts_with("Restoring: ")), "{seen:?}");
    assert_eq!(appliance.status().backup_progress, None, "cleared when done");
    appliance.stop().await.expect("stops");
}

#[tokio::test]
async fn the_log_writer_feeds_the_dashboards_recent_lines() {
    let (_dir, appliance) = fresh();
    let subscriber = tracing_subscriber::fmt().with_writer(appliance.log_writer()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::info!("hello from the tray");
    for n in 0..300 {
        tracing::info!(n, "filler");
    }
    let lines = appliance.status().log_lines;
    assert_eq!(lines.len(), 200, "only the most recent lines are kept");
    assert!(lines.last().is_some_and(|line| line.contains("filler") && line.contains("n=299")), "{lines:?}");
    assert!(!lines.iter().any(|line| line.contains("hello from the tray")), "the oldest fell off");
}

/// Runs `story` on a thread of its own, in a network namespace of its own when this machine
/// allows one (root): a VPN the story turns on may then really make its TUN device and NAT
/// table, and they stay off the host. `story` is told whether it got the namespace (without
/// one the VPN says it needs administrator rights, and runs nowhere).
#[cfg(target_os = "linux")]
fn in_own_network_namespace<F>(story: impl FnOnce(bool) -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let thread = std::thread::spawn(move || {
        // A network namespace belongs to a thread: this one, and what it starts (the runtime,
        // the server's threads, the commands it runs).
        let isolated = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_ok();
        if isolated {
            let up = std::process::Command::new("ip").args(["link", "set", "lo", "up"]).status();
            assert!(up.is_ok_and(|status| status.success()), "loopback comes up in the new namespace");
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(story(isolated));
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Whether network device `name` exists (in the calling thread's namespace).
#[cfg(target_os = "linux")]
fn device_exists(name: &str) -> bool {
    std::process::Command::new("ip")
        .args(["link", "show", "dev", name])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// A laptop with the official WireGuard app, set up from the config text the dashboard showed:
/// one WireGuard tunnel (boringtun's, as in the apps) over a UDP socket to the Endpoint.
#[cfg(target_os = "linux")]
struct Laptop {
    tunnel: boringtun::noise::Tunn,
    socket: tokio::net::UdpSocket,
    address: std::net::Ipv4Addr,
    /// The server's own address in the tunnel (the default subnet's first host).
    server: std::net::Ipv4Addr,
}

#[cfg(target_os = "linux")]
impl Laptop {
    async fn from_config(text: &str) -> Laptop {
        use iptincan::vpn::keys;
        let config = iptincan::vpn::client_config::ClientConfig::parse(text).expect("the config parses");
        let secret = keys::decode(&config.private_key).expect("a private key");
        let server_key = keys::decode(&config.server_public_key).expect("a public key");
        let tunnel = boringtun::noise::Tunn::new(secret.into(), server_key.into(), None, None, 1, None);
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("binds");
        socket.connect(&config.endpoint).await.expect("the Endpoint is an address");
        let subnet = iptincan::subnet::Subnet::parse(&iptincan::config::VpnSection::default().subnet);
        Laptop { tunnel, socket, address: config.address, server: subnet.expect("the default subnet").server_address() }
    }

    /// Pings the server's tunnel address (handshaking first when there is no session yet);
    /// whether the echo reply came back through the tunnel within two seconds.
    async fn pings_the_server(&mut self) -> bool {
        use boringtun::noise::TunnResult;
        let mut buf = vec![0u8; 2048];
        let request = echo_request(self.address, self.server);
        if let TunnResult::WriteToNetwork(datagram) = self.tunnel.encapsulate(&request, &mut buf) {
            self.socket.send(datagram).await.expect("sends");
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut incoming = vec![0u8; 2048];
        while let Ok(received) = tokio::time::timeout_at(deadline, self.socket.recv(&mut incoming)).await {
            let mut result = self.tunnel.decapsulate(None, &incoming[..received.expect("receives")], &mut buf);
            loop {
                match result {
                    TunnResult::WriteToNetwork(datagram) => {
                        self.socket.send(datagram).await.expect("sends");
                        result = self.tunnel.decapsulate(None, &[], &mut buf);
                    }
                    // IPv4 carrying ICMP (protocol 1), type 0: an echo reply.
                    TunnResult::WriteToTunnelV4(packet, _)
                        if packet.get(9) == Some(&1) && packet.get(20) == Some(&0) =>
                    {
                        return true;
                    }
                    _ => break,
                }
            }
        }
        false
    }
}

/// An ICMP echo request from `source` to `destination`, checksums and all.
#[cfg(target_os = "linux")]
fn echo_request(source: std::net::Ipv4Addr, destination: std::net::Ipv4Addr) -> Vec<u8> {
    fn checksum(bytes: &[u8]) -> [u8; 2] {
        let sum: u32 =
            bytes.chunks(2).map(|pair| u32::from(pair[0]) << 8 | u32::from(pair.get(1).copied().unwrap_or(0))).sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        (!((folded & 0xffff) + (folded >> 16)) as u16).to_be_bytes()
    }
    let mut packet = vec![0u8; 20 + 8 + 16];
    let total = packet.len() as u16;
    packet[0] = 0x45; // IPv4, 20-byte header
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    packet[8] = 64; // TTL
    packet[9] = 1; // ICMP
    packet[12..16].copy_from_slice(&source.octets());
    packet[16..20].copy_from_slice(&destination.octets());
    let header = checksum(&packet[..20]);
    packet[10..12].copy_from_slice(&header);
    packet[20] = 8; // echo request
    packet[24..28].copy_from_slice(&[0x17, 0x17, 0, 1]); // identifier, sequence
    let icmp = checksum(&packet[20..]);
    packet[22..24].copy_from_slice(&icmp);
    packet
}

#[cfg(target_os = "linux")]
#[test]
fn the_vpn_box_turns_the_vpn_on_and_off_and_its_devices_can_be_cut_off() {
    in_own_network_namespace(|isolated| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let template = format!(
            "# The Millers' server\n{TEST_CONFIG}\n[vpn]\n# the parent's own note\nmax_bandwidth_kbps = 0 # unlimited\n"
        );
        let appliance = Appliance::open_with_template(dir.path().join("data"), &template).expect("opens");
        assert!(matches!(appliance.set_vpn_enabled(true).await, Err(ApplianceError::NotSetUp)));
        let status = appliance.setup(choices("parent-password")).await.expect("sets up");
        assert!(!status.vpn_enabled);
        let off = status.vpn;
        assert!(off.contains("off"), "{off}");
        let members = appliance.list_members().await.expect("lists the members");
        assert_eq!(members.iter().map(|user| user.username.as_str()).collect::<Vec<_>>(), ["chatter"]);

        // Ticked: written into server.toml (the rest of the file as it was), the server restarts.
        let on = appliance.set_vpn_enabled(true).await.expect("turns the VPN on");
        assert!(on.vpn_enabled && on.connection_code.is_some(), "{on:?}");
        assert_ne!(on.vpn, off, "the VPN line changed");
        let file = std::fs::read_to_string(appliance.data_dir().config_file()).expect("reads");
        assert!(file.contains("# The Millers' server") && file.contains("# the parent's own note"), "{file}");
        assert!(file.contains("max_bandwidth_kbps = 0 # unlimited"), "{file}");
        assert!(iptincan::config::parse(&file, "server.toml").expect("valid").config.vpn.enabled);
        let vpn = appliance.vpn_status().await.expect("the VPN view");
        assert_eq!(vpn.summary, on.vpn);
        if vpn.running {
            assert!(isolated && device_exists("itc-vpn0"), "the device, in this test's own namespace");
        }
        client_for(&appliance).await.login("chatter", "parent-password").await.expect("chat keeps working");

        // A device for the official app, capped.
        let card = appliance.vpn_create_peer("chatter", "laptop").await.expect("makes a config");
        for part in ["[Interface]", "PrivateKey = ", "[Peer]", "Endpoint = "] {
            assert!(card.config_text.contains(part), "no {part} in the config");
        }
        assert!(card.qr_svg.contains("<svg"), "a QR picture");
        appliance.vpn_set_limit(Some(card.peer.id), Some(2000)).await.expect("caps the device");
        appliance.vpn_set_limit(None, Some(8000)).await.expect("caps everyone");
        let vpn = appliance.vpn_status().await.expect("the VPN view");
        assert_eq!(vpn.max_bandwidth_kbps, 8000);
        assert_eq!(
            vpn.peers.iter().map(|p| (p.name.as_str(), p.max_bandwidth_kbps)).collect::<Vec<_>>(),
            [("laptop", Some(2000))]
        );

        // Where the VPN runs, the laptop connects with that config: the view shows it
        // connected with its traffic, and once cut off it gets no further.
        let mut laptop = if vpn.running { Some(Laptop::from_config(&card.config_text).await) } else { None };
        if let Some(laptop) = laptop.as_mut() {
            assert!(laptop.pings_the_server().await, "the laptop reaches home through the tunnel");
            let seen = appliance.vpn_status().await.expect("the VPN view").peers;
            assert!(seen[0].connected && seen[0].last_handshake_seconds.is_some(), "{seen:?}");
            assert!(seen[0].rx_bytes > 0 && seen[0].tx_bytes > 0, "traffic both ways: {seen:?}");
        }
        let revoked = appliance.vpn_revoke(card.peer.id).await.expect("cuts it off");
        assert_eq!(revoked.id, card.peer.id);
        assert!(appliance.vpn_status().await.expect("the VPN view").peers.is_empty());
        if let Some(laptop) = laptop.as_mut() {
            assert!(!laptop.pings_the_server().await, "cut off at once");
        }

        // Unticked: off again, and the device is gone.
        let unticked = appliance.set_vpn_enabled(false).await.expect("turns the VPN off");
        assert!(!unticked.vpn_enabled && unticked.connection_code.is_some());
        assert_eq!(unticked.vpn, off);
        assert!(!device_exists("itc-vpn0"));
        client_for(&appliance).await.login("chatter", "parent-password").await.expect("chat keeps working");

        // While stopped the setting is written and the server stays stopped.
        appliance.stop().await.expect("stops");
        let stopped = appliance.set_vpn_enabled(true).await.expect("writes the setting");
        assert_eq!((stopped.state, stopped.vpn_enabled), (ApplianceState::Stopped, true));
        assert!(matches!(appliance.list_members().await, Err(ApplianceError::NotRunning)));
    });
}
