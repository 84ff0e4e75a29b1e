//! Token-bucket rate limits of certificate requests: one bucket per client IP address (checked
//! before any token work) and one per identity (issuer + the name the proof of possession
//! signs, checked once the token is verified). Both are off unless configured.
//!
//! A bucket holds up to `burst` requests and refills at `per_minute` requests a minute. A refused
//! request is answered 429 with `Retry-After` (whole seconds until one request is available).
//! Bucket tables are bounded: when a table reaches [`MAX_BUCKETS`], buckets that have refilled
//! completely (indistinguishable from new ones) are dropped; if none has, the oldest is.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Most buckets kept per table.
pub const MAX_BUCKETS: usize = 65_536;

/// One limit: a burst size and a sustained rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Requests allowed at once.
    pub burst: u32,
    /// Requests refilled per minute.
    pub per_minute: u32,
}

/// The limits of a Fulcio instance (both `None` by default).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateLimits {
    /// Per client IP address.
    pub per_ip: Option<RateLimit>,
    /// Per identity (issuer and principal name).
    pub per_identity: Option<RateLimit>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A table of buckets under one limit.
#[derive(Debug)]
pub(crate) struct Buckets<K> {
    limit: RateLimit,
    table: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn rate_per_second(&self) -> f64 {
        f64::from(self.limit.per_minute) / 60.0
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.rate_per_second()).min(f64::from(self.limit.burst))
    }

    /// Take one request from `key`'s bucket, or say how long until one is available.
    pub(crate) fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock();
        if !table.contains_key(key) && table.len() >= MAX_BUCKETS {
            let full = f64::from(self.limit.burst);
            table.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
                b.tokens + elapsed * f64::from(self.limit.per_minute) / 60.0 < full
            });
            if table.len() >= MAX_BUCKETS
                && let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, b)| b.updated)
                    .map(|(k, _)| k.clone())
            {
                table.remove(&oldest);
            }
        }
        let bucket = table.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(self.limit.burst),
            updated: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                updated: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens,
                updated: now,
            };
            let rate = self.rate_per_second();
            if rate <= 0.0 {
                return Err(Duration::from_secs(3600));
            }
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let buckets = Buckets::new(RateLimit {
            burst: 2,
            per_minute: 60,
        });
        let t0 = Instant::now();
        assert!(buckets.take(&"a", t0).is_ok());
        assert!(buckets.take(&"a", t0).is_ok());
        let wait = buckets.take(&"a", t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(buckets.take(&"b", t0).is_ok(), "buckets are per key");
        assert!(buckets.take(&"a", t0 + Duration::from_secs(1)).is_ok());
        assert!(buckets.take(&"a", t0 + Duration::from_secs(1)).is_err());
    }
}
