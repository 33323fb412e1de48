//! Plain-words explanations of why the server cannot be reached from the internet.
//!
//! Pure classification: it takes what the router said (its external address, a refusal) and
//! returns a [`Problem`] a parent can act on. It does no I/O and keeps no state; the mapping
//! task in [`super`] decides when to ask.

use super::Protocol;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};

/// What kind of obstacle stands between the internet and this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// No router answered UPnP or NAT-PMP.
    NoRouterSupport,
    /// The router had answered before and has stopped (restarting, unplugged).
    RouterLost,
    /// The router's external address is in 100.64.0.0/10: the provider shares it.
    CarrierGradeNat,
    /// The router's external address is private: another router sits in front of it.
    DoubleNat,
    /// The router reports no usable external address: it is probably offline.
    NoExternalAddress,
    /// The router refused to open a port.
    MappingRefused,
}

/// An obstacle, with a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Which obstacle.
    pub kind: ProblemKind,
    /// What it means and what to do, in plain words.
    pub message: String,
}

/// How the router's external address looks from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExternalAddress {
    /// A public address: mapped ports can be reached from the internet.
    Public,
    /// 100.64.0.0/10, the range providers use for carrier-grade NAT (RFC 6598).
    CarrierGradeNat,
    /// A private (RFC 1918), link-local or unique-local address: another NAT is in front.
    Private,
    /// Unspecified, loopback, broadcast or multicast: not an address anyone can reach.
    Unusable,
}

/// Classifies the external address a router reported.
pub(crate) fn classify(ip: IpAddr) -> ExternalAddress {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None if v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() => ExternalAddress::Unusable,
            // fc00::/7 unique local, fe80::/10 link-local
            None if (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80 => {
                ExternalAddress::Private
            }
            None => ExternalAddress::Public,
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> ExternalAddress {
    let [first, second, ..] = ip.octets();
    if first == 100 && (64..128).contains(&second) {
        ExternalAddress::CarrierGradeNat
    } else if ip.is_private() || ip.is_link_local() {
        ExternalAddress::Private
    } else if ip.is_unspecified() || ip.is_loopback() || ip.is_broadcast() || ip.is_multicast() {
        ExternalAddress::Unusable
    } else {
        ExternalAddress::Public
    }
}

/// The problem an external address reveals, if any.
pub(crate) fn external_address_problem(ip: IpAddr) -> Option<Problem> {
    let (kind, message) = match classify(ip) {
        ExternalAddress::Public => return None,
        ExternalAddress::CarrierGradeNat => (
            ProblemKind::CarrierGradeNat,
            format!(
                "Your internet provider shares one public address among many customers (carrier-grade NAT: \
                 your router's internet address {ip} is not a public one). Ports opened on your router \
                 cannot be reached from the internet. Ask your provider for a public IPv4 address."
            ),
        ),
        ExternalAddress::Private => (
            ProblemKind::DoubleNat,
            format!(
                "Your router is itself behind another router (double NAT: its internet address {ip} is a \
                 private one). The ports are open on your router, but the other router (often the \
                 provider's modem) must also forward TCP and UDP to it, or be put in bridge mode."
            ),
        ),
        ExternalAddress::Unusable => return Some(no_external_address(&ip.to_string())),
    };
    Some(Problem { kind, message })
}

/// The router has no usable internet address; `answer` is what it gave instead.
pub(crate) fn no_external_address(answer: &str) -> Problem {
    Problem {
        kind: ProblemKind::NoExternalAddress,
        message: format!(
            "Your router reports no usable internet address ({answer}); it may not be connected to the \
             internet right now. The server keeps asking."
        ),
    }
}

/// No router answered UPnP or NAT-PMP.
pub fn no_router_support() -> Problem {
    Problem {
        kind: ProblemKind::NoRouterSupport,
        message: "Your router does not offer automatic port opening (UPnP/NAT-PMP), or it is switched off \
                  in the router's settings. Turn on UPnP in the router, or forward TCP and UDP ports to \
                  this computer by hand."
            .to_string(),
    }
}

/// The router answered before and does not now.
pub(crate) fn router_lost(reason: &str) -> Problem {
    Problem {
        kind: ProblemKind::RouterLost,
        message: format!(
            "The router stopped answering ({reason}); it may be restarting. The server keeps trying and \
             opens the ports again when the router is back."
        ),
    }
}

/// The router refused to open `protocol` port `port`; `answer` is what it said.
pub(crate) fn mapping_refused(protocol: Protocol, port: u16, answer: &str) -> Problem {
    Problem {
        kind: ProblemKind::MappingRefused,
        message: format!(
            "The router refused to open {protocol} port {port} for this computer (it answered: {answer}). \
             Check that automatic port opening is allowed for this computer in the router's settings, \
             or forward the port by hand."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(ip: &str) -> Option<ProblemKind> {
        external_address_problem(ip.parse().expect("an address")).map(|problem| problem.kind)
    }

    #[test]
    fn public_addresses_are_fine() {
        assert_eq!(kind_of("11.0.0.1"), None);
        assert_eq!(kind_of("203.0.113.7"), None);
        assert_eq!(kind_of("2001:db8::1"), None);
        assert_eq!(kind_of("100.63.255.255"), None);
        assert_eq!(kind_of("100.128.0.0"), None);
    }

    #[test]
    fn shared_provider_addresses_are_carrier_grade_nat() {
        assert_eq!(kind_of("100.64.0.1"), Some(ProblemKind::CarrierGradeNat));
        assert_eq!(kind_of("100.127.255.254"), Some(ProblemKind::CarrierGradeNat));
        assert_eq!(kind_of("::ffff:100.100.1.1"), Some(ProblemKind::CarrierGradeNat));
    }

    #[test]
    fn private_addresses_mean_double_nat() {
        for ip in ["10.0.0.1", "172.16.5.4", "172.31.255.1", "192.168.1.1", "169.254.3.3", "fd00::1", "fe80::1"] {
            assert_eq!(kind_of(ip), Some(ProblemKind::DoubleNat), "{ip}");
        }
        assert_eq!(kind_of("172.32.0.1"), None);
    }

    #[test]
    fn nonsense_addresses_mean_offline() {
        for ip in ["0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.1", "::"] {
            assert_eq!(kind_of(ip), Some(ProblemKind::NoExternalAddress), "{ip}");
        }
    }

    #[test]
    fn messages_name_what_matters() {
        let cgnat = external_address_problem("100.64.1.2".parse().expect("ip")).expect("a problem");
        assert!(cgnat.message.contains("100.64.1.2") && cgnat.message.contains("carrier-grade NAT"));
        let refused = mapping_refused(Protocol::Udp, 3785, "not authorized (606)");
        assert!(refused.message.contains("UDP port 3785") && refused.message.contains("not authorized (606)"));
        assert!(no_router_support().message.contains("UPnP/NAT-PMP"));
    }
}
