//! Login throttling: failed attempts only, per email and per client address.
//!
//! Each key may fail `LOGIN_MAX_FAILURES` times per `LOGIN_FAILURE_WINDOW_SECONDS` (governor's
//! GCRA, refilled evenly over the window). The failure that goes past the quota and every later
//! attempt until the quota refills answer 429 `rate_limited` with `Retry-After`; successful
//! logins cost nothing.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use moka::sync::Cache;

pub struct LoginThrottle {
    failures: DefaultKeyedRateLimiter<String>,
    /// Keys over quota, with the moment they may try again.
    blocked: Cache<String, Instant>,
    clock: DefaultClock,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        let burst = NonZeroU32::new(max_failures.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(window / burst.get())
            .unwrap_or_else(|| Quota::per_minute(burst))
            .allow_burst(burst);
        Self {
            failures: RateLimiter::keyed(quota),
            blocked: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(window)
                .build(),
            clock: DefaultClock::default(),
        }
    }

    /// Seconds to wait when any of `keys` is blocked now.
    pub fn blocked_for(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        keys.iter()
            .filter_map(|k| self.blocked.get(k))
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs() + 1)
            .max()
    }

    /// Records a failure for every key; returns the wait when one of them went over quota.
    pub fn record_failure(&self, keys: &[String]) -> Option<u64> {
        let mut wait: Option<Duration> = None;
        for key in keys {
            if let Err(not_until) = self.failures.check_key(key) {
                let left = not_until.wait_time_from(self.clock.now());
                self.blocked.insert(key.clone(), Instant::now() + left);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        if self.failures.len() > 100_000 {
            self.failures.retain_recent();
        }
        wait.map(|w| w.as_secs() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_quota_of_failures() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let keys = vec!["email:a@example.com".to_owned()];
        for _ in 0..3 {
            assert_eq!(throttle.blocked_for(&keys), None);
            assert_eq!(throttle.record_failure(&keys), None);
        }
        let wait = throttle
            .record_failure(&keys)
            .expect("fourth failure is over quota");
        assert!((1..=21).contains(&wait), "{wait}");
        assert!(throttle.blocked_for(&keys).is_some());
        assert_eq!(
            throttle.blocked_for(&["email:b@example.com".to_owned()]),
            None
        );
    }
}
