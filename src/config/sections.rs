//! Every section and key of `server.toml` with its documented default.

use super::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)] // the keys are documented in assets/server.toml and the README
pub struct Config {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub tls: TlsSection,
    pub auth: AuthSection,
    pub license: LicenseSection,
    pub steam: SteamSection,
    pub xbox: OAuthSection,
    pub google: OAuthSection,
    pub cluster: ClusterSection,
    pub vpn: VpnSection,
    pub network: NetworkSection,
    pub chat: ChatSection,
    pub notifications: NotificationsSection,
    pub backup: BackupSection,
    pub update: UpdateSection,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct ServerSection {
    pub name: String,
    pub description: String,
    pub bind_address: String,
    pub tcp_port: u16,
    pub udp_port: u16,
    pub rest_port: u16,
    pub max_users: u32,
    /// Most members of one call sending video (camera or screen) at once.
    pub max_video_senders: u32,
    pub motd: String,
    pub log_level: String,
    pub shutdown_grace_seconds: u64,
    /// Connections not logged in yet (TLS handshake, `hello`, login) the control port holds at
    /// once, from everyone.
    pub max_unfinished_connections: u32,
    /// Unfinished connections at once from one address (IPv6: one /64), on each TCP port.
    pub max_unfinished_per_address: u32,
    /// New connections one address may open per minute on each TCP port.
    pub new_connections_per_minute: u32,
    /// Connections one account may have logged in at once (its devices).
    pub max_devices_per_account: u32,
    /// Seconds without a frame from a logged-in client before the server sends it `ping`.
    pub keepalive_seconds: u64,
    pub max_storage_bytes: u64,
    /// Largest file one upload may store, in bytes.
    pub max_file_bytes: u64,
    /// Seconds an unfinished upload waits for its next chunk before it is removed.
    pub upload_resume_seconds: u64,
    pub tags: Vec<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            name: "My IPTinCan Server".into(),
            description: "A community chat server".into(),
            bind_address: "0.0.0.0".into(),
            tcp_port: 3784,
            udp_port: 3785,
            rest_port: 3786,
            max_users: 100,
            max_video_senders: 8,
            motd: "Welcome to IPTinCan!".into(),
            log_level: "info".into(),
            shutdown_grace_seconds: 5,
            max_unfinished_connections: 256,
            max_unfinished_per_address: 16,
            new_connections_per_minute: 60,
            max_devices_per_account: 10,
            keepalive_seconds: 60,
            max_storage_bytes: 0,
            max_file_bytes: 2 * 1024 * 1024 * 1024,
            upload_resume_seconds: 3600,
            tags: vec!["gaming".into(), "community".into()],
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct DatabaseSection {
    pub path: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection { path: "itc-server.db".into() }
    }
}

/// `[tls]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct TlsSection {
    pub enabled: bool,
    pub cert_path: String,
    pub key_path: String,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection { enabled: true, cert_path: "server-cert.pem".into(), key_path: "server-key.pem".into() }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct AuthSection {
    pub allow_registration: bool,
    /// Registrations wait for an admin's approval (invites skip it).
    pub require_approval: bool,
    pub session_ttl_seconds: u64,
    pub default_user: String,
    pub default_password: String,
    /// Accounts `register` makes per client address (IPv6: per /64) per window.
    pub registrations_per_address: u32,
    /// Accounts `register` makes on the whole server per window.
    pub registrations_per_server: u32,
    /// The window of both registration limits.
    pub registration_window_seconds: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            allow_registration: true,
            require_approval: false,
            session_ttl_seconds: 86400,
            default_user: "chatter".into(),
            default_password: "chatter".into(),
            registrations_per_address: 5,
            registrations_per_server: 20,
            registration_window_seconds: 3600,
        }
    }
}

/// `[license]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct LicenseSection {
    pub key: String,
    pub server_url: String,
    pub public_server: bool,
    pub heartbeat_interval: u64,
}

impl Default for LicenseSection {
    fn default() -> Self {
        LicenseSection {
            key: String::new(),
            server_url: "https://license.iptincan.com".into(),
            public_server: false,
            heartbeat_interval: 300,
        }
    }
}

/// `[steam]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct SteamSection {
    pub enabled: bool,
    pub api_key: String,
    pub callback_base_url: String,
}

impl Default for SteamSection {
    fn default() -> Self {
        SteamSection { enabled: false, api_key: String::new(), callback_base_url: DEFAULT_CALLBACK.into() }
    }
}

const DEFAULT_CALLBACK: &str = "http://localhost:3786";

/// `[xbox]` and `[google]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct OAuthSection {
    pub enabled: bool,
    pub client_id: String,
    pub client_secret: String,
    pub callback_base_url: String,
}

impl Default for OAuthSection {
    fn default() -> Self {
        OAuthSection {
            enabled: false,
            client_id: String::new(),
            client_secret: String::new(),
            callback_base_url: DEFAULT_CALLBACK.into(),
        }
    }
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct ClusterSection {
    pub enabled: bool,
    pub role: String,
    pub node_name: String,
    pub cluster_port: u16,
    pub cluster_udp_port: u16,
    pub cluster_secret: String,
    pub primary_address: String,
    pub primary_cluster_port: u16,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            enabled: false,
            role: "primary".into(),
            node_name: "node-1".into(),
            cluster_port: 3787,
            cluster_udp_port: 3788,
            cluster_secret: String::new(),
            primary_address: String::new(),
            primary_cluster_port: 3787,
        }
    }
}

/// `[vpn]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct VpnSection {
    pub enabled: bool,
    pub subnet: String,
    pub dns_server: String,
    pub max_bandwidth_kbps: u64,
    pub tun_device_name: String,
}

impl Default for VpnSection {
    fn default() -> Self {
        VpnSection {
            enabled: false,
            subnet: "10.8.0.0/24".into(),
            dns_server: "1.1.1.1".into(),
            max_bandwidth_kbps: 0,
            tun_device_name: "itc-vpn0".into(),
        }
    }
}

/// `[network]`: opening the server's ports on the home router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct NetworkSection {
    pub upnp: bool,
    pub lease_seconds: u32,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection { upnp: false, lease_seconds: 3600 }
    }
}

/// Accepted values of `network.lease_seconds`: ten seconds to a day.
pub const LEASE_SECONDS: std::ops::RangeInclusive<u32> = 10..=86_400;

/// `[chat]`: rich chat features a server may turn off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct ChatSection {
    pub link_previews: bool,
}

impl Default for ChatSection {
    fn default() -> Self {
        ChatSection { link_previews: true }
    }
}

/// `[notifications]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct NotificationsSection {
    pub admin_email: String,
    pub billing_worker_url: String,
    pub billing_admin_token: String,
}

/// `[backup]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct BackupSection {
    pub enabled: bool,
    pub directory: String,
    pub time: String,
    pub retention_days: u32,
    pub passphrase_file: String,
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            enabled: true,
            directory: "backups".into(),
            time: "03:00".into(),
            retention_days: 14,
            passphrase_file: String::new(),
        }
    }
}

impl BackupSection {
    /// `time` as a local time of day; `backup.time` must be `HH:MM` on a 24-hour clock.
    pub(crate) fn time_of_day(&self) -> Result<jiff::civil::Time, ConfigError> {
        let bad = || invalid("backup.time", "must be a 24-hour local time HH:MM, such as 03:00");
        let (hour, minute) = self.time.split_once(':').ok_or_else(bad)?;
        let two_digits = |text: &str| text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(hour) || !two_digits(minute) {
            return Err(bad());
        }
        let (hour, minute) = (hour.parse::<i8>().map_err(|_| bad())?, minute.parse::<i8>().map_err(|_| bad())?);
        jiff::civil::Time::new(hour, minute, 0, 0).map_err(|_| bad())
    }
}

/// `[update]`: the release feed this server checks for new versions (see `crate::update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct UpdateSection {
    pub check: bool,
    pub auto_install: bool,
    pub feed_url: String,
    pub health_timeout_seconds: u32,
}

/// Where IPTinCan's releases are published (the product documentation's download site).
pub const DEFAULT_FEED_URL: &str = "https://update.iptincan.com/manifest.json";

impl Default for UpdateSection {
    fn default() -> Self {
        UpdateSection {
            check: true,
            auto_install: false,
            feed_url: DEFAULT_FEED_URL.into(),
            health_timeout_seconds: 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_time_is_a_time_of_day() {
        let section = |time: &str| BackupSection { time: time.into(), ..BackupSection::default() };
        assert_eq!(section("03:00").time_of_day().expect("valid"), jiff::civil::time(3, 0, 0, 0));
        assert_eq!(section("00:00").time_of_day().expect("valid"), jiff::civil::time(0, 0, 0, 0));
        assert_eq!(section("23:59").time_of_day().expect("valid"), jiff::civil::time(23, 59, 0, 0));
    }
}
