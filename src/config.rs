//! `server.toml`: every section and key of the reference configuration with its documented
//! default, first-run creation, parsing and validation.
//!
//! A bad value is a [`ConfigError`] naming the key (`server.tcp_port: ...`); unknown keys are
//! returned as warnings, not errors. This module reads and writes only the config file; it
//! does not resolve or touch the other paths it names.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The file written on first run: the reference configuration with comments.
pub const TEMPLATE: &str = include_str!("../assets/server.toml");
/// The config file's name inside the data directory.
pub const FILE_NAME: &str = "server.toml";
/// Accepted values of `server.log_level`.
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, on one line.
        message: String,
    },
    /// A key has a value that is not allowed.
    #[error("{key}: {reason}")]
    Invalid {
        /// Dotted key, e.g. `server.tcp_port`.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), reason: reason.into() }
}

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
    pub max_storage_bytes: u64,
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
            max_storage_bytes: 0,
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
    pub fn time_of_day(&self) -> Result<jiff::civil::Time, ConfigError> {
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

/// A parsed, validated configuration and what was odd about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Things worth a warning in the log: unknown keys, features not in this version.
    pub warnings: Vec<String>,
    /// Whether the file was created by this call (first run).
    pub created: bool,
}

/// Reads `path`, writing the default template there first if it does not exist.
pub fn load_or_create(path: &Path) -> Result<Loaded, ConfigError> {
    let io_err = |source| ConfigError::Io { path: path.display().to_string(), source };
    let created = !path.exists();
    if created {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        std::fs::write(path, TEMPLATE).map_err(io_err)?;
    }
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    let mut loaded = parse(&text, &path.display().to_string())?;
    loaded.created = created;
    Ok(loaded)
}

/// Writes the configuration chosen in the tray app's first-run setup to `path`: `template`
/// (normally [`TEMPLATE`]), comments and all, with `server.name` and `network.upnp` set, and
/// `auth.allow_registration` off (the tray's server is invite-only).
/// Validates before writing, and writes through a temporary file, so a failure leaves no
/// half-written config.
pub fn write_setup(
    path: &Path,
    template: &str,
    server_name: &str,
    open_router_ports: bool,
) -> Result<Loaded, ConfigError> {
    let mut document: toml_edit::DocumentMut =
        template.parse().map_err(|err: toml_edit::TomlError| invalid("template", err.to_string()))?;
    document["server"]["name"] = toml_edit::value(server_name);
    document["network"]["upnp"] = toml_edit::value(open_router_ports);
    // The tray's server is invite-only: family members join through the dashboard's invites.
    document["auth"]["allow_registration"] = toml_edit::value(false);
    write_document(path, &document)
}

/// Turns the VPN on or off in the config file at `path` (the dashboard's VPN box): sets
/// `[vpn] enabled`, adding the section if it is missing, and keeps everything else in the
/// file as it was (comments, order, other values). Validates before writing and writes
/// through a temporary file, like [`write_setup`]; returns the configuration now in the file.
pub fn write_vpn_enabled(path: &Path, enabled: bool) -> Result<Loaded, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: origin.clone(), source })?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|err: toml_edit::TomlError| ConfigError::Syntax { path: origin, message: err.to_string() })?;
    let vpn = document
        .entry("vpn")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| invalid("vpn", "must be a section ([vpn])"))?;
    vpn.insert("enabled", toml_edit::value(enabled));
    write_document(path, &document)
}

/// Validates `document` and writes it to `path` through a temporary file, so that a failure
/// leaves no half-written config.
fn write_document(path: &Path, document: &toml_edit::DocumentMut) -> Result<Loaded, ConfigError> {
    let text = document.to_string();
    let loaded = parse(&text, &path.display().to_string())?;
    let io_err = |source| ConfigError::Io { path: path.display().to_string(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let partial = path.with_extension("toml.partial");
    std::fs::write(&partial, text).map_err(io_err)?;
    std::fs::rename(&partial, path).map_err(io_err)?;
    Ok(loaded)
}

/// Parses and validates config text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
    let mut unknown = Vec::new();
    let deserializer = toml::Deserializer::new(text);
    let mut note_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let tracked = serde_ignored::Deserializer::new(deserializer, &mut note_unknown);
    let config: Config = serde_path_to_error::deserialize(tracked).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.message().replace('\n', " ");
        if key.is_empty() || key == "." {
            ConfigError::Syntax { path: origin.to_string(), message }
        } else {
            invalid(&key, message)
        }
    })?;
    validate(&config)?;
    let mut warnings: Vec<String> =
        unknown.into_iter().map(|key| format!("{key}: unknown key in {origin}, ignored")).collect();
    warnings.extend(not_yet_available(&config));
    Ok(Loaded { config, warnings, created: false })
}

/// Features that are configured on but not part of this version: a warning each.
fn not_yet_available(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut note = |on: bool, key: &str, what: &str| {
        if on {
            warnings.push(format!("{key}: {what} is not available in this version yet; setting ignored"));
        }
    };
    note(config.steam.enabled, "steam.enabled", "sign-in with Steam");
    note(config.xbox.enabled, "xbox.enabled", "sign-in with Xbox");
    note(config.google.enabled, "google.enabled", "sign-in with Google");
    note(config.cluster.enabled, "cluster.enabled", "clustering");
    note(config.license.public_server, "license.public_server", "the public server browser");
    warnings
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let server = &config.server;
    check_text("server.name", &server.name, 1, 100)?;
    check_text("server.description", &server.description, 0, 500)?;
    check_text("server.motd", &server.motd, 0, 2000)?;
    server
        .bind_address
        .parse::<IpAddr>()
        .map_err(|_| invalid("server.bind_address", "must be an IP address such as 0.0.0.0 or ::"))?;
    let ports = [("server.tcp_port", server.tcp_port), ("server.rest_port", server.rest_port)];
    if ports[0].1 != 0 && ports[0].1 == ports[1].1 {
        return Err(invalid("server.rest_port", "must differ from server.tcp_port"));
    }
    if !(1..=100_000).contains(&server.max_users) {
        return Err(invalid("server.max_users", "must be between 1 and 100000"));
    }
    if !(1..=64).contains(&server.max_video_senders) {
        return Err(invalid("server.max_video_senders", "must be between 1 and 64"));
    }
    if !LOG_LEVELS.contains(&server.log_level.as_str()) {
        return Err(invalid("server.log_level", format!("must be one of {}", LOG_LEVELS.join(", "))));
    }
    if server.shutdown_grace_seconds > 300 {
        return Err(invalid("server.shutdown_grace_seconds", "must be between 0 and 300"));
    }
    if server.tags.len() > 16 {
        return Err(invalid("server.tags", "at most 16 tags"));
    }
    for tag in &server.tags {
        check_text("server.tags", tag, 1, 32)?;
    }
    check_text("database.path", &config.database.path, 1, 4096)?;
    if config.tls.enabled {
        check_text("tls.cert_path", &config.tls.cert_path, 1, 4096)?;
        check_text("tls.key_path", &config.tls.key_path, 1, 4096)?;
    }
    let auth = &config.auth;
    if !(60..=31_536_000).contains(&auth.session_ttl_seconds) {
        return Err(invalid("auth.session_ttl_seconds", "must be between 60 and 31536000 (one year)"));
    }
    if let Err(reason) = check_username(&auth.default_user) {
        return Err(invalid("auth.default_user", reason));
    }
    check_text("auth.default_password", &auth.default_password, 1, 1024)?;
    if !(1..=10_000).contains(&auth.registrations_per_address) {
        return Err(invalid("auth.registrations_per_address", "must be between 1 and 10000"));
    }
    if !(1..=100_000).contains(&auth.registrations_per_server) {
        return Err(invalid("auth.registrations_per_server", "must be between 1 and 100000"));
    }
    if !(1..=604_800).contains(&auth.registration_window_seconds) {
        return Err(invalid("auth.registration_window_seconds", "must be between 1 and 604800 (one week)"));
    }
    check_url("license.server_url", &config.license.server_url, false)?;
    if config.license.heartbeat_interval < 30 {
        return Err(invalid("license.heartbeat_interval", "must be at least 30 seconds"));
    }
    check_url("steam.callback_base_url", &config.steam.callback_base_url, false)?;
    if config.steam.enabled && config.steam.api_key.is_empty() {
        return Err(invalid("steam.api_key", "required when steam.enabled = true"));
    }
    for (section, oauth) in [("xbox", &config.xbox), ("google", &config.google)] {
        check_url(&format!("{section}.callback_base_url"), &oauth.callback_base_url, false)?;
        if oauth.enabled && (oauth.client_id.is_empty() || oauth.client_secret.is_empty()) {
            return Err(invalid(
                &format!("{section}.client_id"),
                format!("client_id and client_secret are required when {section}.enabled = true"),
            ));
        }
    }
    validate_cluster(&config.cluster)?;
    validate_vpn(&config.vpn)?;
    let loopback = server.bind_address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if config.network.upnp && loopback {
        return Err(invalid(
            "network.upnp",
            "the server listens on loopback only (server.bind_address), which the router cannot reach",
        ));
    }
    if !LEASE_SECONDS.contains(&config.network.lease_seconds) {
        return Err(invalid("network.lease_seconds", "must be between 10 and 86400 (one day)"));
    }
    let notifications = &config.notifications;
    if !notifications.admin_email.is_empty() && !notifications.admin_email.contains('@') {
        return Err(invalid("notifications.admin_email", "must be an e-mail address or empty"));
    }
    check_url("notifications.billing_worker_url", &notifications.billing_worker_url, true)?;
    validate_backup(&config.backup)?;
    check_url("update.feed_url", &config.update.feed_url, false)?;
    if !(5..=600).contains(&config.update.health_timeout_seconds) {
        return Err(invalid("update.health_timeout_seconds", "must be between 5 and 600"));
    }
    Ok(())
}

fn validate_backup(backup: &BackupSection) -> Result<(), ConfigError> {
    check_text("backup.directory", &backup.directory, 1, 4096)?;
    backup.time_of_day()?;
    if !(1..=3650).contains(&backup.retention_days) {
        return Err(invalid("backup.retention_days", "must be between 1 and 3650"));
    }
    check_text("backup.passphrase_file", &backup.passphrase_file, 0, 4096)
}

fn validate_cluster(cluster: &crate::config::ClusterSection) -> Result<(), ConfigError> {
    if cluster.role != "primary" && cluster.role != "worker" {
        return Err(invalid("cluster.role", "must be \"primary\" or \"worker\""));
    }
    check_text("cluster.node_name", &cluster.node_name, 1, 64)?;
    if cluster.enabled {
        if cluster.cluster_secret.chars().count() < 16 {
            return Err(invalid("cluster.cluster_secret", "must be at least 16 characters when clustering is enabled"));
        }
        if cluster.role == "worker" && cluster.primary_address.is_empty() {
            return Err(invalid("cluster.primary_address", "required for a worker"));
        }
    }
    Ok(())
}

fn validate_vpn(vpn: &VpnSection) -> Result<(), ConfigError> {
    crate::subnet::Subnet::parse(&vpn.subnet).map_err(|err| invalid("vpn.subnet", err.to_string()))?;
    vpn.dns_server.parse::<IpAddr>().map_err(|_| invalid("vpn.dns_server", "must be an IP address such as 1.1.1.1"))?;
    let name_ok = (1..=15).contains(&vpn.tun_device_name.len())
        && vpn.tun_device_name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(invalid("vpn.tun_device_name", "must be 1 to 15 letters, digits, '-', '_' or '.'"));
    }
    Ok(())
}

fn check_text(key: &str, value: &str, min: usize, max: usize) -> Result<(), ConfigError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(invalid(key, format!("must be {min} to {max} characters long (is {len})")));
    }
    Ok(())
}

fn check_url(key: &str, value: &str, empty_ok: bool) -> Result<(), ConfigError> {
    if value.is_empty() && empty_ok {
        return Ok(());
    }
    if !(value.starts_with("http://") || value.starts_with("https://")) || value.contains(char::is_whitespace) {
        return Err(invalid(key, "must be an http:// or https:// URL"));
    }
    Ok(())
}

/// User names: 2 to 32 letters, digits, `_`, `-` or `.`.
pub fn check_username(name: &str) -> Result<(), &'static str> {
    let ok = (2..=32).contains(&name.chars().count()) && name.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err("user names are 2 to 32 letters, digits, '_', '-' or '.'")
    }
}

/// Where the server keeps its files.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path from the config, relative to the data directory unless absolute.
    pub fn resolve(&self, configured: &str) -> PathBuf {
        let path = Path::new(configured);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// The default config file location.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(FILE_NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_the_default_config() {
        let loaded = parse(TEMPLATE, "template").expect("template parses");
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn template_has_every_key() {
        let defaults = toml::Value::try_from(Config::default()).expect("serialises");
        let template: toml::Value = toml::from_str(TEMPLATE).expect("template parses");
        let (Some(defaults), Some(template)) = (defaults.as_table(), template.as_table()) else {
            panic!("both are tables");
        };
        for (section, keys) in defaults {
            let template_keys = template.get(section).and_then(|v| v.as_table());
            let Some(template_keys) = template_keys else { panic!("[{section}] missing") };
            let Some(keys) = keys.as_table() else { panic!("{section} is a table") };
            for key in keys.keys() {
                assert!(template_keys.contains_key(key), "{section}.{key} missing from the template");
            }
        }
    }

    fn error_key(text: &str) -> String {
        match parse(text, "test") {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(error_key("[server]\ntcp_port = \"abc\""), "server.tcp_port");
        assert_eq!(error_key("[server]\ntcp_port = 70000"), "server.tcp_port");
        assert_eq!(error_key("[server]\nlog_level = \"loud\""), "server.log_level");
        assert_eq!(error_key("[server]\nbind_address = \"home\""), "server.bind_address");
        assert_eq!(error_key("[server]\nmax_users = 0"), "server.max_users");
        assert_eq!(error_key("[server]\nmax_video_senders = 0"), "server.max_video_senders");
        assert_eq!(error_key("[server]\ntags = [\"\"]"), "server.tags");
        assert_eq!(error_key("[auth]\nsession_ttl_seconds = 5"), "auth.session_ttl_seconds");
        assert_eq!(error_key("[auth]\ndefault_user = \"a b\""), "auth.default_user");
        assert_eq!(error_key("[auth]\nregistrations_per_address = 0"), "auth.registrations_per_address");
        assert_eq!(error_key("[auth]\nregistrations_per_server = 100001"), "auth.registrations_per_server");
        assert_eq!(error_key("[auth]\nregistration_window_seconds = 0"), "auth.registration_window_seconds");
        assert_eq!(error_key("[vpn]\nsubnet = \"10.8.0.0\""), "vpn.subnet");
        assert_eq!(error_key("[vpn]\ntun_device_name = \"much-too-long-name\""), "vpn.tun_device_name");
        assert_eq!(error_key("[cluster]\nrole = \"boss\""), "cluster.role");
        assert_eq!(error_key("[cluster]\nenabled = true\ncluster_secret = \"short\""), "cluster.cluster_secret");
        assert_eq!(error_key("[license]\nserver_url = \"ftp://x\""), "license.server_url");
        assert_eq!(error_key("[server]\ntcp_port = 5000\nrest_port = 5000"), "server.rest_port");
        assert_eq!(error_key("[network]\nlease_seconds = 5"), "network.lease_seconds");
        assert_eq!(error_key("[network]\nupnp = \"yes\""), "network.upnp");
        assert_eq!(error_key("[server]\nbind_address = \"127.0.0.1\"\n[network]\nupnp = true"), "network.upnp");
        assert_eq!(error_key("[backup]\ndirectory = \"\""), "backup.directory");
        assert_eq!(error_key("[backup]\nretention_days = 0"), "backup.retention_days");
        assert_eq!(error_key("[backup]\nretention_days = 3651"), "backup.retention_days");
        assert_eq!(error_key("[backup]\nenabled = \"yes\""), "backup.enabled");
        for time in ["3:00", "24:00", "03:60", "03-00", "0300", "03:00:00", "+3:00", ""] {
            assert_eq!(error_key(&format!("[backup]\ntime = \"{time}\"")), "backup.time", "{time:?}");
        }
    }

    #[test]
    fn backup_time_is_a_time_of_day() {
        let section = |time: &str| BackupSection { time: time.into(), ..BackupSection::default() };
        assert_eq!(section("03:00").time_of_day().expect("valid"), jiff::civil::time(3, 0, 0, 0));
        assert_eq!(section("00:00").time_of_day().expect("valid"), jiff::civil::time(0, 0, 0, 0));
        assert_eq!(section("23:59").time_of_day().expect("valid"), jiff::civil::time(23, 59, 0, 0));
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let err = parse("[server\nname = 1", "f.toml").expect_err("bad toml");
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn unknown_keys_warn() {
        let loaded = parse("[server]\nnmae = \"x\"\n[extra]\na = 1", "f.toml").expect("parses");
        assert!(loaded.warnings.iter().any(|w| w.starts_with("server.nmae")), "{:?}", loaded.warnings);
        assert!(loaded.warnings.iter().any(|w| w.starts_with("extra")), "{:?}", loaded.warnings);
    }

    #[test]
    fn partial_file_takes_defaults() {
        let loaded = parse("[server]\nname = \"Smiths\"", "f.toml").expect("parses");
        assert_eq!(loaded.config.server.name, "Smiths");
        assert_eq!(loaded.config.server.tcp_port, 3784);
        assert_eq!(loaded.config.auth, AuthSection::default());
    }

    #[test]
    fn the_vpn_switch_adds_its_section_when_missing_and_refuses_a_mangled_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "# ours\n[server]\nname = \"Smiths\" # shown to the family\n").expect("writes");
        assert!(write_vpn_enabled(&path, true).expect("writes").config.vpn.enabled);
        let text = std::fs::read_to_string(&path).expect("reads");
        assert_eq!(text, "# ours\n[server]\nname = \"Smiths\" # shown to the family\n\n[vpn]\nenabled = true\n");
        assert!(!write_vpn_enabled(&path, false).expect("writes").config.vpn.enabled);

        std::fs::write(&path, "vpn = 1\n").expect("writes");
        let err = write_vpn_enabled(&path, true).expect_err("not a section");
        assert!(err.to_string().starts_with("vpn: "), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("reads"), "vpn = 1\n", "left as it was");
    }
}
