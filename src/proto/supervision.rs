//! Supervised members (the privacy policy's "children, by design"): what a guardian sets for a
//! supervised account (the direct-message contacts allowed, quiet hours) and what the member,
//! their guardian and admins are shown. Quiet hours are minutes of the day in UTC, so that the
//! rule reads no time zone database: [`QuietHours::is_quiet_at`] is pure and takes `now`.

use serde::{Deserialize, Serialize};

/// Minutes in a day: quiet hours are given as minutes of the day, 0 to 1439, in UTC.
pub const MINUTES_PER_DAY: u16 = 24 * 60;
/// Most direct-message contacts a guardian may allow one supervised member.
pub const MAX_CONTACTS: usize = 200;

/// Quiet hours: from `start_minute` (included) to `end_minute` (excluded), minutes of the day
/// in UTC; a start after the end spans midnight (22:00–07:00 is `1320`–`420`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct QuietHours {
    /// First quiet minute of the day, UTC (0 to 1439).
    #[schema(maximum = 1439)]
    pub start_minute: u16,
    /// First minute that is not quiet any more, UTC (0 to 1439; not equal to the start).
    #[schema(maximum = 1439)]
    pub end_minute: u16,
}

impl QuietHours {
    /// Checked quiet hours: both minutes below [`MINUTES_PER_DAY`] and different.
    pub fn new(start_minute: u16, end_minute: u16) -> Option<QuietHours> {
        let valid = start_minute < MINUTES_PER_DAY && end_minute < MINUTES_PER_DAY && start_minute != end_minute;
        valid.then_some(QuietHours { start_minute, end_minute })
    }

    /// Whether `now_ms` (Unix milliseconds) falls in the quiet hours.
    pub fn is_quiet_at(self, now_ms: i64) -> bool {
        let minute = (now_ms.div_euclid(60_000).rem_euclid(i64::from(MINUTES_PER_DAY))) as u16;
        if self.start_minute < self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

/// A supervised member as they, their guardian and admins see it (answer to `supervise`,
/// `allow_contact`, `set_quiet_hours` and `supervision`; the `supervision_changed` event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SupervisionInfo {
    /// The supervised member.
    pub username: String,
    /// Who supervises them; `null` once the guardian's account was deleted (admins still
    /// look after them, and may name another guardian).
    pub guardian: Option<String>,
    /// The members they may open and write direct conversations with, besides the guardian
    /// (sorted by name).
    pub contacts: Vec<String>,
    /// Their quiet hours, if any.
    pub quiet_hours: Option<QuietHours>,
    /// Whether the quiet hours are on at the time of the answer.
    pub quiet_now: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MINUTE;

    #[test]
    fn quiet_hours_hold_from_start_to_end_and_across_midnight() {
        let day = 20_000 * DAY;
        let evening = QuietHours::new(18 * 60, 20 * 60).expect("valid");
        let night = QuietHours::new(22 * 60, 7 * 60).expect("valid");
        let table = [
            (evening, 17 * 60 + 59, false),
            (evening, 18 * 60, true),
            (evening, 19 * 60 + 59, true),
            (evening, 20 * 60, false),
            (night, 21 * 60 + 59, false),
            (night, 22 * 60, true),
            (night, 23 * 60 + 59, true),
            (night, 0, true),
            (night, 6 * 60 + 59, true),
            (night, 7 * 60, false),
            (night, 12 * 60, false),
        ];
        for (hours, minute, quiet) in table {
            let now = day + i64::from(minute) * MINUTE + 30_000;
            assert_eq!(hours.is_quiet_at(now), quiet, "{hours:?} at minute {minute}");
        }
    }

    #[test]
    fn quiet_hours_are_minutes_of_one_day_and_not_empty() {
        assert!(QuietHours::new(0, 1439).is_some());
        assert!(QuietHours::new(60, 60).is_none(), "empty");
        assert!(QuietHours::new(1440, 60).is_none());
        assert!(QuietHours::new(60, 1440).is_none());
    }
}
