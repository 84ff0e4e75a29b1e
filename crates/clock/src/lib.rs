//! The clock every Sigstack service injects: Rekor v1 `integratedTime`, CT log SCT and tree head
//! timestamps, Fulcio token checks and certificate validity, TSA `genTime`.
//!
//! Services hold an `Arc<dyn Clock>`: [`SystemClock`] in production, [`FixedClock`] or
//! [`ManualClock`] in tests and reproducible fixtures.
//!
//! This is a protocol-layer crate: no tokio, no I/O, no dependencies.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch (negative before 1970).
    fn unix_seconds(&self) -> i64 {
        match self.now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// The operating system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant (tests, reproducible fixtures).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// A clock that stands still until it is set or advanced (tests of time-dependent behaviour).
/// Share it as `Arc<ManualClock>` and hand a clone to the service as `Arc<dyn Clock>`.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// A clock showing `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        Self(Mutex::new(now))
    }

    /// Show `now` from here on (it may be earlier than before).
    pub fn set(&self, now: SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Move the clock forward by `by`.
    ///
    /// # Panics
    /// If the time would leave the range `SystemTime` can represent.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now
            .checked_add(by)
            .unwrap_or_else(|| panic!("ManualClock advanced past the end of time by {by:?}"));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn unix_seconds_after_1970() {
        let clock = FixedClock(UNIX_EPOCH + Duration::from_millis(1_700_000_000_999));
        assert_eq!(clock.unix_seconds(), 1_700_000_000);
        assert_eq!(FixedClock(UNIX_EPOCH).unix_seconds(), 0);
    }

    #[test]
    fn unix_seconds_before_1970() {
        let clock = FixedClock(UNIX_EPOCH - Duration::from_secs(86_400));
        assert_eq!(clock.unix_seconds(), -86_400);
    }

    #[test]
    fn the_system_clock_is_after_1970() {
        assert!(SystemClock.unix_seconds() > 1_600_000_000);
    }

    #[test]
    fn a_fixed_clock_stands_still() {
        let at = UNIX_EPOCH + Duration::from_secs(42);
        let clock: Arc<dyn Clock> = Arc::new(FixedClock(at));
        assert_eq!(clock.now(), at);
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = Arc::new(ManualClock::new(start));
        let shared: Arc<dyn Clock> = clock.clone();
        assert_eq!(shared.now(), start);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(shared.now(), start + Duration::from_millis(1_500));
        assert_eq!(shared.unix_seconds(), 1_001);
        clock.set(UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!(shared.unix_seconds(), 5);
    }
}
