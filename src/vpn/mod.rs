//! The built-in VPN: a WireGuard-compatible server on the media port (UDP 3785), a TUN device
//! with NAT to the internet, and the peers (members' devices) that may use it.
//!
//! Media and WireGuard share the socket; their first bytes tell them apart ([`is_wireguard`]):
//! a media packet starts with version byte 1 and a kind byte that is never 0, a WireGuard
//! message with its type (1 to 4) and three zero bytes. The media socket task hands
//! WireGuard datagrams to the VPN through an [`Inlet`] ([`inlet`]: a bounded queue of reused
//! batches, one per receive turn; when it is full datagrams are dropped rather than holding up
//! voice), and the VPN's own tasks do the crypto and the TUN I/O.
//!
//! [`keys`] and [`client_config`] are the WireGuard key and config formats ([`crate::subnet`] is the
//! address pool), [`access`] the peers in the store, [`tunnels`] the sans-IO per-peer tunnel
//! table, and on Linux and Windows [`system`] the TUN device and the NAT (nftables; WinNAT),
//! `tun_io` the device's batched reads and writes (offloads on Linux), `udp_io` the batched
//! sends to peers (UDP segmentation offload on Linux) and [`datapath`] the
//! tasks that move packets. [`Vpn`] is what the server holds: its state in one plain line and the
//! admin operations, which change the store and then the running tunnel table at once.

pub mod access;
pub mod client_config;
#[cfg(any(target_os = "linux", windows))]
pub mod datapath;
pub mod inlet;
pub mod keys;
#[cfg(any(target_os = "linux", windows))]
pub mod system;
#[cfg(any(target_os = "linux", windows))]
pub(crate) mod tun_io;
pub mod tunnels;
#[cfg(any(target_os = "linux", windows))]
pub(crate) mod udp_io;

use crate::config::VpnSection;
use crate::ids::UserId;
use crate::proto::{VpnAccess, VpnCreatedPeer, VpnPeerInfo, VpnStatus};
use crate::store::Store;
use access::{AccessError, Settings};
pub use inlet::Inlet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tunnels::Tunnels;

/// How often the running tunnel table is brought in line with the store (peers added with
/// `itc-server vpn-peer add`, accounts deleted); admin operations sync at once.
const SYNC_EVERY: Duration = Duration::from_secs(5);

/// Whether a datagram on the media port is a WireGuard message (type 1..4, three zero bytes).
pub(crate) fn is_wireguard(datagram: &[u8]) -> bool {
    datagram.len() >= 4 && (1..=4).contains(&datagram[0]) && datagram[1..4] == [0, 0, 0]
}

/// What the VPN is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpnState {
    /// `vpn.enabled = false`.
    Off,
    /// The tunnel runs; `forwarding` is false when the kernel does not forward IPv4.
    Running {
        /// `net.ipv4.ip_forward` is 1.
        forwarding: bool,
    },
    /// It should run but cannot; the reason in one plain line.
    Unavailable(String),
}

impl VpnState {
    /// One plain line for the log, the dashboard and `itc vpn status`.
    pub fn summary(&self) -> String {
        match self {
            VpnState::Off => "the VPN is off (vpn.enabled = false)".into(),
            VpnState::Running { forwarding: true } => "the VPN is running".into(),
            VpnState::Running { forwarding: false } => "the VPN runs, but IP forwarding is off \
                (net.ipv4.ip_forward = 0): members reach only this computer, not the internet; \
                run sysctl -w net.ipv4.ip_forward=1"
                .into(),
            VpnState::Unavailable(why) => why.clone(),
        }
    }
}

/// The server's VPN: state, settings and (while running) the tunnel table.
#[derive(Debug)]
pub struct Vpn {
    state: VpnState,
    settings: Settings,
    tunnels: Option<Arc<Mutex<Tunnels>>>,
}

impl Vpn {
    /// Starts the VPN if `vpn.enabled`: makes the TUN device and NAT, and spawns its tasks on
    /// `tasks` (sending from a second handle on `socket`, the media socket). When it cannot
    /// run, says why in one log line and in [`Vpn::state`]; nothing else is affected.
    pub async fn start(
        config: &VpnSection,
        store: &Store,
        socket: &tokio::net::UdpSocket,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> (Vpn, Inlet) {
        let settings = Settings::from_config(config);
        if !config.enabled {
            return (Vpn { state: VpnState::Off, settings, tunnels: None }, Inlet::default());
        }
        match run(config, &settings, store, socket, tasks, cancel).await {
            Ok((tunnels, inlet, forwarding)) => {
                let state = VpnState::Running { forwarding };
                if forwarding {
                    tracing::info!(device = %config.tun_device_name, subnet = %settings.subnet, "{}", state.summary());
                } else {
                    tracing::warn!("{}", state.summary());
                }
                (Vpn { state, settings, tunnels: Some(tunnels) }, inlet)
            }
            Err(why) => {
                tracing::warn!("{why}; chat and voice keep running");
                (Vpn { state: VpnState::Unavailable(why), settings, tunnels: None }, Inlet::default())
            }
        }
    }

    /// What the VPN is doing.
    pub fn state(&self) -> &VpnState {
        &self.state
    }

    /// The `[vpn]` settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The server's tunnel table public key, once the VPN has run.
    pub async fn server_public_key(&self, store: &Store) -> Result<[u8; 32], AccessError> {
        Ok(keys::public_of(&access::server_secret(store).await?))
    }

    /// Brings the running tunnel table in line with the store.
    pub async fn sync(&self, store: &Store) -> Result<(), AccessError> {
        if let Some(tunnels) = &self.tunnels {
            sync_tunnels(tunnels, store, &self.settings).await?;
        }
        Ok(())
    }

    /// The VPN's state and the peers (only `owner`'s when given) with their counters.
    pub async fn status(&self, store: &Store, owner: Option<UserId>) -> Result<VpnStatus, AccessError> {
        let records = store.list_vpn_peers().await?;
        let counters = self.tunnels.as_ref().map(|t| lock(t).counters()).unwrap_or_default();
        let peers = records
            .iter()
            .filter(|record| owner.is_none_or(|owner| record.user_id == owner))
            .map(|record| access::peer_info(record, counters.iter().find(|c| c.id == record.id)))
            .collect();
        Ok(VpnStatus {
            running: self.tunnels.is_some(),
            summary: self.state.summary(),
            max_bandwidth_kbps: access::global_kbps(store, &self.settings).await?,
            peers,
        })
    }

    /// Registers `user_id`'s own key for device `name`; the tunnel knows it at once.
    pub async fn register(
        &self,
        store: &Store,
        user_id: UserId,
        name: &str,
        public_key: &str,
        udp_port: u16,
    ) -> Result<VpnAccess, AccessError> {
        let record = access::register(store, &self.settings, user_id, name, public_key, crate::clock::now_ms()).await?;
        self.sync(store).await?;
        Ok(VpnAccess {
            peer: self.peer(store, record.id).await?,
            server_public_key: keys::encode(&self.server_public_key(store).await?),
            server_address: self.settings.subnet.server_address().to_string(),
            prefix: self.settings.subnet.prefix(),
            dns_server: self.settings.dns_server.clone(),
            udp_port,
        })
    }

    /// Makes a key pair and client config for `user_id`'s device `name` (Endpoint =
    /// `endpoint`); the tunnel knows the peer at once.
    pub(crate) async fn create_peer(
        &self,
        store: &Store,
        user_id: UserId,
        name: &str,
        endpoint: String,
    ) -> Result<VpnCreatedPeer, AccessError> {
        let (record, config) =
            access::create_for_app(store, &self.settings, user_id, name, endpoint, crate::clock::now_ms()).await?;
        self.sync(store).await?;
        Ok(VpnCreatedPeer { peer: self.peer(store, record.id).await?, config_text: config.to_text() })
    }

    /// Removes a peer (only `owner`'s when given) and ends its tunnel at once.
    pub async fn revoke(&self, store: &Store, peer_id: i64, owner: Option<UserId>) -> Result<VpnPeerInfo, AccessError> {
        let info = self.peer(store, peer_id).await?;
        if let Some(owner) = owner {
            let record = store.list_vpn_peers().await?.into_iter().find(|record| record.id == peer_id);
            if record.is_none_or(|record| record.user_id != owner) {
                return Err(AccessError::Store(crate::store::StoreError::NotFound));
            }
        }
        store.delete_vpn_peer(peer_id).await?;
        self.sync(store).await?;
        Ok(info)
    }

    /// Sets one peer's cap, or with no `peer_id` the server-wide cap; `None` goes back to the
    /// default. Applies at once; returns the peer when one was named.
    pub(crate) async fn set_limit(
        &self,
        store: &Store,
        peer_id: Option<i64>,
        kbps: Option<u32>,
    ) -> Result<Option<VpnPeerInfo>, AccessError> {
        match peer_id {
            Some(peer_id) => {
                store.set_vpn_peer_limit(peer_id, kbps).await?;
            }
            None => {
                access::server_secret(store).await?;
                store.set_vpn_global_limit(kbps).await?;
            }
        }
        self.sync(store).await?;
        match peer_id {
            Some(peer_id) => Ok(Some(self.peer(store, peer_id).await?)),
            None => Ok(None),
        }
    }

    /// One peer with its counters.
    pub async fn peer(&self, store: &Store, peer_id: i64) -> Result<VpnPeerInfo, AccessError> {
        let status = self.status(store, None).await?;
        status
            .peers
            .into_iter()
            .find(|peer| peer.id == peer_id)
            .ok_or(AccessError::Store(crate::store::StoreError::NotFound))
    }
}

fn lock(tunnels: &Mutex<Tunnels>) -> std::sync::MutexGuard<'_, Tunnels> {
    tunnels.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn sync_tunnels(tunnels: &Mutex<Tunnels>, store: &Store, settings: &Settings) -> Result<(), AccessError> {
    let records = store.list_vpn_peers().await?;
    let global = access::global_kbps(store, settings).await?;
    let specs: Vec<tunnels::PeerSpec> = records
        .iter()
        .map(|record| tunnels::PeerSpec {
            id: record.id,
            public_key: record.public_key,
            address: record.address,
            max_bandwidth_kbps: record.max_bandwidth_kbps,
        })
        .collect();
    lock(tunnels).sync(&specs, global, Instant::now());
    Ok(())
}

/// Sets up the device, NAT and tasks; returns the table, the inlet and whether the kernel
/// forwards, or why it cannot run.
#[cfg(any(target_os = "linux", windows))]
async fn run(
    config: &VpnSection,
    settings: &Settings,
    store: &Store,
    socket: &tokio::net::UdpSocket,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> Result<(Arc<Mutex<Tunnels>>, Inlet, bool), String> {
    let secret = access::server_secret(store).await.map_err(|err| format!("the VPN is off: {err}"))?;
    let device = system::create_device(&config.tun_device_name, settings.subnet).map_err(|err| err.to_string())?;
    let nat = system::install_nat(&config.tun_device_name, settings.subnet).map_err(|err| err.to_string())?;
    let sender =
        second_handle(socket).map_err(|err| format!("the VPN is off: cannot share the media socket: {err}"))?;
    let global = access::global_kbps(store, settings).await.map_err(|err| format!("the VPN is off: {err}"))?;
    let tunnels = Arc::new(Mutex::new(Tunnels::new(secret, global)));
    sync_tunnels(&tunnels, store, settings).await.map_err(|err| format!("the VPN is off: {err}"))?;
    let (inlet, outlet) = inlet::queue();
    datapath::spawn(outlet, sender, datapath::Resources { device, nat }, tunnels.clone(), tasks, cancel.clone());
    let (resync, resync_store, resync_settings) = (tunnels.clone(), store.clone(), settings.clone());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(err) = sync_tunnels(&resync, &resync_store, &resync_settings).await {
                        tracing::warn!(error = %err, "could not read the VPN peers");
                    }
                }
            }
        }
    });
    Ok((tunnels, inlet, system::forwarding_enabled().unwrap_or(false)))
}

#[cfg(not(any(target_os = "linux", windows)))]
async fn run(
    _config: &VpnSection,
    _settings: &Settings,
    _store: &Store,
    _socket: &tokio::net::UdpSocket,
    _tasks: &TaskTracker,
    _cancel: CancellationToken,
) -> Result<(Arc<Mutex<Tunnels>>, Inlet, bool), String> {
    Err("the VPN is off: this build runs it on Linux and Windows only".into())
}

/// A second handle on the media socket, so the VPN's replies leave from the media port.
#[cfg(unix)]
fn second_handle(socket: &tokio::net::UdpSocket) -> std::io::Result<tokio::net::UdpSocket> {
    use std::os::fd::AsFd;
    let handle = socket.as_fd().try_clone_to_owned()?;
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(handle))
}

/// A second handle on the media socket, so the VPN's replies leave from the media port.
#[cfg(windows)]
fn second_handle(socket: &tokio::net::UdpSocket) -> std::io::Result<tokio::net::UdpSocket> {
    use std::os::windows::io::AsSocket;
    let handle = socket.as_socket().try_clone_to_owned()?;
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_and_media_are_told_apart_by_their_first_bytes() {
        for kind in 1..=4u8 {
            assert!(is_wireguard(&[kind, 0, 0, 0, 9]), "WireGuard type {kind}");
        }
        assert!(!is_wireguard(&[1, 1, 0, 0, 0]), "media version 1 with a kind byte");
        assert!(!is_wireguard(&[1, 0, 0]), "too short");
        assert!(!is_wireguard(&[5, 0, 0, 0]), "no such WireGuard type");
        assert!(!is_wireguard(&[4, 0, 1, 0]), "reserved bytes must be zero");
    }
}
