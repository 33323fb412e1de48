//! An IPv4 subnet as the VPN's address pool (`vpn.subnet`): its first host address is the
//! server's and its other host addresses go to peers, lowest free first. Below config, store
//! and vpn, which all speak of it.

use std::net::Ipv4Addr;

/// A subnet that is not `a.b.c.d/prefix` with a prefix from 8 to 30.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an IPv4 network with a prefix from /8 to /30, such as 10.8.0.0/24")]
pub struct BadSubnet;

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// Parses `10.8.0.0/24`; host bits are cleared (`10.8.0.7/24` is `10.8.0.0/24`).
    pub fn parse(text: &str) -> Result<Subnet, BadSubnet> {
        let (network, prefix) = text.trim().split_once('/').ok_or(BadSubnet)?;
        let network: Ipv4Addr = network.parse().map_err(|_| BadSubnet)?;
        let prefix: u8 = prefix.parse().map_err(|_| BadSubnet)?;
        if !(8..=30).contains(&prefix) {
            return Err(BadSubnet);
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet { network: Ipv4Addr::from(u32::from(network) & mask), prefix })
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The server's address: the first host address.
    pub fn server_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Whether `address` is inside this network.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(address) & mask == u32::from(self.network)
    }

    /// The lowest peer address (a host address other than the server's) not in `taken`.
    pub(crate) fn first_free(&self, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | (u32::MAX >> self.prefix);
        (first..broadcast).map(Ipv4Addr::from).find(|candidate| !taken.contains(candidate))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_takes_the_first_host_and_peers_the_lowest_free_ones() {
        let subnet = Subnet::parse("10.8.0.9/24").expect("valid");
        assert_eq!(subnet.to_string(), "10.8.0.0/24");
        assert_eq!(subnet.server_address(), Ipv4Addr::new(10, 8, 0, 1));
        assert_eq!(subnet.first_free(&[]), Some(Ipv4Addr::new(10, 8, 0, 2)));
        let taken = [Ipv4Addr::new(10, 8, 0, 2), Ipv4Addr::new(10, 8, 0, 4)];
        assert_eq!(subnet.first_free(&taken), Some(Ipv4Addr::new(10, 8, 0, 3)));
        assert!(subnet.contains(Ipv4Addr::new(10, 8, 0, 200)));
        assert!(!subnet.contains(Ipv4Addr::new(10, 8, 1, 2)));
    }

    #[test]
    fn a_full_pool_has_no_address_and_the_broadcast_is_never_given() {
        let subnet = Subnet::parse("10.9.0.0/30").expect("valid");
        let only = subnet.first_free(&[]).expect("one peer address");
        assert_eq!(only, Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(subnet.first_free(&[only]), None);
    }

    #[test]
    fn bad_subnets_are_refused() {
        for bad in ["10.8.0.0", "10.8.0.0/31", "10.8.0.0/7", "10.8.0/24", "x/24", "10.8.0.0/x"] {
            assert_eq!(Subnet::parse(bad), Err(BadSubnet), "{bad}");
        }
    }
}
