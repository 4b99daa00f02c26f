//! Counting in Redis, one window per subject for every replica together.
//!
//! One Lua script checks every subject of a request (tenant, and key when there is one) and
//! counts it in all of them only if all allow it, atomically: two replicas can never both take
//! the last slot. The script reads the minute from Redis's own clock (`TIME`), so replicas
//! with skewed clocks still share one window. Cost: one `EVALSHA` round trip per request on the
//! multiplexed connection of redis-rs's `ConnectionManager` (it reconnects by itself).
//!
//! Slow or away (no answer within `REDIS_TIMEOUT_MS`): the caller falls back to the local
//! counter; after a failure Redis is skipped for a second, so an outage costs one timeout per
//! second, not one per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::window::{Counts, Verdict, WINDOW_MS};
use super::{Subject, now_ms};

/// KEYS: one base key per subject. ARGV: the limits, in the same order.
/// Returns `{allowed, elapsed_ms, current_1, previous_1, current_2, previous_2, …}`.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = 60000
local minute = math.floor(now / w)
local elapsed = now % w
local out = {1, elapsed}
local allowed = 1
for i = 1, #KEYS do
  local cur = tonumber(redis.call('GET', KEYS[i] .. ':' .. minute) or '0')
  local prev = tonumber(redis.call('GET', KEYS[i] .. ':' .. (minute - 1)) or '0')
  out[#out + 1] = cur
  out[#out + 1] = prev
  if math.floor(prev * (w - elapsed) / w) + cur >= tonumber(ARGV[i]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local k = KEYS[i] .. ':' .. minute
    redis.call('INCR', k)
    redis.call('PEXPIRE', k, 2 * w + 1000)
  end
end
out[1] = allowed
return out
";

/// Failed-login counters (`crate::identity::login_throttle`): fixed windows that start at their first
/// failure. KEYS: the counters. ARGV[1]: the window in ms; ARGV[2]: `1` counts a failure in
/// every counter, `0` only reads. Returns `{count_1, ttl_ms_1, count_2, ttl_ms_2, …}`.
const FAILURES_SCRIPT: &str = r"
local out = {}
for i = 1, #KEYS do
  local n
  if ARGV[2] == '1' then
    n = redis.call('INCR', KEYS[i])
  else
    n = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  local ttl = redis.call('PTTL', KEYS[i])
  if n > 0 and ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = math.max(ttl, 0)
end
return out
";

/// How long Redis is skipped after a failure before it is tried again.
const RETRY_AFTER_FAILURE_MS: u64 = 1_000;

pub struct SharedCounter {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    failures_script: redis::Script,
    prefix: String,
    timeout: Duration,
    /// Unix ms before which Redis is not tried (after a failure).
    skip_until_ms: AtomicU64,
}

/// A `REDIS_URL` the Redis client refuses (found at start-up).
#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL must be a redis:// or rediss:// URL")]
pub struct RedisUrlError;

#[derive(Debug)]
pub enum SharedError {
    Skipped,
    Failed(String),
}

impl SharedCounter {
    pub fn new(url: &SecretString, prefix: &str, timeout: Duration) -> Result<Self, RedisUrlError> {
        let client = redis::Client::open(url.expose_secret()).map_err(|_| RedisUrlError)?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            script: redis::Script::new(SCRIPT),
            failures_script: redis::Script::new(FAILURES_SCRIPT),
            prefix: prefix.to_owned(),
            timeout,
            skip_until_ms: AtomicU64::new(0),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(|e| e.to_string())
    }

    fn key(&self, subject: &Subject<'_>) -> String {
        match subject {
            Subject::Tenant(id) => format!("{}rl:t:{id}", self.prefix),
            Subject::Key(id) => format!("{}rl:k:{id}", self.prefix),
        }
    }

    /// Runs a script call within `REDIS_TIMEOUT_MS`, skipping Redis for a second after a failure.
    async fn guarded(
        &self,
        call: impl Future<Output = Result<Vec<u64>, String>>,
    ) -> Result<Vec<u64>, SharedError> {
        if now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(SharedError::Skipped);
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => Err(self.failed("no answer within REDIS_TIMEOUT_MS".to_owned())),
        }
    }

    pub async fn check(
        &self,
        subjects: &[(Subject<'_>, u32)],
    ) -> Result<Vec<Verdict>, SharedError> {
        let answer = self.guarded(self.invoke(subjects)).await?;
        if answer.len() != 2 + 2 * subjects.len() {
            return Err(self.failed("unexpected answer from the limit script".to_owned()));
        }
        let elapsed_ms = answer[1].min(WINDOW_MS);
        let allowed_all = answer[0] == 1;
        Ok(subjects
            .iter()
            .enumerate()
            .map(|(i, (_, limit))| {
                let counts = Counts {
                    current: answer[2 + 2 * i],
                    previous: answer[3 + 2 * i],
                    elapsed_ms,
                };
                let mut verdict = Verdict::from_counts(counts, *limit);
                // The script refused for another subject: this one was not counted either.
                if !allowed_all && verdict.allowed {
                    verdict.remaining += 1;
                }
                verdict
            })
            .collect())
    }

    async fn invoke(&self, subjects: &[(Subject<'_>, u32)]) -> Result<Vec<u64>, String> {
        let mut conn = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        for (subject, limit) in subjects {
            invocation.key(self.key(subject)).arg(*limit);
        }
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    /// Counts a failed login in each of `counters` (`record`), or only reads them; returns each
    /// counter's failures and the time left in its window. Keys are digests: bounded in size.
    pub async fn login_failures(
        &self,
        counters: &[(&str, &[u8; 32])],
        window: Duration,
        record: bool,
    ) -> Result<Vec<(u64, Duration)>, SharedError> {
        let call = async {
            let mut conn = self.connection().await?;
            let mut invocation = self.failures_script.prepare_invoke();
            for (kind, digest) in counters {
                invocation.key(format!("{}lf:{kind}:{}", self.prefix, hex::encode(digest)));
            }
            let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
            invocation.arg(window_ms).arg(u8::from(record));
            invocation
                .invoke_async::<Vec<u64>>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let answer = self.guarded(call).await?;
        if answer.len() != 2 * counters.len() {
            return Err(self.failed("unexpected answer from the login script".to_owned()));
        }
        Ok(answer
            .chunks_exact(2)
            .map(|pair| (pair[0], Duration::from_millis(pair[1])))
            .collect())
    }

    fn failed(&self, cause: String) -> SharedError {
        self.skip_until_ms
            .store(now_ms() + RETRY_AFTER_FAILURE_MS, Ordering::Relaxed);
        SharedError::Failed(cause)
    }
}

/// Logs at most one warning a minute for a repeated condition.
pub struct WarnOncePerMinute(AtomicU64);

impl WarnOncePerMinute {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub fn should_warn(&self) -> bool {
        let now = now_ms();
        let last = self.0.load(Ordering::Relaxed);
        now >= last + 60_000
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl Default for WarnOncePerMinute {
    fn default() -> Self {
        Self::new()
    }
}

pub type Shared = Arc<SharedCounter>;
