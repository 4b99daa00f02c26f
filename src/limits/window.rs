//! The sliding-window counter both counters use (in-process and in Redis), so a limit means
//! the same thing with and without `REDIS_URL`.
//!
//! Per subject (a tenant, an API key) there is one count per fixed minute. The estimate of the
//! last 60 seconds is `previous × (share of the previous minute still inside the window) +
//! current`. This is Cloudflare's "sliding window counter": two integers per subject, O(1) per
//! request, no burst of twice the limit at a minute boundary (a fixed window allows that), and
//! unlike GCRA it yields OpenAI's header triple (limit, remaining, reset) directly.

use std::time::Duration;

/// The window length.
pub const WINDOW_MS: u64 = 60_000;

/// The counts of one subject as seen by one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub current: u64,
    pub previous: u64,
    /// Milliseconds into the current minute.
    pub elapsed_ms: u64,
}

impl Counts {
    /// The requests counted in the last 60 seconds (before this one).
    pub fn estimate(&self) -> u64 {
        let elapsed = self.elapsed_ms.min(WINDOW_MS);
        self.previous * (WINDOW_MS - elapsed) / WINDOW_MS + self.current
    }

    pub fn allows(&self, limit: u32) -> bool {
        self.estimate() < u64::from(limit)
    }

    /// How long until one more request would be allowed.
    pub fn retry_after(&self, limit: u32) -> Duration {
        let limit = u64::from(limit);
        let elapsed = self.elapsed_ms.min(WINDOW_MS);
        let wait = if self.current >= limit || self.previous == 0 {
            // Nothing of this minute decays before it ends.
            WINDOW_MS - elapsed
        } else {
            // The previous minute's share falls by one request every WINDOW/previous ms.
            let room = limit - self.current;
            let needed = WINDOW_MS.saturating_sub(room * WINDOW_MS / self.previous) + 1;
            needed.saturating_sub(elapsed).max(1)
        };
        Duration::from_millis(wait.max(1))
    }
}

/// What one check decided for one subject, and what the response headers say of it.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    pub limit: u32,
    pub allowed: bool,
    /// Requests left in the window after this one.
    pub remaining: u64,
    /// When the window has room again (for `x-ratelimit-reset-requests`, and `Retry-After` when
    /// refused).
    pub reset: Duration,
}

impl Verdict {
    /// `counts` are the subject's counts *before* this request.
    pub fn from_counts(counts: Counts, limit: u32) -> Self {
        let allowed = counts.allows(limit);
        let used = counts.estimate() + u64::from(allowed);
        let remaining = u64::from(limit).saturating_sub(used);
        let after = Counts {
            current: counts.current + u64::from(allowed),
            ..counts
        };
        Self {
            limit,
            allowed,
            remaining,
            reset: after
                .retry_after(limit)
                .min(Duration::from_millis(WINDOW_MS)),
        }
    }
}

/// The minute a Unix time in milliseconds falls in, and how far into it.
pub fn split(now_ms: u64) -> (u64, u64) {
    (now_ms / WINDOW_MS, now_ms % WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(current: u64, previous: u64, elapsed_ms: u64) -> Counts {
        Counts {
            current,
            previous,
            elapsed_ms,
        }
    }

    #[test]
    fn the_limit_is_reached_exactly() {
        assert!(counts(2, 0, 10).allows(3));
        assert!(!counts(3, 0, 10).allows(3));
        let v = Verdict::from_counts(counts(2, 0, 10_000), 3);
        assert!(v.allowed);
        assert_eq!(v.remaining, 0);
        assert_eq!(v.reset, Duration::from_millis(50_000));
    }

    #[test]
    fn the_previous_minute_decays() {
        // Half-way through, 10 of the previous minute still count as 5.
        assert_eq!(counts(0, 10, 30_000).estimate(), 5);
        assert!(!counts(0, 10, 30_000).allows(5));
        let wait = counts(0, 10, 30_000).retry_after(5);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(6_001),
            "{wait:?}"
        );
        assert!(counts(0, 10, 30_000 + wait.as_millis() as u64).allows(5));
    }
}
