//! The client end of the built-in VPN, as `itc vpn up|down|status` uses it: the device's own
//! WireGuard key (kept in a file, only its public half is ever sent), the plan for one tunnel
//! (what `vpn_register` answered), the state file a running tunnel keeps up to date, and on
//! Linux the tunnel itself — a TUN device holding the member's address, a full-tunnel route
//! (`0.0.0.0/1` and `128.0.0.0/1` through the device, the server's own address kept on the
//! old path) and one `boringtun` session with the server over UDP.
//!
//! Nothing here outlives the process that runs the tunnel except the host route to the server
//! and the state file, and [`clean_up_after`] removes both when that process died without
//! doing it itself: the kernel removes the TUN device, and the full-tunnel routes with it.

use crate::proto::VpnAccess;
use crate::vpn::keys;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The TUN device's name when none is given.
pub const DEFAULT_DEVICE: &str = "itc-vpn";
/// WireGuard's persistent keepalive, as the configs for the official apps set it.
pub const KEEPALIVE_SECONDS: u16 = 25;
/// How long to wait for the first handshake.
pub const HANDSHAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the client end of the VPN failed; each message is one plain line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VpnClientError {
    /// Reading or writing the key or state file failed.
    #[error("{what} {path}: {source}")]
    File {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a WireGuard key.
    #[error("{path} is not a WireGuard private key (44 characters of base64); remove it to make a new one")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
    },
    /// The server's answer was not usable.
    #[error("the server's VPN answer is not usable: {0}")]
    BadAccess(String),
    /// No address for the server's host.
    #[error("cannot find the server's address {host}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The network could not be set up (device, routes, socket).
    #[error("cannot set up the tunnel: {0}")]
    Setup(String),
    /// The server never completed a handshake.
    #[error(
        "the server's VPN did not answer within {seconds} s (is [vpn] enabled there, is UDP port {port} reachable, was this device revoked?)"
    )]
    NoHandshake {
        /// How long it waited.
        seconds: u64,
        /// The server's UDP port.
        port: u16,
    },
    /// Not on this platform.
    #[error("itc vpn works on Linux only so far")]
    Unsupported,
}

/// Where `itc vpn` keeps its files.
#[derive(Debug, Clone)]
pub struct VpnPaths {
    /// The device's private key.
    pub key: PathBuf,
    /// The running tunnel's state (JSON).
    pub state: PathBuf,
    /// The tunnel process's log.
    pub log: PathBuf,
}

impl VpnPaths {
    /// The key under `config_dir`, the state and log under `runtime_dir`.
    pub fn new(config_dir: &Path, runtime_dir: &Path) -> VpnPaths {
        VpnPaths {
            key: config_dir.join("vpn.key"),
            state: runtime_dir.join("vpn.json"),
            log: runtime_dir.join("vpn.log"),
        }
    }
}

/// The device's key pair: read from `path`, or made and saved there (mode 0600) the first time.
pub fn load_or_create_key(path: &Path) -> Result<boringtun::x25519::StaticSecret, VpnClientError> {
    match std::fs::read_to_string(path) {
        Ok(text) => keys::decode(&text)
            .map(boringtun::x25519::StaticSecret::from)
            .map_err(|_| VpnClientError::BadKeyFile { path: path.to_path_buf() }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let secret = keys::generate();
            let file_error =
                |source| VpnClientError::File { what: "cannot save the VPN key to", path: path.into(), source };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(file_error)?;
            }
            write_private(path, &format!("{}\n", keys::encode(&secret.to_bytes()))).map_err(file_error)?;
            Ok(secret)
        }
        Err(source) => Err(VpnClientError::File { what: "cannot read the VPN key", path: path.into(), source }),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Everything the tunnel process needs; handed to it on its standard input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunnelPlan {
    /// The TUN device's name.
    pub device: String,
    /// The server as the user named it (for `status`).
    pub server: String,
    /// The server's UDP endpoint.
    pub endpoint: SocketAddr,
    /// The server's WireGuard public key, base64.
    pub server_public_key: String,
    /// This device's private key, base64 (never written to the state file).
    pub private_key: String,
    /// This device's tunnel address.
    pub address: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The server's tunnel address.
    pub server_address: Ipv4Addr,
    /// The DNS server inside the tunnel.
    pub dns_server: String,
    /// The peer's id on the server.
    pub peer_id: i64,
}

impl TunnelPlan {
    /// The plan for the access the server granted, reaching it at `server_host` (the host the
    /// control connection used).
    pub async fn new(
        access: &VpnAccess,
        server_host: &str,
        server: &str,
        device: &str,
        secret: &boringtun::x25519::StaticSecret,
    ) -> Result<TunnelPlan, VpnClientError> {
        let address = access.peer.address.parse().map_err(|_| VpnClientError::BadAccess("peer address".into()))?;
        let server_address =
            access.server_address.parse().map_err(|_| VpnClientError::BadAccess("server address".into()))?;
        keys::decode(&access.server_public_key).map_err(|_| VpnClientError::BadAccess("server key".into()))?;
        let resolve_error = |reason: String| VpnClientError::Resolve { host: server_host.to_string(), reason };
        let mut found: Vec<SocketAddr> = tokio::net::lookup_host((server_host, access.udp_port))
            .await
            .map_err(|err| resolve_error(err.to_string()))?
            .collect();
        // The tunnel carries IPv4; reach the server over IPv4 when it has an address of each kind.
        found.sort_by_key(|addr| !addr.is_ipv4());
        let endpoint = *found.first().ok_or_else(|| resolve_error("no address".into()))?;
        Ok(TunnelPlan {
            device: device.to_string(),
            server: server.to_string(),
            endpoint,
            server_public_key: access.server_public_key.clone(),
            private_key: keys::encode(&secret.to_bytes()),
            address,
            prefix: access.prefix,
            server_address,
            dns_server: access.dns_server.clone(),
            peer_id: access.peer.id,
        })
    }
}

/// What a running tunnel writes about itself, about once a second.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunnelState {
    /// The tunnel process.
    pub pid: u32,
    /// The TUN device.
    pub device: String,
    /// The server as the user named it.
    pub server: String,
    /// The server's UDP endpoint.
    pub endpoint: SocketAddr,
    /// This device's tunnel address.
    pub address: Ipv4Addr,
    /// The DNS server inside the tunnel.
    pub dns_server: String,
    /// The peer's id on the server.
    pub peer_id: i64,
    /// When the tunnel started, Unix seconds.
    pub started_at: u64,
    /// Seconds since the last completed handshake.
    pub last_handshake_seconds: Option<u64>,
    /// Bytes of IP packets sent through the tunnel.
    pub sent_bytes: u64,
    /// Bytes of IP packets received through the tunnel.
    pub received_bytes: u64,
    /// The host route to the server this tunnel added (removed when it ends).
    pub host_route: Option<String>,
}

/// The state of the tunnel started from `paths`, if any.
pub fn read_state(path: &Path) -> Result<Option<TunnelState>, VpnClientError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(VpnClientError::File { what: "cannot read", path: path.into(), source }),
    };
    // A state file that cannot be read back is from another version or cut short: no tunnel.
    Ok(serde_json::from_str(&text).ok())
}

#[cfg(any(target_os = "linux", test))]
fn write_state(path: &Path, state: &TunnelState) -> Result<(), VpnClientError> {
    let file_error = |source| VpnClientError::File { what: "cannot write", path: path.into(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file_error)?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|err| VpnClientError::BadAccess(err.to_string()))?;
    let temporary = path.with_extension("json.new");
    std::fs::write(&temporary, text).map_err(file_error)?;
    std::fs::rename(&temporary, path).map_err(file_error)
}

/// Whether process `pid` is alive.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// After the tunnel process `state` describes has ended (however it ended): removes its host
/// route, if it is still there, and the state file.
pub fn clean_up_after(state: &TunnelState, state_path: &Path) {
    if let Some(route) = &state.host_route {
        let _ = std::process::Command::new("ip")
            .args(["route", "del"])
            .args(route.split_whitespace())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = std::fs::remove_file(state_path);
}

#[cfg(target_os = "linux")]
fn ip_error(what: &str, detail: impl std::fmt::Display) -> VpnClientError {
    VpnClientError::Setup(format!("{what}: {detail}"))
}

/// Runs `ip ARGS`; its first line of complaint on failure.
#[cfg(target_os = "linux")]
fn ip(args: &[&str]) -> Result<String, VpnClientError> {
    let output = std::process::Command::new("ip").args(args).output().map_err(|err| ip_error("cannot run ip", err))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(ip_error(&format!("ip {}", args.join(" ")), stderr.lines().next().unwrap_or("failed").trim()))
    }
}

/// The route that reaches `to` now, as `ip route` arguments for a host route (`1.2.3.4/32 via
/// GW dev DEV`), from `ip route get`'s answer.
pub fn host_route_for(to: IpAddr, route_get_output: &str) -> Option<String> {
    let words: Vec<&str> = route_get_output.split_whitespace().collect();
    let after = |key: &str| words.windows(2).find(|pair| pair[0] == key).map(|pair| pair[1]);
    let device = after("dev")?;
    let bits = if to.is_ipv4() { 32 } else { 128 };
    Some(match after("via") {
        Some(gateway) => format!("{to}/{bits} via {gateway} dev {device}"),
        None => format!("{to}/{bits} dev {device}"),
    })
}

#[cfg(target_os = "linux")]
pub use linux::{run_tunnel, Outcome, Tunnel};

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use crate::media::io::BatchReceiver;
    use crate::vpn::tun_io::{self, TunReader, TunWriter};
    use crate::vpn::tunnels::{Outbox, MAX_DATAGRAM};
    use crate::vpn::udp_io::UdpSender;
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};
    use std::time::Duration;
    use tokio::io::Interest;
    use tokio::net::UdpSocket;

    const TIMER_TICK: Duration = Duration::from_millis(250);
    /// Reads taken from the device before their datagrams are sent.
    const DEVICE_READS_PER_SEND: usize = 16;

    /// A tunnel that is set up: device, routes, socket and session.
    pub struct Tunnel {
        plan: TunnelPlan,
        state_path: PathBuf,
        device: tun_rs::AsyncDevice,
        socket: UdpSocket,
        tunn: Tunn,
        /// Where the session writes what it seals or opens.
        scratch: Vec<u8>,
        host_route: Option<String>,
        started_at: u64,
        sent_bytes: u64,
        received_bytes: u64,
    }

    impl Drop for Tunnel {
        fn drop(&mut self) {
            // The device (and the full-tunnel routes through it) goes when it is closed.
            clean_up_after(&self.state(), &self.state_path);
        }
    }

    impl Tunnel {
        /// Creates the device and routes, and starts the handshake.
        pub async fn open(plan: TunnelPlan, state_path: PathBuf) -> Result<Tunnel, VpnClientError> {
            let secret = StaticSecret::from(
                keys::decode(&plan.private_key).map_err(|_| VpnClientError::BadAccess("private key".into()))?,
            );
            let server_key = PublicKey::from(
                keys::decode(&plan.server_public_key).map_err(|_| VpnClientError::BadAccess("server key".into()))?,
            );
            // Keep the server itself on the path it has now, before the default goes through
            // the tunnel.
            let endpoint_ip = plan.endpoint.ip().to_string();
            let host_route = host_route_for(plan.endpoint.ip(), &ip(&["route", "get", &endpoint_ip])?);
            let device =
                crate::vpn::system::open_tun(&plan.device, plan.address, plan.prefix).map_err(|err| {
                    match err.kind() {
                        std::io::ErrorKind::PermissionDenied => VpnClientError::Setup(format!(
                            "creating the network device {} needs root (or CAP_NET_ADMIN)",
                            plan.device
                        )),
                        _ => ip_error(&format!("cannot create the network device {}", plan.device), err),
                    }
                })?;
            let local: SocketAddr = if plan.endpoint.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(local).await.map_err(|err| ip_error("cannot open a UDP socket", err))?;
            socket.connect(plan.endpoint).await.map_err(|err| ip_error("cannot reach the server", err))?;
            crate::media::io::enable_gro(&socket);
            let tunn = Tunn::new(
                secret,
                server_key,
                None,
                Some(KEEPALIVE_SECONDS),
                u32::from_le_bytes(crate::random::random_bytes::<4>()),
                None,
            );
            let mut tunnel = Tunnel {
                state_path,
                device,
                socket,
                tunn,
                scratch: vec![0u8; MAX_DATAGRAM],
                host_route: None,
                started_at: u64::try_from(crate::clock::now_ms() / 1000).unwrap_or(0),
                sent_bytes: 0,
                received_bytes: 0,
                plan,
            };
            if let Some(route) = host_route {
                let args: Vec<&str> = ["route", "replace"].into_iter().chain(route.split_whitespace()).collect();
                ip(&args)?;
                tunnel.host_route = Some(route);
            }
            for half in ["0.0.0.0/1", "128.0.0.0/1"] {
                ip(&["route", "add", half, "dev", &tunnel.plan.device])?;
            }
            tunnel.save_state()?;
            if let TunnResult::WriteToNetwork(initiation) =
                tunnel.tunn.format_handshake_initiation(&mut tunnel.scratch, false)
            {
                let _ = tunnel.socket.send(initiation).await;
            }
            Ok(tunnel)
        }

        /// The state as `itc vpn status` reads it.
        pub fn state(&self) -> TunnelState {
            TunnelState {
                pid: std::process::id(),
                device: self.plan.device.clone(),
                server: self.plan.server.clone(),
                endpoint: self.plan.endpoint,
                address: self.plan.address,
                dns_server: self.plan.dns_server.clone(),
                peer_id: self.plan.peer_id,
                started_at: self.started_at,
                last_handshake_seconds: self.tunn.stats().0.map(|since| since.as_secs()),
                sent_bytes: self.sent_bytes,
                received_bytes: self.received_bytes,
                host_route: self.host_route.clone(),
            }
        }

        fn save_state(&self) -> Result<(), VpnClientError> {
            write_state(&self.state_path, &self.state())
        }

        /// Whether a handshake has completed.
        pub fn connected(&self) -> bool {
            self.tunn.stats().0.is_some()
        }

        /// Moves packets until `stop` resolves or, with `until_connected`, until the first
        /// completed handshake. Both ways in batches: a read from the device may bring a TCP
        /// segment of up to 64 KB, sealed into a run of datagrams that leaves in one system
        /// call; one receive may bring a run the kernel coalesced, opened into packets that the
        /// device takes as one segment again (`tun_io`, `udp_io`, [`BatchReceiver`]).
        pub async fn run(
            &mut self,
            stop: impl std::future::Future<Output = ()>,
            until_connected: bool,
        ) -> Result<Outcome, VpnClientError> {
            tokio::pin!(stop);
            let mut reader = TunReader::new();
            let mut writer = TunWriter::default();
            let mut receiver = BatchReceiver::new();
            let mut sender = UdpSender::default();
            let mut outbox = Outbox::with_tun_headroom(tun_io::HEADROOM);
            let mut tick = tokio::time::interval(TIMER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut ticks = 0u64;
            loop {
                tokio::select! {
                    _ = &mut stop => return Ok(Outcome::Stopped),
                    received = self.socket.async_io(Interest::READABLE, || receiver.receive(&self.socket)) => {
                        if received.is_ok() {
                            receiver.each(|_, datagram| self.open_datagram(datagram, &mut outbox));
                            writer.send(&self.device, &mut outbox.tun).await;
                        }
                    }
                    read = reader.recv(&self.device) => {
                        match read {
                            Ok(()) => {}
                            Err(err) if tun_io::concerns_one_packet(&err) => continue,
                            Err(err) => return Err(ip_error("the network device failed", err)),
                        }
                        // Sealed for the server, with whatever else is already waiting.
                        reader.visit_waiting(&self.device, DEVICE_READS_PER_SEND, |packet| {
                            if let TunnResult::WriteToNetwork(sealed) = self.tunn.encapsulate(packet, &mut self.scratch) {
                                self.sent_bytes += packet.len() as u64;
                                outbox.send(self.plan.endpoint, sealed);
                            }
                        });
                    }
                    _ = tick.tick() => {
                        if let TunnResult::WriteToNetwork(packet) = self.tunn.update_timers(&mut self.scratch) {
                            outbox.send(self.plan.endpoint, packet);
                        }
                        ticks += 1;
                        if ticks.is_multiple_of(4) {
                            self.save_state()?;
                        }
                    }
                }
                sender.send_all(&self.socket, &mut outbox).await;
                if until_connected && self.connected() {
                    self.save_state()?;
                    return Ok(Outcome::Connected);
                }
            }
        }

        /// Opens one datagram from the server: a packet for the device, or a reply.
        fn open_datagram(&mut self, datagram: &[u8], outbox: &mut Outbox) {
            let mut result = self.tunn.decapsulate(None, datagram, &mut self.scratch);
            loop {
                match result {
                    TunnResult::WriteToNetwork(reply) => {
                        outbox.send(self.plan.endpoint, reply);
                        // Packets queued during the handshake follow it.
                        result = self.tunn.decapsulate(None, &[], &mut self.scratch);
                    }
                    TunnResult::WriteToTunnelV4(packet, _) | TunnResult::WriteToTunnelV6(packet, _) => {
                        self.received_bytes += packet.len() as u64;
                        outbox.tun.push(packet);
                        return;
                    }
                    TunnResult::Done | TunnResult::Err(_) => return,
                }
            }
        }
    }

    /// Why [`Tunnel::run`] returned.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Outcome {
        /// The first handshake completed.
        Connected,
        /// `stop` resolved.
        Stopped,
    }

    /// Opens the tunnel, waits for its first handshake (then calls `on_connected`), and runs it
    /// until `stop` resolves; everything it set up is removed when it returns.
    pub async fn run_tunnel(
        plan: TunnelPlan,
        state_path: PathBuf,
        stop: impl std::future::Future<Output = ()>,
        on_connected: impl FnOnce(),
    ) -> Result<(), VpnClientError> {
        let port = plan.endpoint.port();
        let mut tunnel = Tunnel::open(plan, state_path).await?;
        tokio::pin!(stop);
        match tokio::time::timeout(HANDSHAKE_WAIT, tunnel.run(&mut stop, true)).await {
            Err(_) => return Err(VpnClientError::NoHandshake { seconds: HANDSHAKE_WAIT.as_secs(), port }),
            Ok(outcome) => {
                if outcome? == Outcome::Stopped {
                    return Ok(());
                }
            }
        }
        on_connected();
        tunnel.run(stop, false).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_route_keeps_the_servers_current_path() {
        let via = host_route_for(
            "203.0.113.9".parse().expect("ip"),
            "203.0.113.9 via 192.168.1.1 dev eth0 src 192.168.1.20 uid 0 \n    cache \n",
        );
        assert_eq!(via.as_deref(), Some("203.0.113.9/32 via 192.168.1.1 dev eth0"));
        let on_link = host_route_for("10.98.0.1".parse().expect("ip"), "10.98.0.1 dev phone0 src 10.98.0.2 uid 0");
        assert_eq!(on_link.as_deref(), Some("10.98.0.1/32 dev phone0"));
        assert_eq!(host_route_for("10.0.0.1".parse().expect("ip"), "RTNETLINK answers: Network is unreachable"), None);
    }

    #[test]
    fn the_key_is_made_once_kept_private_and_a_bad_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("itc").join("vpn.key");
        let first = load_or_create_key(&path).expect("made");
        let again = load_or_create_key(&path).expect("read back");
        assert_eq!(first.to_bytes(), again.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").expect("write");
        assert!(matches!(load_or_create_key(&path), Err(VpnClientError::BadKeyFile { .. })));
    }

    #[test]
    fn state_round_trips_and_a_damaged_state_file_means_no_tunnel() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vpn.json");
        assert_eq!(read_state(&path).expect("read"), None);
        let state = TunnelState {
            pid: 42,
            device: DEFAULT_DEVICE.into(),
            server: "ITC-x".into(),
            endpoint: "198.51.100.1:3785".parse().expect("addr"),
            address: Ipv4Addr::new(10, 8, 0, 2),
            dns_server: "10.8.0.1".into(),
            peer_id: 3,
            started_at: 1,
            last_handshake_seconds: Some(4),
            sent_bytes: 5,
            received_bytes: 6,
            host_route: None,
        };
        write_state(&path, &state).expect("written");
        assert_eq!(read_state(&path).expect("read"), Some(state.clone()));
        std::fs::write(&path, "{ cut sho").expect("write");
        assert_eq!(read_state(&path).expect("read"), None);
        clean_up_after(&state, &path);
        assert!(!path.exists());
    }
}
