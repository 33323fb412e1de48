//! Token-bucket rate limiting keyed by a string (an IP address, an account name).
//!
//! Pure: the caller passes the current time in, so tests run it with a fake clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Buckets kept before full ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// A set of token buckets with one capacity and refill rate.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    refill_every: Duration,
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `capacity` tokens per key, one more every `refill_every`.
    pub fn new(capacity: u32, refill_every: Duration) -> Self {
        RateLimiter { capacity: f64::from(capacity), refill_every, buckets: HashMap::new() }
    }

    fn refilled(&self, key: &str, now: Instant) -> Bucket {
        match self.buckets.get(key) {
            None => Bucket { tokens: self.capacity, updated: now },
            Some(bucket) => {
                let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
                let gained = elapsed / self.refill_every.as_secs_f64();
                Bucket { tokens: (bucket.tokens + gained).min(self.capacity), updated: now }
            }
        }
    }

    /// `Ok` if `key` has a token now; otherwise how long until it will.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let bucket = self.refilled(key, now);
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.refill_every.mul_f64(1.0 - bucket.tokens))
        }
    }

    /// Takes one token from `key` (it may go to zero, never below).
    pub fn consume(&mut self, key: &str, now: Instant) {
        let mut bucket = self.refilled(key, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
        if self.buckets.len() >= PRUNE_ABOVE {
            let capacity = self.capacity;
            let refill = self.refill_every.as_secs_f64();
            self.buckets
                .retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() / refill < capacity);
        }
        self.buckets.insert(key.to_string(), bucket);
    }

    /// Gives one token back to `key` (never above the capacity).
    pub fn refund(&mut self, key: &str, now: Instant) {
        let mut bucket = self.refilled(key, now);
        bucket.tokens = (bucket.tokens + 1.0).min(self.capacity);
        self.buckets.insert(key.to_string(), bucket);
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
