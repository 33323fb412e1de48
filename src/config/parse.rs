//! Parsing and validation of config text: a bad value is an error naming its dotted key; unknown
//! keys and features not in this version become warnings. Also the user-name rule.

use super::{invalid, BackupSection, Config, ConfigError, VpnSection, LEASE_SECONDS};
use std::net::IpAddr;

/// The largest `server.max_file_bytes` accepted: 1 TiB.
const MAX_FILE_BYTES_LIMIT: u64 = 1 << 40;

/// Accepted values of `server.log_level`.
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

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
    if config.auth.require_approval && !config.auth.allow_registration {
        warnings.push(
            "auth.require_approval: has no effect while auth.allow_registration = false (invites skip approval)".into(),
        );
    }
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
    if !(16..=100_000).contains(&server.max_unfinished_connections) {
        return Err(invalid("server.max_unfinished_connections", "must be between 16 and 100000"));
    }
    if !(1..=10_000).contains(&server.max_unfinished_per_address) {
        return Err(invalid("server.max_unfinished_per_address", "must be between 1 and 10000"));
    }
    if !(1..=100_000).contains(&server.new_connections_per_minute) {
        return Err(invalid("server.new_connections_per_minute", "must be between 1 and 100000"));
    }
    if !(1..=10_000).contains(&server.max_devices_per_account) {
        return Err(invalid("server.max_devices_per_account", "must be between 1 and 10000"));
    }
    if !(1..=3600).contains(&server.keepalive_seconds) {
        return Err(invalid("server.keepalive_seconds", "must be between 1 and 3600"));
    }
    if !(1..=MAX_FILE_BYTES_LIMIT).contains(&server.max_file_bytes) {
        return Err(invalid("server.max_file_bytes", "must be between 1 and 1099511627776 (1 TiB)"));
    }
    if !(1..=604_800).contains(&server.upload_resume_seconds) {
        return Err(invalid("server.upload_resume_seconds", "must be between 1 and 604800 (one week)"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthSection;

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
        assert_eq!(error_key("[server]\nmax_unfinished_connections = 15"), "server.max_unfinished_connections");
        assert_eq!(error_key("[server]\nmax_unfinished_per_address = 0"), "server.max_unfinished_per_address");
        assert_eq!(error_key("[server]\nnew_connections_per_minute = 0"), "server.new_connections_per_minute");
        assert_eq!(error_key("[server]\nmax_devices_per_account = 0"), "server.max_devices_per_account");
        assert_eq!(error_key("[server]\nkeepalive_seconds = 0"), "server.keepalive_seconds");
        assert_eq!(error_key("[server]\nmax_file_bytes = 0"), "server.max_file_bytes");
        assert_eq!(error_key("[server]\nmax_file_bytes = 1099511627777"), "server.max_file_bytes");
        assert_eq!(error_key("[server]\nupload_resume_seconds = 0"), "server.upload_resume_seconds");
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
        assert_eq!(error_key("[chat]\nlink_previews = \"yes\""), "chat.link_previews");
        for time in ["3:00", "24:00", "03:60", "03-00", "0300", "03:00:00", "+3:00", ""] {
            assert_eq!(error_key(&format!("[backup]\ntime = \"{time}\"")), "backup.time", "{time:?}");
        }
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let err = parse("[server\nname = 1", "f.toml").expect_err("bad toml");
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn require_approval_is_a_boolean_and_warns_when_it_cannot_apply() {
        let off = parse("[auth]\nrequire_approval = true\nallow_registration = false\n", "t").expect("valid");
        assert!(off.config.auth.require_approval);
        assert!(off.warnings.iter().any(|w| w.starts_with("auth.require_approval")), "{:?}", off.warnings);
        let on = parse("[auth]\nrequire_approval = true\n", "t").expect("valid");
        assert!(on.warnings.iter().all(|w| !w.starts_with("auth.require_approval")), "{:?}", on.warnings);
        assert!(!parse("", "t").expect("valid").config.auth.require_approval, "off by default");
        let wrong = parse("[auth]\nrequire_approval = \"yes\"\n", "t").expect_err("not a boolean").to_string();
        assert!(wrong.contains("auth.require_approval"), "{wrong}");
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
}
