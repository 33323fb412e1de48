//! Who may use the tunnel: VPN peers in the store, the key pairs and client configs the
//! server makes for the official WireGuard apps, the public keys `itc` clients register, and
//! the view of a peer with its live counters. Works on the store alone, so `itc-server
//! vpn-peer add` can use it without a running server.

use super::client_config::ClientConfig;
use super::keys;
use super::tunnels::PeerCounters;
use crate::config::VpnSection;
use crate::ids::UserId;
use crate::proto::VpnPeerInfo;
use crate::store::{Store, StoreError, VpnPeerRecord};
use crate::subnet::Subnet;
use boringtun::x25519::StaticSecret;
use std::time::Duration;

/// Longest device label.
pub(crate) const MAX_NAME_CHARS: usize = 32;
/// A peer counts as connected while its last handshake is younger than this (WireGuard
/// rekeys every 2 minutes while traffic flows; keepalives keep it fresh).
pub(crate) const CONNECTED_WITHIN: Duration = Duration::from_secs(180);

/// Why a VPN request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The device label is empty, too long or has control characters.
    #[error("a device name is 1 to {MAX_NAME_CHARS} characters, without control characters")]
    BadName,
    /// The public key is not a WireGuard key.
    #[error(transparent)]
    BadKey(#[from] keys::BadKey),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `[vpn]` settings peers are made with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `vpn.subnet`.
    pub subnet: Subnet,
    /// `vpn.dns_server`.
    pub dns_server: String,
    /// `vpn.max_bandwidth_kbps`: the cap while no admin set another.
    pub default_kbps: u32,
}

impl Settings {
    /// From the validated config (a subnet that does not parse falls back to the default).
    pub fn from_config(vpn: &VpnSection) -> Settings {
        let subnet = Subnet::parse(&vpn.subnet)
            .or_else(|_| Subnet::parse(&VpnSection::default().subnet))
            .unwrap_or_else(|_| unreachable!("the default subnet is valid"));
        Settings {
            subnet,
            dns_server: vpn.dns_server.clone(),
            default_kbps: u32::try_from(vpn.max_bandwidth_kbps).unwrap_or(u32::MAX),
        }
    }
}

/// The server's VPN key, made and stored on first use.
pub(crate) async fn server_secret(store: &Store) -> Result<StaticSecret, StoreError> {
    let candidate = crate::random::random_bytes::<32>();
    Ok(StaticSecret::from(store.vpn_server_key(candidate).await?))
}

/// The server-wide cap in force: the admin's, else the config's.
pub(crate) async fn global_kbps(store: &Store, settings: &Settings) -> Result<u32, StoreError> {
    Ok(store.vpn_global_limit().await?.unwrap_or(settings.default_kbps))
}

fn checked_name(name: &str) -> Result<String, AccessError> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AccessError::BadName);
    }
    Ok(name.to_string())
}

/// Registers `public_key` (base64) for `user_id`'s device `name`.
pub async fn register(
    store: &Store,
    settings: &Settings,
    user_id: UserId,
    name: &str,
    public_key: &str,
    now: i64,
) -> Result<VpnPeerRecord, AccessError> {
    let name = checked_name(name)?;
    let public_key = keys::decode(public_key)?;
    Ok(store.put_vpn_peer(user_id, name, public_key, settings.subnet, now).await?)
}

/// Makes a key pair for `user_id`'s device `name` and returns the peer and its complete client
/// config (Endpoint = `endpoint`); only the public key is stored.
pub async fn create_for_app(
    store: &Store,
    settings: &Settings,
    user_id: UserId,
    name: &str,
    endpoint: String,
    now: i64,
) -> Result<(VpnPeerRecord, ClientConfig), AccessError> {
    let name = checked_name(name)?;
    let server_public = keys::public_of(&server_secret(store).await?);
    let secret = keys::generate();
    let record = store.put_vpn_peer(user_id, name, keys::public_of(&secret), settings.subnet, now).await?;
    let config = ClientConfig {
        private_key: keys::encode(&secret.to_bytes()),
        address: record.address,
        dns: settings.dns_server.clone(),
        server_public_key: keys::encode(&server_public),
        endpoint,
    };
    Ok((record, config))
}

/// `host:port` as a WireGuard Endpoint (IPv6 hosts in brackets).
pub fn endpoint(host: &str, port: u16) -> String {
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    }
}

/// A peer as clients see it, with its counters when the tunnel knows it.
pub(crate) fn peer_info(record: &VpnPeerRecord, counters: Option<&PeerCounters>) -> VpnPeerInfo {
    let since = counters.and_then(|c| c.since_handshake);
    VpnPeerInfo {
        id: record.id,
        username: record.username.clone(),
        name: record.name.clone(),
        public_key: keys::encode(&record.public_key),
        address: record.address.to_string(),
        max_bandwidth_kbps: record.max_bandwidth_kbps,
        created_at: record.created_at,
        connected: since.is_some_and(|since| since < CONNECTED_WITHIN),
        endpoint: counters.and_then(|c| c.endpoint).map(|e| e.to_string()),
        last_handshake_seconds: since.map(|since| since.as_secs()),
        rx_bytes: counters.map_or(0, |c| c.rx_bytes),
        tx_bytes: counters.map_or(0, |c| c.tx_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_checked_and_endpoints_bracket_ipv6() {
        assert_eq!(checked_name(" phone ").ok().as_deref(), Some("phone"));
        for bad in ["", "   ", "a\nb", &"x".repeat(33)] {
            assert!(matches!(checked_name(bad), Err(AccessError::BadName)), "{bad:?}");
        }
        assert_eq!(endpoint("203.0.113.5", 3785), "203.0.113.5:3785");
        assert_eq!(endpoint("2001:db8::1", 3785), "[2001:db8::1]:3785");
        assert_eq!(endpoint("home.example", 3785), "home.example:3785");
    }

    #[tokio::test]
    async fn peers_get_the_lowest_free_address_keep_it_on_a_new_key_and_configs_keep_no_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db.sqlite")).expect("store");
        store.ensure_default_admin("admin".into(), "hash".into(), 0).await.expect("admin");
        let user = store.user_by_name("admin".into()).await.expect("read").expect("exists").user.id;
        let settings = Settings::from_config(&VpnSection::default());

        let (phone, config) =
            create_for_app(&store, &settings, user, "phone", endpoint("198.51.100.1", 3785), 1).await.expect("made");
        assert_eq!(phone.address.to_string(), "10.8.0.2");
        assert_eq!(
            keys::encode(&phone.public_key),
            keys::encode(&keys::public_of(&StaticSecret::from(keys::decode(&config.private_key).expect("key"))))
        );
        let server_public = keys::encode(&keys::public_of(&server_secret(&store).await.expect("key")));
        assert_eq!(config.server_public_key, server_public, "the server key is made once and kept");

        let laptop_key = keys::encode(&keys::public_of(&keys::generate()));
        let laptop = register(&store, &settings, user, "laptop", &laptop_key, 2).await.expect("registered");
        assert_eq!(laptop.address.to_string(), "10.8.0.3");
        let new_key = keys::encode(&keys::public_of(&keys::generate()));
        let again = register(&store, &settings, user, "laptop", &new_key, 3).await.expect("re-registered");
        assert_eq!((again.id, again.address), (laptop.id, laptop.address), "same device, same address");
        assert!(matches!(
            register(&store, &settings, user, "tablet", &new_key, 4).await,
            Err(AccessError::Store(StoreError::VpnKeyTaken))
        ));
        assert!(matches!(register(&store, &settings, user, "x", "bad key", 4).await, Err(AccessError::BadKey(_))));

        store.delete_vpn_peer(phone.id).await.expect("revoked");
        let reused = register(&store, &settings, user, "tablet", &laptop_key, 5).await.expect("registered");
        assert_eq!(reused.address.to_string(), "10.8.0.2", "a revoked peer's address is free again");
        let listed = store.list_vpn_peers().await.expect("list");
        assert_eq!(listed.len(), 2);
    }
}
