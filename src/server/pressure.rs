//! The pressure log: counts what the server refused or closed because someone pushed too hard
//! (connection slots, password guessing, registration floods, a full disk), and turns the
//! counts into at most one `warn` line per kind per window (one minute), with the count and
//! never an address, a user name or a time of login (the privacy policy).
//!
//! Sans-IO: [`PressureLog::note`] and [`PressureLog::take_due`] take `now`; the server's
//! reporter task calls `take_due` every second and logs what it returns.

use crate::transport::Refusal;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The window over which one kind of pressure is summed into one line.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Which port a refused connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    /// The control port (chat, login).
    Control,
    /// The REST port.
    Rest,
}

/// One kind of pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A new connection was refused, or an unfinished one closed to make room.
    Connections(Port, Refusal),
    /// A login found its account with its maximum of devices connected.
    TooManyDevices,
    /// A logged-in connection did not answer the keep-alive ping.
    Unanswered,
    /// A login attempt was refused by the login limits.
    PasswordGuessing,
    /// A registration was refused by the registration limits.
    RegistrationFlood,
    /// A write failed because the disk is full.
    DiskFull,
}

impl Kind {
    /// The line for `count` events of this kind within `window`, in plain words.
    pub fn describe(self, count: u64, window: Duration) -> String {
        let count = group_thousands(count);
        let within = match window {
            WINDOW => "the last minute".to_string(),
            other => format!("the last {}", humantime::format_duration(other)),
        };
        match self {
            Kind::Connections(port, why) => {
                let what = match port {
                    Port::Control => "connections",
                    Port::Rest => "REST connections",
                };
                let (verb, why) = match why {
                    Refusal::AddressBusy => ("refused", "too many unfinished connections from one address"),
                    Refusal::AddressTooFast => ("refused", "too many new connections from one address"),
                    Refusal::Full => ("refused or closed", "too many unfinished connections at once"),
                };
                format!("{verb} {count} {what} in {within}: {why}")
            }
            Kind::TooManyDevices => {
                format!("refused {count} logins in {within}: the account already had its maximum of devices connected")
            }
            Kind::Unanswered => {
                format!("closed {count} connections in {within}: they stopped answering keep-alive pings")
            }
            Kind::PasswordGuessing => format!("refused {count} login attempts in {within}: too many wrong passwords"),
            Kind::RegistrationFlood => format!("refused {count} registrations in {within}: too many new accounts"),
            Kind::DiskFull => format!("failed {count} writes in {within}: the disk is full"),
        }
    }
}

/// One line to log: a kind and how often it happened in the window that just ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// What happened.
    pub kind: Kind,
    /// How often.
    pub count: u64,
    /// The line, in plain words.
    pub text: String,
}

#[derive(Debug, Clone, Copy)]
struct Tally {
    since: Instant,
    count: u64,
}

/// Counts per kind; a kind's window opens at its first event.
#[derive(Debug)]
pub struct PressureLog {
    window: Duration,
    open: BTreeMap<Kind, Tally>,
}

impl Default for PressureLog {
    fn default() -> Self {
        PressureLog::new(WINDOW)
    }
}

impl PressureLog {
    /// Sums each kind over `window` ([`WINDOW`] in the server).
    pub fn new(window: Duration) -> Self {
        PressureLog { window, open: BTreeMap::new() }
    }

    /// Counts one event of `kind` at `now`.
    pub fn note(&mut self, kind: Kind, now: Instant) {
        self.open.entry(kind).or_insert(Tally { since: now, count: 0 }).count += 1;
    }

    /// The summaries of every kind whose window has ended at `now`, oldest kind first; those
    /// windows close, and the kind's next event opens a new one.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Summary> {
        let due: Vec<Kind> = self
            .open
            .iter()
            .filter(|(_, tally)| now.saturating_duration_since(tally.since) >= self.window)
            .map(|(kind, _)| *kind)
            .collect();
        due.into_iter()
            .filter_map(|kind| self.open.remove(&kind).map(|tally| (kind, tally.count)))
            .map(|(kind, count)| Summary { kind, count, text: kind.describe(count, self.window) })
            .collect()
    }
}

/// `3722` as `3,722`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The pressure summaries logged lately, each with when it was logged (the dashboard's lines).
#[derive(Debug, Default)]
pub struct RecentPressure {
    window: Duration,
    logged: Vec<(Instant, Summary)>,
}

impl RecentPressure {
    /// Keeps what was logged within two windows of the last `add`.
    pub fn new(window: Duration) -> Self {
        RecentPressure { window, logged: Vec::new() }
    }

    /// Keeps `due`, logged at `now`, and forgets what is older than two windows.
    pub fn add(&mut self, due: Vec<Summary>, now: Instant) {
        let keep = self.window * 2;
        self.logged.retain(|(at, _)| now.saturating_duration_since(*at) < keep);
        self.logged.extend(due.into_iter().map(|summary| (now, summary)));
    }

    /// The lines of the summaries kept, oldest first, as sentences.
    pub fn lines(&self, now: Instant) -> Vec<String> {
        let keep = self.window * 2;
        self.logged
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) < keep)
            .map(|(_, summary)| {
                let mut text = summary.text.clone();
                if let Some(first) = text.get(..1).map(str::to_uppercase) {
                    text.replace_range(..1, &first);
                }
                format!("{text}.")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_window_with_the_count() {
        let start = Instant::now();
        let mut log = PressureLog::default();
        let busy = Kind::Connections(Port::Control, Refusal::AddressBusy);
        for i in 0..3722u32 {
            log.note(busy, start + Duration::from_millis(u64::from(i) * 10));
        }
        log.note(Kind::PasswordGuessing, start + Duration::from_secs(30));
        assert!(log.take_due(start + Duration::from_secs(59)).is_empty(), "nothing before the window ends");
        let due = log.take_due(start + WINDOW);
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].count, 3722);
        assert_eq!(
            due[0].text,
            "refused 3,722 connections in the last minute: too many unfinished connections from one address"
        );
        assert!(log.take_due(start + WINDOW).is_empty(), "said once");
        let due = log.take_due(start + Duration::from_secs(90));
        assert_eq!(due.iter().map(|s| (s.kind, s.count)).collect::<Vec<_>>(), vec![(Kind::PasswordGuessing, 1)]);
        assert!(log.take_due(start + Duration::from_secs(3600)).is_empty(), "quiet when nothing happens");
        log.note(busy, start + Duration::from_secs(3600));
        assert_eq!(log.take_due(start + Duration::from_secs(3660)).len(), 1, "a new window opens");
    }

    #[test]
    fn counts_read_with_thousands_separators() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        let rest = Kind::Connections(Port::Rest, Refusal::AddressTooFast).describe(2, Duration::from_secs(2));
        assert_eq!(rest, "refused 2 REST connections in the last 2s: too many new connections from one address");
    }

    #[test]
    fn the_dashboard_shows_the_pressure_of_the_last_two_windows_as_sentences() {
        let start = Instant::now();
        let window = Duration::from_secs(60);
        let mut recent = RecentPressure::new(window);
        let mut log = PressureLog::new(window);
        for _ in 0..3 {
            log.note(Kind::RegistrationFlood, start);
        }
        recent.add(log.take_due(start + window), start + window);
        let line = "Refused 3 registrations in the last minute: too many new accounts.".to_string();
        assert_eq!(recent.lines(start + window), vec![line.clone()]);
        assert_eq!(recent.lines(start + window * 2), vec![line]);
        assert!(recent.lines(start + window * 3).is_empty(), "forgotten after two windows");
        recent.add(Vec::new(), start + window * 3);
        assert!(recent.logged.is_empty());
    }
}
