//! What to connect to: a connection code or `host[:port]`, parsed into a [`Target`].

use super::ClientError;
use crate::code::ConnectionCode;

/// The control port when an address has none.
pub const DEFAULT_PORT: u16 = 3784;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A connection code: address, TLS setting and pinned fingerprint.
    Code(ConnectionCode),
    /// A bare address; TLS, trust on first use.
    Address {
        /// Host name or IP.
        host: String,
        /// Control port.
        port: u16,
    },
}

impl Target {
    /// Parses a connection code or invite (`ITC-…` or its `itc://join/ITC-…` link), `host`,
    /// `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Target, ClientError> {
        let text = text.trim();
        if crate::code::is_code_like(text) {
            return Ok(Target::Code(crate::code::decode_code_or_invite(text)?));
        }
        let bad = || ClientError::BadTarget(text.to_string());
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        };
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return Err(bad());
        }
        Ok(Target::Address { host: host.to_string(), port })
    }

    pub(super) fn host(&self) -> &str {
        match self {
            Target::Code(code) => &code.host,
            Target::Address { host, .. } => host,
        }
    }

    pub(super) fn port(&self) -> u16 {
        match self {
            Target::Code(code) => code.port,
            Target::Address { port, .. } => *port,
        }
    }

    pub(super) fn tls(&self) -> bool {
        match self {
            Target::Code(code) => code.tls,
            Target::Address { .. } => true,
        }
    }

    /// `host:port` (IPv6 in brackets), as known-hosts keys and messages use it.
    pub fn authority(&self) -> String {
        let host = self.host();
        if host.contains(':') {
            format!("[{host}]:{}", self.port())
        } else {
            format!("{host}:{}", self.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let addr = |host: &str, port| Target::Address { host: host.into(), port };
        assert_eq!(Target::parse("chat.example.com").ok(), Some(addr("chat.example.com", 3784)));
        assert_eq!(Target::parse("192.168.1.100:4000").ok(), Some(addr("192.168.1.100", 4000)));
        assert_eq!(Target::parse("[::1]:5000").ok(), Some(addr("::1", 5000)));
        assert_eq!(Target::parse("::1").ok(), Some(addr("::1", 3784)));
        assert_eq!(addr("::1", 5000).authority(), "[::1]:5000");
        for bad in ["", "host:0", "host:port", "a b", "[::1", "http://x/", "ab€:x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Target::parse("ITC-bad"), Err(ClientError::Code(_))));
        assert!(matches!(Target::parse("https://example.com/"), Err(ClientError::Code(_))));
        let code = crate::code::ConnectionCode {
            name: "Home".into(),
            host: "192.0.2.1".into(),
            port: 4000,
            tls: true,
            fingerprint: None,
        };
        let invite = crate::code::Invite { code: code.clone(), secret: crate::code::Invite::new_secret() };
        let expected = Some(Target::Code(code.clone()));
        assert_eq!(Target::parse(&invite.link().expect("link")).ok(), expected);
        assert_eq!(Target::parse(&invite.encode().expect("text")).ok(), expected);
        let code_link = format!("{}{}", crate::code::LINK_PREFIX, code.encode().expect("code"));
        assert_eq!(Target::parse(&format!(" {code_link}/ ")).ok(), expected);
    }
}
