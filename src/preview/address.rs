//! Which addresses a link preview may connect to: a pure function over one IP address. Refused
//! are every address that is not plainly on the public internet (loopback, private, link-local,
//! CGNAT, multicast, unspecified, broadcast, documentation, benchmarking and other special
//! ranges), judged through the IPv4 address carried inside IPv6 forms (IPv4-mapped,
//! IPv4-compatible, IPv4-translated, 6to4, NAT64), and the server's own addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} address")]
pub struct Refused(pub &'static str);

/// Whether a link preview may connect to `ip`: `Ok` for a public address that is none of
/// `own` (the server's own addresses), else why not.
pub fn check(ip: IpAddr, own: &[IpAddr]) -> Result<(), Refused> {
    let canonical = canonical(ip);
    if own.iter().any(|mine| canonical == self::canonical(*mine)) {
        return Err(Refused("the server's own"));
    }
    match canonical {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn check_v4(ip: Ipv4Addr) -> Result<(), Refused> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified (\"this network\")"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved or broadcast"),
    ];
    match RANGES.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)) {
        Some((_, _, why)) => Err(Refused(why)),
        None => Ok(()),
    }
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The IPv4 address in bits `from..from + 32` of `ip`.
fn embedded_v4(ip: Ipv6Addr, from: u32) -> Ipv4Addr {
    Ipv4Addr::from(((u128::from(ip) >> (96 - from)) & 0xffff_ffff) as u32)
}

fn check_v6(ip: Ipv6Addr) -> Result<(), Refused> {
    if ip.is_unspecified() {
        return Err(Refused("unspecified"));
    }
    if ip.is_loopback() {
        return Err(Refused("loopback"));
    }
    // Forms that carry an IPv4 address: judged by it (and refused when it is not public).
    let carriers: &[([u16; 8], u32, u32)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 96, 96),         // IPv4-compatible (deprecated)
        ([0, 0, 0, 0, 0xffff, 0, 0, 0], 96, 96),    // IPv4-translated
        ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, 96), // NAT64 well-known prefix
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, 16),    // 6to4
    ];
    for (net, prefix, at) in carriers {
        if in_v6(ip, *net, *prefix) {
            return check_v4(embedded_v4(ip, *at));
        }
    }
    const RANGES: &[([u16; 8], u32, &str)] = &[
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "NAT64 local-use"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF protocol (Teredo, benchmarking, ORCHID)"),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (private)"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
    ];
    if let Some((_, _, why)) = RANGES.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)) {
        return Err(Refused(why));
    }
    if in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        Ok(())
    } else {
        Err(Refused("reserved (not global unicast)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_that_are_not_the_servers_own_pass() {
        let own: Vec<IpAddr> = vec!["93.184.215.14".parse().expect("ip"), "2a01:4f8::5".parse().expect("ip")];
        let table: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("45.33.1.10", true),
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001:80b::200e", true),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::808:808", true),
            ("2002:808:808::1", true),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.1", true),
            ("169.254.169.254", false),
            ("192.0.0.170", false),
            ("192.0.2.10", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("192.88.99.1", false),
            ("224.0.0.251", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("::", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.1.2.3", false),
            ("::ffff:169.254.169.254", false),
            ("::127.0.0.1", false),
            ("::10.0.0.1", false),
            ("::ffff:0:a00:1", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b:1::808:808", false),
            ("2002:7f00:1::", false),
            ("2002:a00:1::1", false),
            ("2002:a9fe:a9fe::", false),
            ("2001::1", false),
            ("2001:2::1", false),
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("fec0::1", false),
            ("ff02::1", false),
            ("100::1", false),
            ("4000::1", false),
            ("93.184.215.14", false),
            ("::ffff:93.184.215.14", false),
            ("2a01:4f8::5", false),
        ];
        for (address, allowed) in table {
            let ip: IpAddr = address.parse().expect("a valid address in the table");
            assert_eq!(check(ip, &own).is_ok(), *allowed, "{address}: {:?}", check(ip, &own));
        }
    }
}
