//! Login throttling: failed attempts only, counted per (email, client address) pair, per client
//! address and per email, each with its own ceiling.
//!
//! - The pair (`LOGIN_MAX_FAILURES`, 5) is what stops one caller guessing one password.
//! - The address (`LOGIN_MAX_FAILURES_PER_ADDRESS`, default 20 × the pair's) stops one caller
//!   trying many emails; it is looser because an office behind one NAT is not one person.
//! - The email (`LOGIN_MAX_FAILURES_PER_EMAIL`, default 10 × the pair's) stops a guess spread
//!   over many addresses. It is looser than the pair so that a stranger cannot lock a user out
//!   cheaply: from one address they are stopped by the pair ceiling long before it.
//!
//! Each counter is a fixed window of `LOGIN_FAILURE_WINDOW_SECONDS` that starts at its first
//! failure. The failure that goes past a ceiling and every later attempt of that key until its
//! window ends answer 429 `rate_limited` with `Retry-After`; successful logins cost nothing.
//!
//! Counters live in bounded caches (moka, TinyLFU eviction) keyed by a SHA-256 of the email key
//! and address, so neither the number of keys nor their size depends on what callers send.
//!
//! With `REDIS_URL`, the three counters are shared by every replica (one script call counts or
//! reads all three, keys `{REDIS_KEY_PREFIX}lf:{pair|address|email}:{digest}` expiring with
//! their window), so a fleet of N replicas allows the ceilings once, not N times. The local
//! counters count as well, and decide alone while Redis is slow or down (as request limits do).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::limits::shared::{SharedCounter, WarnOncePerMinute};

/// Counters kept per kind of key; past it the least useful ones are evicted.
const CAPACITY: u64 = 100_000;

/// The ceilings of the three counters.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    pub per_pair: u32,
    pub per_address: u32,
    pub per_email: u32,
    pub window: Duration,
}

/// Who is trying to log in: the normalised email (`domain::email_key`) and the client address.
pub struct LoginAttempt {
    pair: [u8; 32],
    address: [u8; 32],
    email: [u8; 32],
}

impl LoginAttempt {
    pub fn new(email_key: &str, address: Option<IpAddr>) -> Self {
        let address = address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let digest = |parts: &[&str]| -> [u8; 32] {
            let mut hasher = Sha256::new();
            for part in parts {
                // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part.as_bytes());
            }
            hasher.finalize().into()
        };
        Self {
            pair: digest(&[email_key, &address]),
            address: digest(&[&address]),
            email: digest(&[email_key]),
        }
    }
}

struct Window {
    started: Instant,
    failures: AtomicU32,
}

struct Counter {
    limit: u32,
    windows: Cache<[u8; 32], Arc<Window>>,
}

impl Counter {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            windows: Cache::builder()
                .max_capacity(CAPACITY)
                // Measured from the first failure: the entry is never re-inserted.
                .time_to_live(window)
                .build(),
        }
    }

    fn wait(&self, window: &Window, length: Duration) -> Option<Duration> {
        (window.failures.load(Ordering::Relaxed) > self.limit)
            .then(|| (window.started + length).saturating_duration_since(Instant::now()))
    }
}

pub struct LoginThrottle {
    pair: Counter,
    address: Counter,
    email: Counter,
    window: Duration,
    shared: Option<Arc<SharedCounter>>,
    warn: WarnOncePerMinute,
}

impl LoginThrottle {
    /// `shared`: count in Redis for every replica together (`REDIS_URL`), besides locally.
    pub fn new(limits: LoginLimits, shared: Option<Arc<SharedCounter>>) -> Self {
        Self {
            pair: Counter::new(limits.per_pair, limits.window),
            address: Counter::new(limits.per_address, limits.window),
            email: Counter::new(limits.per_email, limits.window),
            window: limits.window,
            shared,
            warn: WarnOncePerMinute::new(),
        }
    }

    /// Seconds to wait when any counter of `attempt` is over its ceiling now, across replicas
    /// when Redis answers; `record` counts a failure first.
    async fn shared_wait(&self, attempt: &LoginAttempt, record: bool) -> Option<Option<u64>> {
        let shared = self.shared.as_ref()?;
        let counters = [
            ("pair", &attempt.pair),
            ("address", &attempt.address),
            ("email", &attempt.email),
        ];
        match shared.login_failures(&counters, self.window, record).await {
            Ok(answers) => Some(
                answers
                    .iter()
                    .zip([&self.pair, &self.address, &self.email])
                    .filter(|((failures, _), counter)| *failures > u64::from(counter.limit))
                    .map(|((_, left), _)| left.as_secs() + 1)
                    .max(),
            ),
            Err(error) => {
                crate::limits::fell_back(&error, &self.warn, "login throttling");
                None
            }
        }
    }

    /// Seconds to wait when any counter of `attempt` is over its ceiling now.
    pub async fn blocked_for(&self, attempt: &LoginAttempt) -> Option<u64> {
        match self.shared_wait(attempt, false).await {
            Some(wait) => wait,
            None => self.blocked_here(attempt),
        }
    }

    /// Counts a failure on every counter; returns the wait when one of them went over.
    pub async fn record_failure(&self, attempt: &LoginAttempt) -> Option<u64> {
        // Counted here too, so this replica still knows when Redis goes away.
        let here = self.record_here(attempt);
        match self.shared_wait(attempt, true).await {
            Some(wait) => wait,
            None => here,
        }
    }

    fn counters<'a>(&'a self, attempt: &'a LoginAttempt) -> [(&'a Counter, &'a [u8; 32]); 3] {
        [
            (&self.pair, &attempt.pair),
            (&self.address, &attempt.address),
            (&self.email, &attempt.email),
        ]
    }

    fn blocked_here(&self, attempt: &LoginAttempt) -> Option<u64> {
        self.counters(attempt)
            .into_iter()
            .filter_map(|(counter, key)| {
                let window = counter.windows.get(key)?;
                counter.wait(&window, self.window)
            })
            .max()
            .map(|w| w.as_secs() + 1)
    }

    fn record_here(&self, attempt: &LoginAttempt) -> Option<u64> {
        self.counters(attempt)
            .into_iter()
            .filter_map(|(counter, key)| {
                let window = counter.windows.get_with(*key, || {
                    Arc::new(Window {
                        started: Instant::now(),
                        failures: AtomicU32::new(0),
                    })
                });
                window.failures.fetch_add(1, Ordering::Relaxed);
                counter.wait(&window, self.window)
            })
            .max()
            .map(|w| w.as_secs() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_pair: u32, per_address: u32, per_email: u32) -> LoginThrottle {
        LoginThrottle::new(
            LoginLimits {
                per_pair,
                per_address,
                per_email,
                window: Duration::from_secs(60),
            },
            None,
        )
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn the_pair_blocks_after_its_ceiling() {
        let throttle = throttle(3, 100, 100);
        let attempt = LoginAttempt::new("a@example.com", ip(1));
        for _ in 0..3 {
            assert_eq!(throttle.blocked_here(&attempt), None);
            assert_eq!(throttle.record_here(&attempt), None);
        }
        let wait = throttle
            .record_here(&attempt)
            .expect("fourth failure is over the ceiling");
        assert!((1..=61).contains(&wait), "{wait}");
        assert!(throttle.blocked_here(&attempt).is_some());
        // The same email from another address, and another email from the same: still open.
        assert_eq!(
            throttle.blocked_here(&LoginAttempt::new("a@example.com", ip(2))),
            None
        );
        assert_eq!(
            throttle.blocked_here(&LoginAttempt::new("b@example.com", ip(1))),
            None
        );
    }

    #[test]
    fn address_and_email_ceilings_count_across_pairs() {
        let throttle = throttle(100, 3, 5);
        for n in 0..4 {
            throttle.record_here(&LoginAttempt::new(&format!("u{n}@example.com"), ip(1)));
        }
        assert!(
            throttle
                .blocked_here(&LoginAttempt::new("new@example.com", ip(1)))
                .is_some()
        );
        for n in 0..6 {
            throttle.record_here(&LoginAttempt::new("v@example.com", ip(10 + n)));
        }
        assert!(
            throttle
                .blocked_here(&LoginAttempt::new("v@example.com", ip(99)))
                .is_some()
        );
    }
}
