//! The client config for the official WireGuard apps: the `wg-quick` style text (and its QR
//! code, through `code`) that the server shows once when it makes a key pair for a member, and
//! a parser for that text (tests and scripts configure `wg` from it).

use std::net::Ipv4Addr;

/// Sent to the client's keepalive setting: keeps a NAT mapping open from the phone's side.
pub(crate) const PERSISTENT_KEEPALIVE: u16 = 25;

/// Everything a WireGuard client needs to reach this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client's private key (base64). Shown once; the server does not keep it.
    pub private_key: String,
    /// The client's tunnel address.
    pub address: Ipv4Addr,
    /// `vpn.dns_server`.
    pub dns: String,
    /// The server's public key (base64).
    pub server_public_key: String,
    /// `host:port` of the server's UDP port.
    pub endpoint: String,
}

/// Text that is not a config this module writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WireGuard client config: {0}")]
pub struct BadConfig(String);

impl ClientConfig {
    /// The config text, as the WireGuard apps import it (full tunnel, IPv4 and IPv6).
    pub fn to_text(&self) -> String {
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = {}/32\nDNS = {}\n\n[Peer]\nPublicKey = {}\nEndpoint = {}\n\
             AllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = {PERSISTENT_KEEPALIVE}\n",
            self.private_key, self.address, self.dns, self.server_public_key, self.endpoint
        )
    }

    /// Reads config text back (keys are case-insensitive, unknown keys are refused).
    pub fn parse(text: &str) -> Result<ClientConfig, BadConfig> {
        let (mut private_key, mut address, mut dns, mut server_public_key, mut endpoint) =
            (None, None, None, None, None);
        let mut section = "";
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
            if line.starts_with('[') {
                section = match line {
                    "[Interface]" => "interface",
                    "[Peer]" => "peer",
                    other => return Err(BadConfig(format!("unknown section {other}"))),
                };
                continue;
            }
            let (key, value) =
                line.split_once('=').ok_or_else(|| BadConfig(format!("expected key = value, found {line:?}")))?;
            let value = value.trim().to_string();
            match (section, key.trim().to_ascii_lowercase().as_str()) {
                ("interface", "privatekey") => private_key = Some(value),
                ("interface", "address") => {
                    let ip = value.split('/').next().unwrap_or_default();
                    address = Some(ip.parse().map_err(|_| BadConfig(format!("bad Address {value}")))?);
                }
                ("interface", "dns") => dns = Some(value),
                ("peer", "publickey") => server_public_key = Some(value),
                ("peer", "endpoint") => endpoint = Some(value),
                ("peer", "allowedips") | ("peer", "persistentkeepalive") => {}
                (_, other) => return Err(BadConfig(format!("unexpected key {other}"))),
            }
        }
        let missing = |what: &str| BadConfig(format!("{what} is missing"));
        Ok(ClientConfig {
            private_key: private_key.ok_or_else(|| missing("PrivateKey"))?,
            address: address.ok_or_else(|| missing("Address"))?,
            dns: dns.ok_or_else(|| missing("DNS"))?,
            server_public_key: server_public_key.ok_or_else(|| missing("PublicKey"))?,
            endpoint: endpoint.ok_or_else(|| missing("Endpoint"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClientConfig {
        ClientConfig {
            private_key: "cHJpdmF0ZXByaXZhdGVwcml2YXRlcHJpdmF0ZXByaXY=".into(),
            address: Ipv4Addr::new(10, 8, 0, 2),
            dns: "1.1.1.1".into(),
            server_public_key: "cHVibGljcHVibGljcHVibGljcHVibGljcHVibGljcHU=".into(),
            endpoint: "203.0.113.5:3785".into(),
        }
    }

    #[test]
    fn the_text_has_every_line_the_apps_need_and_parses_back() {
        let text = sample().to_text();
        for line in [
            "[Interface]",
            "Address = 10.8.0.2/32",
            "DNS = 1.1.1.1",
            "[Peer]",
            "Endpoint = 203.0.113.5:3785",
            "AllowedIPs = 0.0.0.0/0, ::/0",
            "PersistentKeepalive = 25",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        assert_eq!(ClientConfig::parse(&text), Ok(sample()));
    }

    #[test]
    fn broken_config_text_is_refused_with_the_reason() {
        let text = sample().to_text();
        let without_dns: String = text.lines().filter(|l| !l.starts_with("DNS")).map(|l| format!("{l}\n")).collect();
        assert_eq!(ClientConfig::parse(&without_dns), Err(BadConfig("DNS is missing".into())));
        assert!(ClientConfig::parse("[Nope]\n").is_err());
        assert!(ClientConfig::parse("[Interface]\nAddress = ten\n").is_err());
        assert!(ClientConfig::parse("[Interface]\njust words\n").is_err());
    }
}
