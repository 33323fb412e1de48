//! Token-bucket rate limiting: one [`TokenBucket`] (a media session's packet budget) and
//! [`RateLimiter`], buckets keyed by a string (an IP address, an account name).
//!
//! Pure: the caller passes the current time in, so tests run it with a fake clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Buckets kept before full ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// How big a bucket is and how fast it refills.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate {
    capacity: f64,
    refill_every: Duration,
}

impl Rate {
    /// `capacity` tokens, one more every `refill_every`.
    pub const fn new(capacity: u32, refill_every: Duration) -> Rate {
        Rate { capacity: capacity as f64, refill_every }
    }

    /// `capacity` tokens, one more every `refill_every`, for rates chosen at run time.
    pub fn with_capacity(capacity: f64, refill_every: Duration) -> Rate {
        Rate { capacity, refill_every }
    }

    /// The most tokens a bucket holds.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> f64 {
        self.capacity
    }
}

/// Tokens left, as of a moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate: &Rate, now: Instant) -> TokenBucket {
        TokenBucket { tokens: rate.capacity, updated: now }
    }

    /// The bucket as it is at `now`, after refilling at `rate`.
    fn refilled(self, rate: &Rate, now: Instant) -> TokenBucket {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let gained = elapsed / rate.refill_every.as_secs_f64();
        TokenBucket { tokens: (self.tokens + gained).min(rate.capacity), updated: now }
    }

    /// `Ok` if there is a token at `now`; otherwise how long until there will be.
    pub fn check(&self, rate: &Rate, now: Instant) -> Result<(), Duration> {
        let bucket = self.refilled(rate, now);
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            Err(rate.refill_every.mul_f64(1.0 - bucket.tokens))
        }
    }

    /// Takes one token (it may go to zero, never below).
    pub(crate) fn consume(&mut self, rate: &Rate, now: Instant) {
        let mut bucket = self.refilled(rate, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
        *self = bucket;
    }

    /// Takes `amount` tokens if the bucket holds that many at `now` (a packet of that size
    /// fits the budget), else takes nothing and says no.
    pub(crate) fn take_amount(&mut self, rate: &Rate, amount: f64, now: Instant) -> bool {
        let mut bucket = self.refilled(rate, now);
        let fits = bucket.tokens >= amount;
        if fits {
            bucket.tokens -= amount;
        }
        *self = bucket;
        fits
    }

    /// Gives one token back (never above the capacity).
    pub(crate) fn refund(&mut self, rate: &Rate, now: Instant) {
        let mut bucket = self.refilled(rate, now);
        bucket.tokens = (bucket.tokens + 1.0).min(rate.capacity);
        *self = bucket;
    }

    /// Whether the bucket is full again at `now`.
    fn is_full(&self, rate: &Rate, now: Instant) -> bool {
        self.refilled(rate, now).tokens >= rate.capacity
    }
}

/// A set of token buckets with one [`Rate`].
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: HashMap<String, TokenBucket>,
}

impl RateLimiter {
    /// `capacity` tokens per key, one more every `refill_every`.
    pub fn new(capacity: u32, refill_every: Duration) -> Self {
        RateLimiter::with_rate(Rate::new(capacity, refill_every))
    }

    /// Buckets of `rate`.
    pub(crate) fn with_rate(rate: Rate) -> Self {
        RateLimiter { rate, buckets: HashMap::new() }
    }

    fn bucket(&self, key: &str, now: Instant) -> TokenBucket {
        self.buckets.get(key).copied().unwrap_or_else(|| TokenBucket::full(&self.rate, now))
    }

    /// `Ok` if `key` has a token now; otherwise how long until it will.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.bucket(key, now).check(&self.rate, now)
    }

    /// Takes one token from `key` (it may go to zero, never below).
    pub(crate) fn consume(&mut self, key: &str, now: Instant) {
        let mut bucket = self.bucket(key, now);
        bucket.consume(&self.rate, now);
        if self.buckets.len() >= PRUNE_ABOVE {
            let rate = self.rate;
            self.buckets.retain(|_, b| !b.is_full(&rate, now));
        }
        self.buckets.insert(key.to_string(), bucket);
    }

    /// Gives one token back to `key` (never above the capacity).
    pub(crate) fn refund(&mut self, key: &str, now: Instant) {
        let mut bucket = self.bucket(key, now);
        bucket.refund(&self.rate, now);
        self.buckets.insert(key.to_string(), bucket);
    }

    /// Whether `key` has every token at `now` (nothing taken, or all of it refilled).
    pub(crate) fn is_full(&self, key: &str, now: Instant) -> bool {
        self.buckets.get(key).is_none_or(|bucket| bucket.is_full(&self.rate, now))
    }

    /// `check`, then `consume` when allowed.
    pub fn take(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        self.check(key, now)?;
        self.consume(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_capacity_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(3, Duration::from_secs(10));
        for _ in 0..3 {
            assert!(limiter.take("a", start).is_ok());
        }
        let wait = limiter.take("a", start).expect_err("empty");
        assert_eq!(wait, Duration::from_secs(10));
        assert!(limiter.take("b", start).is_ok(), "keys are independent");
        limiter.refund("b", start);
        limiter.refund("b", start);
        for _ in 0..3 {
            assert!(limiter.take("b", start).is_ok(), "refunds never exceed the capacity");
        }
        assert!(limiter.take("b", start).is_err());
        assert!(limiter.check("a", start + Duration::from_secs(9)).is_err());
        assert!(limiter.take("a", start + Duration::from_secs(10)).is_ok());
        assert!(limiter.take("a", start + Duration::from_secs(10)).is_err());
        // Never more than the capacity, however long it waited.
        let later = start + Duration::from_secs(1000);
        for _ in 0..3 {
            assert!(limiter.take("a", later).is_ok());
        }
        assert!(limiter.take("a", later).is_err());
    }

    #[test]
    fn takes_amounts_only_while_they_fit() {
        let start = Instant::now();
        let rate = Rate::with_capacity(10.0, Duration::from_millis(1));
        let mut bucket = TokenBucket::full(&rate, start);
        assert!(bucket.take_amount(&rate, 6.0, start));
        assert!(!bucket.take_amount(&rate, 6.0, start), "4 left");
        assert!(bucket.take_amount(&rate, 4.0, start), "a refusal took nothing");
        assert!(!bucket.take_amount(&rate, 1.0, start));
        assert!(bucket.take_amount(&rate, 2.0, start + Duration::from_millis(2)), "refilled at the rate");
        assert!(!bucket.take_amount(&rate, 11.0, start + Duration::from_secs(60)), "never above the capacity");
    }

    #[test]
    fn forgets_full_buckets_when_many_keys() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1, Duration::from_secs(1));
        for i in 0..PRUNE_ABOVE + 5 {
            limiter.consume(&i.to_string(), start);
        }
        limiter.consume("late", start + Duration::from_secs(5));
        assert!(limiter.buckets.len() < 10, "{}", limiter.buckets.len());
    }
}
