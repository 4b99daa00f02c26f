//! Calls to the HTTP upstreams of retrieval (embeddings, Pinecone): a timeout per attempt,
//! retries with jittered exponential backoff, and the contract's errors.
//!
//! Only idempotent calls come through here (embeddings, queries, upserts and deletes by id),
//! so repeating one is safe. What is retried: connection failures, 429 and 5xx answers. What is
//! not: a timeout (the attempt has used its whole budget; a retry would double the wait the
//! caller sees), and other 4xx answers (a wrong key stays wrong).
//!
//! Failures become 502 `upstream_error`, timeouts 504 `upstream_timeout`. The `detail` names
//! the service and what happened (HTTP status, "did not answer within 1s"); never a URL's
//! credentials, a header or the upstream's body, which is logged (redacted, truncated) instead.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use serde::de::DeserializeOwned;

use crate::errors::AppError;
use crate::metrics::{Upstream, UpstreamFailure};

const RETRIES: usize = 2;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How much of an upstream error body goes into the log line.
const BODY_LOG_CHARS: usize = 300;

enum Failure {
    Timeout,
    Unreachable,
    Status(reqwest::StatusCode),
    Unreadable,
}

impl Failure {
    fn kind(&self) -> UpstreamFailure {
        match self {
            Self::Timeout => UpstreamFailure::Timeout,
            Self::Unreachable => UpstreamFailure::Unreachable,
            Self::Status(_) => UpstreamFailure::Status,
            Self::Unreadable => UpstreamFailure::Unreadable,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Unreachable => true,
            Self::Status(s) => s.is_server_error() || *s == reqwest::StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::Unreadable => false,
        }
    }

    fn into_error(self, service: &str, timeout: Duration) -> AppError {
        match self {
            Self::Timeout => AppError::UpstreamTimeout(format!(
                "{service} did not answer within {}s",
                timeout.as_secs_f32()
            )),
            Self::Unreachable => AppError::Upstream(format!("{service} could not be reached")),
            Self::Status(status) if matches!(status.as_u16(), 401 | 403) => {
                AppError::Upstream(format!(
                    "{service} refused the credentials (HTTP {})",
                    status.as_u16()
                ))
            }
            Self::Status(status) => {
                AppError::Upstream(format!("{service} answered HTTP {}", status.as_u16()))
            }
            Self::Unreadable => {
                AppError::Upstream(format!("{service} sent a response that could not be read"))
            }
        }
    }
}

fn classify(service: &str, error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else if error.is_decode() || error.is_body() {
        tracing::warn!(service, error = %error, "unreadable upstream response");
        Failure::Unreadable
    } else {
        tracing::warn!(service, error = %error, "upstream unreachable");
        Failure::Unreachable
    }
}

async fn attempt<T: DeserializeOwned>(
    service: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<T, Failure> {
    let (client, request) = request.timeout(timeout).build_split();
    let request = request.map_err(|e| classify(service, &e))?;
    // The credentials this request carries (the server key, the tenant's Pinecone key): an
    // upstream that echoes them must not put them in our log.
    let secrets = crate::redact::sent_secrets(request.headers());
    let response = client
        .execute(request)
        .await
        .map_err(|e| classify(service, &e))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        // Redacted whole, then clipped: a key cut in half by the clip would still leak.
        let body = crate::redact::redact(&body, &secrets);
        let snippet: String = body.chars().take(BODY_LOG_CHARS).collect();
        tracing::warn!(service, status = status.as_u16(), body = %snippet, "upstream error answer");
        return Err(Failure::Status(status));
    }
    response
        .json::<T>()
        .await
        .map_err(|e| classify(service, &e))
}

/// Sends the request `make` builds (again for each retry) and reads a JSON answer. The call,
/// retries included, is timed and counted under `upstream` in `/metrics`.
pub(crate) async fn call_json<T: DeserializeOwned>(
    upstream: Upstream,
    service: &str,
    timeout: Duration,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<T, AppError> {
    let started = Instant::now();
    let backoff = ExponentialBuilder::default()
        .with_min_delay(FIRST_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_max_times(RETRIES)
        .with_jitter();
    let result = (|| attempt::<T>(service, make(), timeout))
        .retry(backoff)
        .when(Failure::retryable)
        .notify(|failure, wait| {
            if let Failure::Status(status) = failure {
                tracing::debug!(
                    service,
                    status = status.as_u16(),
                    ?wait,
                    "retrying upstream call"
                );
            } else {
                tracing::debug!(service, ?wait, "retrying upstream call");
            }
        })
        .await;
    crate::metrics::upstream_call(
        upstream,
        started.elapsed(),
        result.as_ref().err().map(Failure::kind),
    );
    result.map_err(|failure| failure.into_error(service, timeout))
}
