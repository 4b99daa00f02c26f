//! Request limits per tenant and per API key (DESIGN.md §9), checked by the tenant layer on
//! every tenant route.
//!
//! - `window`: the sliding-window counter (why that algorithm: see its module doc).
//! - `local`: counting in this process (no `REDIS_URL`, or Redis away).
//! - `shared`: counting in Redis, one window for all replicas.
//!
//! A tenant's limit is its `requests_per_minute`, else `TENANT_REQUESTS_PER_MINUTE`, else none;
//! a key's limit applies besides its tenant's. A request counts against both or neither. The
//! response headers (`x-ratelimit-*-requests`) describe the tighter of the two. Token budgets
//! and usage live in `crate::usage`, not here.

pub mod local;
pub mod shared;
pub mod window;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

use self::local::LocalCounter;
use self::shared::{SharedCounter, SharedError, WarnOncePerMinute};
use self::window::Verdict;
use crate::config::LimitsConfig;

pub static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
pub static REMAINING_REQUESTS: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining-requests");
pub static RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
pub static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
pub static REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
pub static RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// What a limit is counted for.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    Tenant(&'a str),
    Key(Uuid),
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// OpenAI's duration format for the reset headers: `20ms`, `7s`, `1m0s`.
pub fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else {
        let secs = d.as_secs_f64().ceil() as u64;
        if secs < 60 {
            format!("{secs}s")
        } else if secs < 3_600 {
            format!("{}m{}s", secs / 60, secs % 60)
        } else {
            format!("{}h{}m{}s", secs / 3_600, secs % 3_600 / 60, secs % 60)
        }
    }
}

pub struct Limiter {
    default_tenant_limit: Option<u32>,
    local: LocalCounter,
    shared: Option<Arc<SharedCounter>>,
    warn: WarnOncePerMinute,
}

impl Limiter {
    pub fn new(config: &LimitsConfig) -> Result<Self, shared::RedisUrlError> {
        let shared = match &config.redis_url {
            None => None,
            Some(url) => Some(Arc::new(SharedCounter::new(
                url,
                &config.redis_key_prefix,
                config.redis_timeout,
            )?)),
        };
        Ok(Self {
            default_tenant_limit: config.tenant_requests_per_minute,
            local: LocalCounter::new(),
            shared,
            warn: WarnOncePerMinute::new(),
        })
    }

    /// The Redis counter when `REDIS_URL` is set, for the login throttle to share.
    pub fn shared(&self) -> Option<Arc<SharedCounter>> {
        self.shared.clone()
    }

    /// Checks and counts one request. `None`: no limit applies to this caller.
    pub async fn check(
        &self,
        tenant_id: &str,
        tenant_limit: Option<u32>,
        key: Option<(Uuid, Option<u32>)>,
    ) -> Option<Verdict> {
        let mut subjects: [(Subject<'_>, u32); 2] = [(Subject::Tenant(tenant_id), 0); 2];
        let mut n = 0;
        if let Some(limit) = tenant_limit.or(self.default_tenant_limit) {
            subjects[n] = (Subject::Tenant(tenant_id), limit);
            n += 1;
        }
        if let Some((id, Some(limit))) = key {
            subjects[n] = (Subject::Key(id), limit);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let subjects = &subjects[..n];
        let verdicts = match &self.shared {
            None => self.local.check(subjects),
            // Boxed: a Redis call's future is large; see `TokenVerifier::verify`.
            Some(shared) => match Box::pin(shared.check(subjects)).await {
                Ok(verdicts) => verdicts,
                Err(error) => {
                    fell_back(&error, &self.warn, "request limits");
                    self.local.check(subjects)
                }
            },
        };
        tightest(verdicts)
    }
}

/// Redis did not count for `what`: counted in `/metrics`, warned at most once a minute.
pub fn fell_back(error: &SharedError, warn: &WarnOncePerMinute, what: &str) {
    metrics::counter!("ratelimit_redis_fallbacks_total").increment(1);
    if let SharedError::Failed(cause) = error
        && warn.should_warn()
    {
        tracing::warn!(
            cause = %cause,
            "Redis is unavailable for {what}; counting in this replica alone until it answers \
             again (warned at most once a minute)"
        );
    }
}

/// A refusal first; otherwise the subject with the fewest requests left.
fn tightest(verdicts: Vec<Verdict>) -> Option<Verdict> {
    verdicts
        .into_iter()
        .min_by_key(|v| (v.allowed, v.remaining))
}

impl Verdict {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT_REQUESTS.clone(), HeaderValue::from(self.limit));
        headers.insert(
            REMAINING_REQUESTS.clone(),
            HeaderValue::from(self.remaining),
        );
        if let Ok(value) = HeaderValue::from_str(&format_reset(self.reset)) {
            headers.insert(RESET_REQUESTS.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_read_like_openai() {
        assert_eq!(format_reset(Duration::from_millis(20)), "20ms");
        assert_eq!(format_reset(Duration::from_millis(6_200)), "7s");
        assert_eq!(format_reset(Duration::from_secs(60)), "1m0s");
    }
}
