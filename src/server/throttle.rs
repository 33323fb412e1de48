//! Login and registration limits, sans-IO: every decision takes `now` and the caller's
//! address key (an IPv4 address, or an IPv6 address's /64), and nothing here reads a clock.
//!
//! Login limits are built so that a stranger cannot turn them against the account's owner
//! (the approach OWASP describes as device cookies):
//! - per address: [`ADDRESS_RATE`] failed attempts, whatever the account;
//! - per (account, address): [`PAIR_RATE`] failed attempts;
//! - per account, from every address together: [`ACCOUNT_RATE`]. When it is spent, it slows
//!   only addresses that have failed on that account themselves within [`FAILURE_MEMORY`]
//!   (or have an attempt on it still being checked); an address that has not failed still
//!   gets its try.
//! - a device that presents a valid device cookie for the account is checked against that
//!   cookie's own bucket ([`DEVICE_RATE`]) only, so no other address's failures hold it back.
//!
//! An attempt takes its tokens when it begins (so parallel guesses cannot exceed a limit) and
//! gets them back when it succeeds ([`LoginLimits::succeeded`]); a failure keeps them taken.
//!
//! Registration limits: per address and server-wide token buckets of `n` accounts per window,
//! refilling one every `window / n` (a spent bucket is full again one window later).

use crate::ratelimit::{Rate, RateLimiter, TokenBucket};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed logins per address, whatever the account: 20, then one every 30 s.
pub(crate) const ADDRESS_RATE: Rate = Rate::new(20, Duration::from_secs(30));
/// Failed logins per (account, address): 5, then one every 60 s.
pub(crate) const PAIR_RATE: Rate = Rate::new(5, Duration::from_secs(60));
/// Failed logins per account from every address together: 10, then one every 60 s.
pub(crate) const ACCOUNT_RATE: Rate = Rate::new(10, Duration::from_secs(60));
/// Failed logins per device cookie: 5, then one every 60 s.
pub(crate) const DEVICE_RATE: Rate = Rate::new(5, Duration::from_secs(60));
/// How long an account counts as under attack after an attempt on it was refused.
pub(crate) const UNDER_ATTACK_FOR: Duration = Duration::from_secs(120);
/// How long a failure is remembered: an address that failed on an account this recently
/// waits for the account-wide bucket, and an existing account given a wrong password this
/// recently can be named by [`LoginLimits::accounts_under_attack`].
pub(crate) const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// Entries kept in the memories above before old ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// The key an address is counted under: [`crate::transport::admission::address_key`] (IPv6 by
/// its /64), as text.
pub fn address_key(peer: IpAddr) -> String {
    crate::transport::admission::address_key(peer).to_string()
}

/// The key an account is counted under: user names are one account regardless of ASCII case.
pub(crate) fn account_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Who tries to log in.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The address key ([`address_key`]).
    pub address: &'a str,
    /// The account name as given.
    pub account: &'a str,
    /// The device cookie's id, when the attempt presented a cookie valid for this account.
    pub device: Option<&'a str>,
}

/// Why an attempt was refused before its password was checked, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Too many failures from this address.
    Address(Duration),
    /// Too many failures on this account (from this address, or from everywhere while this
    /// address has failed too).
    Account(Duration),
    /// Too many failures with this device cookie.
    Device(Duration),
}

impl LoginRefusal {
    /// How long until the next attempt can be let through.
    pub fn wait(self) -> Duration {
        match self {
            LoginRefusal::Address(wait) | LoginRefusal::Account(wait) | LoginRefusal::Device(wait) => wait,
        }
    }
}

/// The tokens an attempt took; give it to [`LoginLimits::succeeded`] when the password was
/// right, or to [`LoginLimits::failed`] when it was not.
#[derive(Debug)]
#[must_use = "say how the attempt ended: succeeded or failed"]
pub struct LoginTicket {
    account: String,
    taken: Vec<(Bucket, String)>,
}

#[derive(Debug, Clone, Copy)]
enum Bucket {
    Address,
    Pair,
    Account,
    Device,
}

/// Failed-login limits.
#[derive(Debug)]
pub struct LoginLimits {
    per_address: RateLimiter,
    per_pair: RateLimiter,
    per_account: RateLimiter,
    per_device: RateLimiter,
    /// Accounts with an attempt refused for this account's failures, and when the last one was.
    refused: HashMap<String, Instant>,
    /// Existing accounts given a wrong password: their name as stored, and when.
    failed: HashMap<String, (String, Instant)>,
    /// (account, address) pairs with a failure, and when the last one was.
    pair_failed: HashMap<String, Instant>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits::new()
    }
}

impl LoginLimits {
    /// The documented limits.
    pub fn new() -> Self {
        LoginLimits {
            per_address: RateLimiter::with_rate(ADDRESS_RATE),
            per_pair: RateLimiter::with_rate(PAIR_RATE),
            per_account: RateLimiter::with_rate(ACCOUNT_RATE),
            per_device: RateLimiter::with_rate(DEVICE_RATE),
            refused: HashMap::new(),
            failed: HashMap::new(),
            pair_failed: HashMap::new(),
        }
    }

    /// Starts an attempt: refused when a limit applies to it, else takes a token from each
    /// bucket that counts it until [`LoginLimits::succeeded`] gives them back.
    pub(crate) fn begin(&mut self, attempt: Attempt<'_>, now: Instant) -> Result<LoginTicket, LoginRefusal> {
        let account = account_key(attempt.account);
        let decided = match attempt.device {
            Some(device) => self.begin_device(device, now),
            None => self.begin_address(attempt.address, &account, now),
        };
        match decided {
            Ok(taken) => Ok(LoginTicket { account, taken }),
            Err(refusal) => {
                if !matches!(refusal, LoginRefusal::Address(_)) {
                    if self.refused.len() >= PRUNE_ABOVE {
                        self.refused.retain(|_, at| recent(*at, now, UNDER_ATTACK_FOR));
                    }
                    self.refused.insert(account, now);
                }
                Err(refusal)
            }
        }
    }

    fn begin_device(&mut self, device: &str, now: Instant) -> Result<Vec<(Bucket, String)>, LoginRefusal> {
        self.per_device.take(device, now).map_err(LoginRefusal::Device)?;
        Ok(vec![(Bucket::Device, device.to_string())])
    }

    fn begin_address(
        &mut self,
        address: &str,
        account: &str,
        now: Instant,
    ) -> Result<Vec<(Bucket, String)>, LoginRefusal> {
        let pair = format!("{account}\n{address}");
        self.per_address.check(address, now).map_err(LoginRefusal::Address)?;
        self.per_pair.check(&pair, now).map_err(LoginRefusal::Account)?;
        let account_open = self.per_account.check(account, now);
        if let Err(wait) = account_open {
            let failed_lately = self.pair_failed.get(&pair).is_some_and(|at| recent(*at, now, FAILURE_MEMORY));
            if failed_lately || !self.per_pair.is_full(&pair, now) {
                return Err(LoginRefusal::Account(wait));
            }
        }
        self.per_address.consume(address, now);
        self.per_pair.consume(&pair, now);
        let mut taken = vec![(Bucket::Address, address.to_string()), (Bucket::Pair, pair)];
        if account_open.is_ok() {
            self.per_account.consume(account, now);
            taken.push((Bucket::Account, account.to_string()));
        }
        Ok(taken)
    }

    /// The attempt succeeded: it costs nothing.
    pub fn succeeded(&mut self, ticket: LoginTicket, now: Instant) {
        for (bucket, key) in ticket.taken {
            let limiter = match bucket {
                Bucket::Address => &mut self.per_address,
                Bucket::Pair => &mut self.per_pair,
                Bucket::Account => &mut self.per_account,
                Bucket::Device => &mut self.per_device,
            };
            limiter.refund(&key, now);
        }
    }

    /// The password was wrong: the tokens stay taken. `existing` is the account's name as
    /// stored, when the account exists.
    pub fn failed(&mut self, ticket: LoginTicket, existing: Option<&str>, now: Instant) {
        if let Some((_, pair)) = ticket.taken.into_iter().find(|(bucket, _)| matches!(bucket, Bucket::Pair)) {
            if self.pair_failed.len() >= PRUNE_ABOVE {
                self.pair_failed.retain(|_, at| recent(*at, now, FAILURE_MEMORY));
            }
            self.pair_failed.insert(pair, now);
        }
        if let Some(name) = existing {
            if self.failed.len() >= PRUNE_ABOVE {
                self.failed.retain(|_, (_, at)| recent(*at, now, FAILURE_MEMORY));
            }
            self.failed.insert(ticket.account, (name.to_string(), now));
        }
    }

    /// Existing accounts, by their stored name, on which an attempt was refused within
    /// [`UNDER_ATTACK_FOR`] before `now` because of failures on that account (not merely
    /// those of one address), sorted.
    pub(crate) fn accounts_under_attack(&self, now: Instant) -> Vec<String> {
        let mut names: Vec<String> = self
            .refused
            .iter()
            .filter(|(_, at)| recent(**at, now, UNDER_ATTACK_FOR))
            .filter_map(|(account, _)| self.failed.get(account))
            .filter(|(_, at)| recent(*at, now, FAILURE_MEMORY))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }
}

/// Whether `at` lies less than `within` before `now`.
fn recent(at: Instant, now: Instant, within: Duration) -> bool {
    now.saturating_duration_since(at) < within
}

/// Why a registration was refused, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationRefusal {
    /// This address made its share of accounts.
    Address(Duration),
    /// The server made its share of accounts, from every address together.
    Server(Duration),
}

/// The tokens a registration took; give it back with [`RegistrationLimits::refund`] when no
/// account was made.
#[derive(Debug)]
#[must_use = "a ticket that is dropped counts as an account made"]
pub(crate) struct RegistrationTicket {
    address: String,
}

/// How many accounts `register` makes per address and server-wide.
#[derive(Debug)]
pub struct RegistrationLimits {
    per_address: RateLimiter,
    server_rate: Rate,
    server: Option<TokenBucket>,
}

impl RegistrationLimits {
    /// `per_address` accounts per address and `per_server` in all, per `window`.
    pub fn new(per_address: u32, per_server: u32, window: Duration) -> Self {
        let every = |n: u32| window / n.max(1);
        RegistrationLimits {
            per_address: RateLimiter::new(per_address, every(per_address)),
            server_rate: Rate::new(per_server, every(per_server)),
            server: None,
        }
    }

    /// Starts a registration from `address`: refused when either bucket is empty.
    pub(crate) fn begin(&mut self, address: &str, now: Instant) -> Result<RegistrationTicket, RegistrationRefusal> {
        let server = self.server.get_or_insert_with(|| TokenBucket::full(&self.server_rate, now));
        self.per_address.check(address, now).map_err(RegistrationRefusal::Address)?;
        server.check(&self.server_rate, now).map_err(RegistrationRefusal::Server)?;
        server.consume(&self.server_rate, now);
        self.per_address.consume(address, now);
        Ok(RegistrationTicket { address: address.to_string() })
    }

    /// No account was made (a bad name, a taken name, a full server): the tokens go back.
    pub(crate) fn refund(&mut self, ticket: RegistrationTicket, now: Instant) {
        self.per_address.refund(&ticket.address, now);
        if let Some(server) = &mut self.server {
            server.refund(&self.server_rate, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt<'a>(address: &'a str, account: &'a str) -> Attempt<'a> {
        Attempt { address, account, device: None }
    }

    #[test]
    fn addresses_count_by_ipv4_and_ipv6_slash_64() {
        assert_eq!(address_key("10.1.2.3".parse().expect("ip")), "10.1.2.3");
        assert_eq!(address_key("::ffff:10.1.2.3".parse().expect("ip")), "10.1.2.3");
        let a = address_key("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        assert_eq!(a, "2001:db8:1:2::");
        assert_eq!(a, address_key("2001:db8:1:2:ffff:1:2:3".parse().expect("ip")));
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().expect("ip")));
    }

    #[test]
    fn one_address_guessing_locks_only_itself_out() {
        let start = Instant::now();
        let mut limits = LoginLimits::new();
        // A stranger guesses once a second for ten minutes.
        let mut let_through = 0;
        for second in 0..600 {
            let now = start + Duration::from_secs(second);
            if let Ok(ticket) = limits.begin(attempt("6.6.6.6", "Ann"), now) {
                let_through += 1;
                limits.failed(ticket, Some("Ann"), now);
            }
            if let Ok(ticket) = limits.begin(attempt("6.6.6.6", "nobody"), now) {
                limits.failed(ticket, None, now);
            }
            // Ann from home, without a cookie, and never having failed, gets in every time.
            let ticket = limits.begin(attempt("1.1.1.1", "ann"), now).expect("the owner is never held back");
            limits.succeeded(ticket, now);
        }
        assert_eq!(let_through, 5 + 9, "5 at once, then one a minute");
        assert_eq!(limits.accounts_under_attack(start + Duration::from_secs(600)), vec!["Ann".to_string()]);
        assert!(limits.accounts_under_attack(start + Duration::from_secs(600) + UNDER_ATTACK_FOR).is_empty());
    }

    #[test]
    fn the_account_limit_slows_only_addresses_that_failed() {
        let now = Instant::now();
        let mut limits = LoginLimits::new();
        // Ten addresses fail once each: the account-wide bucket is spent.
        for i in 0..10 {
            let address = format!("6.6.6.{i}");
            let ticket = limits.begin(attempt(&address, "ann"), now).expect("open");
            limits.failed(ticket, Some("ann"), now);
        }
        assert_eq!(
            limits.begin(attempt("6.6.6.0", "ann"), now).map(drop),
            Err(LoginRefusal::Account(Duration::from_secs(60))),
            "an address that failed waits for the account"
        );
        // A new address still gets one try (in flight, it counts as one that failed).
        let ticket = limits.begin(attempt("7.7.7.7", "ann"), now).expect("a fresh address");
        assert!(matches!(limits.begin(attempt("7.7.7.7", "ann"), now), Err(LoginRefusal::Account(_))));
        limits.failed(ticket, Some("ann"), now);
        // The owner from a clean address gets in, and other accounts are untouched.
        let ticket = limits.begin(attempt("1.1.1.1", "ann"), now).expect("clean address");
        limits.succeeded(ticket, now);
        assert!(limits.begin(attempt("6.6.6.0", "bob"), now).is_ok());
        // The addresses that failed share the account's one token a minute, however long ago
        // their own (account, address) buckets refilled, until their failures are forgotten.
        let minute = now + Duration::from_secs(60);
        assert!(limits.begin(attempt("6.6.6.0", "ann"), minute).is_ok());
        assert!(limits.begin(attempt("6.6.6.1", "ann"), minute).is_err());
        let later = now + FAILURE_MEMORY;
        for i in 2..10 {
            let address = format!("6.6.6.{i}");
            assert!(
                limits.begin(attempt(&address, "ann"), later).is_ok(),
                "a quarter of an hour later the account is open again"
            );
        }
    }

    #[test]
    fn in_flight_attempts_count_and_successes_cost_nothing() {
        let now = Instant::now();
        let mut limits = LoginLimits::new();
        let tickets: Vec<_> = (0..5).map(|_| limits.begin(attempt("1.1.1.1", "ann"), now).expect("open")).collect();
        assert!(limits.begin(attempt("1.1.1.1", "ann"), now).is_err(), "five still being checked");
        for ticket in tickets {
            limits.succeeded(ticket, now);
        }
        for _ in 0..100 {
            let ticket = limits.begin(attempt("1.1.1.1", "ann"), now).expect("successes are free");
            limits.succeeded(ticket, now);
        }
    }

    #[test]
    fn an_address_is_limited_across_accounts() {
        let now = Instant::now();
        let mut limits = LoginLimits::new();
        for i in 0..20 {
            assert!(limits.begin(attempt("6.6.6.6", &format!("user{i}")), now).is_ok());
        }
        assert_eq!(
            limits.begin(attempt("6.6.6.6", "fresh"), now).map(drop),
            Err(LoginRefusal::Address(Duration::from_secs(30)))
        );
        assert!(limits.begin(attempt("6.6.6.7", "fresh"), now).is_ok());
        assert!(limits.begin(attempt("6.6.6.6", "fresh"), now + Duration::from_secs(30)).is_ok());
    }

    #[test]
    fn a_device_cookie_is_held_back_only_by_its_own_failures() {
        let now = Instant::now();
        let mut limits = LoginLimits::new();
        // Everything spent from the device's own address, on every account.
        for i in 0..20 {
            let address = format!("6.6.6.{i}");
            while limits.begin(attempt(&address, "ann"), now).is_ok() {}
            while limits.begin(attempt("1.1.1.1", &format!("x{i}")), now).is_ok() {}
        }
        assert!(limits.begin(attempt("1.1.1.1", "ann"), now).is_err());
        let device = Attempt { address: "1.1.1.1", account: "ann", device: Some("phone") };
        for _ in 0..50 {
            let ticket = limits.begin(device, now).expect("the device is exempt");
            limits.succeeded(ticket, now);
        }
        for _ in 0..5 {
            assert!(limits.begin(device, now).is_ok(), "its own failures count");
        }
        assert_eq!(limits.begin(device, now).map(drop), Err(LoginRefusal::Device(Duration::from_secs(60))));
        let laptop = Attempt { device: Some("laptop"), ..device };
        assert!(limits.begin(laptop, now).is_ok(), "another device of hers is not affected");
    }

    #[test]
    fn registrations_are_limited_per_address_and_server_wide_and_reset() {
        let start = Instant::now();
        let window = Duration::from_secs(10);
        let mut limits = RegistrationLimits::new(2, 3, window);
        let a = limits.begin("1.1.1.1", start).expect("first");
        let _b = limits.begin("1.1.1.1", start).expect("second");
        assert_eq!(limits.begin("1.1.1.1", start).map(drop), Err(RegistrationRefusal::Address(window / 2)));
        limits.refund(a, start);
        let _a = limits.begin("1.1.1.1", start).expect("a refused registration was refunded");
        let _c = limits.begin("2.2.2.2", start).expect("third on the server");
        assert!(matches!(limits.begin("3.3.3.3", start), Err(RegistrationRefusal::Server(_))));
        let later = start + window;
        for address in ["1.1.1.1", "1.1.1.1", "3.3.3.3"] {
            let _ticket = limits.begin(address, later).expect("the window has passed");
        }
        assert!(limits.begin("4.4.4.4", later).is_err());
    }
}
