//! Admission of new connections, sans-IO: who may open a connection that has not logged in
//! yet (an *unfinished* connection: TLS handshake, `hello`, login; on the REST port, every
//! connection), and which one gives way when there is no room.
//!
//! Three limits, all per listening port: a budget of unfinished connections for everyone, a
//! cap on the unfinished connections of one address, and a rate of new connections per
//! address (a token bucket). An IPv6 address counts by its /64, the block one household gets.
//! When the budget is full, the newest unfinished connection from the busiest address is the
//! one refused: the arriving one if its address is (with it) the busiest, else the busiest
//! address's newest, which is closed to make room. Logged-in connections never count here,
//! so nothing in this module can refuse or close a member who has logged in.
//!
//! No I/O and no clock: [`Admission::arrive`] takes `now`, and the listener closes what it
//! is told to close.

use crate::ratelimit::RateLimiter;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Unfinished connections at once, from everyone.
    pub unfinished: usize,
    /// Unfinished connections at once from one address (IPv6: one /64).
    pub unfinished_per_address: usize,
    /// New connections one address may open at once; it then gets one more per
    /// `new_per_address_every`.
    pub new_per_address: u32,
    /// How often an address earns one more new connection.
    pub new_per_address_every: Duration,
}

/// Why a connection was refused (or, for [`Refusal::Full`], closed to make room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// Its address already has its maximum of unfinished connections.
    AddressBusy,
    /// Its address opened new connections faster than its rate.
    AddressTooFast,
    /// The budget of unfinished connections was full and it was the newest from the busiest
    /// address.
    Full,
}

/// A connection let in; hand the ticket back with [`Admission::leave`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Names this connection.
    pub ticket: u64,
    /// An unfinished connection to close now to make room (the busiest address's newest).
    pub evict: Option<u64>,
    /// More than half the budget is in use: the connection gets the short deadlines.
    pub under_pressure: bool,
}

/// The unfinished connections of one port.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: Limits,
    by_address: HashMap<IpAddr, VecDeque<u64>>,
    address_of: HashMap<u64, IpAddr>,
    arrivals: RateLimiter,
    next_ticket: u64,
}

impl Admission {
    /// Nobody connected yet.
    pub fn new(limits: Limits) -> Self {
        Admission {
            limits,
            by_address: HashMap::new(),
            address_of: HashMap::new(),
            arrivals: RateLimiter::new(limits.new_per_address, limits.new_per_address_every),
            next_ticket: 1,
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Unfinished connections now.
    pub fn unfinished(&self) -> usize {
        self.address_of.len()
    }

    /// A new connection from `peer` at `now`: let in (perhaps closing another), or refused.
    pub fn arrive(&mut self, peer: IpAddr, now: Instant) -> Result<Admitted, Refusal> {
        let address = address_key(peer);
        self.arrivals.take(&address.to_string(), now).map_err(|_| Refusal::AddressTooFast)?;
        let own = self.by_address.get(&address).map_or(0, VecDeque::len);
        if own >= self.limits.unfinished_per_address {
            return Err(Refusal::AddressBusy);
        }
        let mut evict = None;
        if self.unfinished() >= self.limits.unfinished {
            let busiest = self.busiest().ok_or(Refusal::Full)?;
            let busiest_count = self.by_address.get(&busiest).map_or(0, VecDeque::len);
            if own + 1 >= busiest_count {
                return Err(Refusal::Full);
            }
            let newest = self.by_address.get(&busiest).and_then(|tickets| tickets.back().copied());
            if let Some(newest) = newest {
                self.leave(newest);
            }
            evict = newest;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.by_address.entry(address).or_default().push_back(ticket);
        self.address_of.insert(ticket, address);
        let under_pressure = self.unfinished() * 2 > self.limits.unfinished;
        Ok(Admitted { ticket, evict, under_pressure })
    }

    /// The connection logged in or closed: it no longer counts. Unknown tickets are ignored.
    pub fn leave(&mut self, ticket: u64) {
        let Some(address) = self.address_of.remove(&ticket) else { return };
        if let Some(tickets) = self.by_address.get_mut(&address) {
            tickets.retain(|t| *t != ticket);
            if tickets.is_empty() {
                self.by_address.remove(&address);
            }
        }
    }

    /// The address with the most unfinished connections; on a tie, the one whose newest
    /// connection is newest.
    fn busiest(&self) -> Option<IpAddr> {
        self.by_address
            .iter()
            .max_by_key(|(_, tickets)| (tickets.len(), tickets.back().copied()))
            .map(|(address, _)| *address)
    }
}

/// The address a connection counts under: IPv4 as it is (an IPv4-mapped IPv6 address as its
/// IPv4 address), IPv6 by its /64.
pub fn address_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            unfinished: 6,
            unfinished_per_address: 4,
            new_per_address: 5,
            new_per_address_every: Duration::from_secs(1),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_is_capped_in_count_and_in_rate() {
        let start = Instant::now();
        let mut gate = Admission::new(limits());
        let tickets: Vec<_> = (0..4).map(|_| gate.arrive(ip(1), start).expect("room").ticket).collect();
        assert_eq!(gate.arrive(ip(1), start), Err(Refusal::AddressBusy));
        gate.leave(tickets[0]);
        assert_eq!(gate.arrive(ip(1), start), Err(Refusal::AddressTooFast), "five new ones used the burst");
        assert!(gate.arrive(ip(1), start + Duration::from_secs(1)).is_ok(), "one more a second later");
        assert!(gate.arrive(ip(2), start).is_ok(), "other addresses are not affected");
    }

    #[test]
    fn when_full_the_newest_from_the_busiest_address_gives_way() {
        let start = Instant::now();
        let mut gate = Admission::new(limits());
        let busy: Vec<_> = (0..4).map(|_| gate.arrive(ip(1), start).expect("room").ticket).collect();
        let other = gate.arrive(ip(2), start).expect("room");
        assert!(other.under_pressure, "5 of 6 in use");
        let sixth = gate.arrive(ip(2), start).expect("room");
        assert_eq!(sixth.evict, None);
        assert_eq!(gate.unfinished(), 6);

        let newcomer = gate.arrive(ip(3), start).expect("the busiest address gives way");
        assert_eq!(newcomer.evict, Some(busy[3]), "its newest");
        assert_eq!(gate.unfinished(), 6);
        let next = gate.arrive(ip(4), start).expect("again");
        assert_eq!(next.evict, Some(busy[2]));
        // Now ip(1) and ip(2) have 2 each: a third from ip(2) would make it the busiest.
        assert_eq!(gate.arrive(ip(2), start), Err(Refusal::Full));
        // Leaving makes room without evicting anyone.
        gate.leave(busy[0]);
        assert_eq!(gate.arrive(ip(5), start).map(|a| a.evict), Ok(None));
    }

    #[test]
    fn a_tie_takes_the_newest_connection() {
        let start = Instant::now();
        let mut gate = Admission::new(Limits { unfinished: 3, ..limits() });
        let first = gate.arrive(ip(1), start).expect("room");
        let second = gate.arrive(ip(2), start).expect("room");
        let third = gate.arrive(ip(3), start).expect("room");
        // Every address has one; a fourth address would tie, so it is refused itself.
        assert_eq!(gate.arrive(ip(4), start), Err(Refusal::Full));
        gate.leave(first.ticket);
        let again = gate.arrive(ip(2), start).expect("room again");
        assert_eq!(again.evict, None);
        assert_eq!(gate.arrive(ip(9), start).map(|a| a.evict), Ok(Some(again.ticket)));
        gate.leave(second.ticket);
        gate.leave(third.ticket);
        gate.leave(12345);
        assert_eq!(gate.unfinished(), 1);
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(address_key(mapped), ip(1));
        let start = Instant::now();
        let mut gate = Admission::new(limits());
        for _ in 0..4 {
            gate.arrive(a, start).expect("room");
        }
        assert_eq!(gate.arrive(b, start), Err(Refusal::AddressBusy), "same /64");
        assert!(gate.arrive(c, start).is_ok());
    }
}
