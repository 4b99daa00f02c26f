//! What the HTTP clients of `rag` share (the LLM client `super::llm`, the embeddings client and
//! Pinecone in `super::retrieval`): the credential headers, how a `reqwest` failure is told
//! apart, how an error answer's body is read, and for the idempotent calls of retrieval the
//! whole call with its retries.
//!
//! Headers: a key is exposed only while its header value is built (the `Bearer …` text is
//! zeroed when dropped), and the value is marked sensitive so no `Debug` print of a request
//! shows it.
//!
//! Retrieval's calls (embeddings, queries, upserts and deletes by id) are idempotent, so
//! repeating one is safe: a timeout per attempt, retries with jittered exponential backoff.
//! What is retried: connection failures, 429 and 5xx answers. What is not: a timeout (the
//! attempt has used its whole budget; a retry would double the wait the caller sees), and
//! other 4xx answers (a wrong key stays wrong). Chat completions are not idempotent (a
//! retried request is billed and answered twice): `llm` uses the pieces, never `call_json`.
//!
//! Failures become 502 `upstream_error`, timeouts 504 `upstream_timeout`. The `detail` names
//! the service and what happened (HTTP status, "did not answer within 1s"); never a URL's
//! credentials, a header or the upstream's body. `error_body` only reads a body: what a caller
//! logs or quotes of it is redacted first (an upstream may echo the key it was sent).

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

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

/// `Authorization: Bearer <key>`, sensitive; `None` when the key cannot be sent in a header.
pub fn bearer(key: &SecretString) -> Option<HeaderValue> {
    let text = Zeroizing::new(format!("Bearer {}", key.expose_secret()));
    sensitive(&text)
}

/// A header value kept out of every `Debug` print of the request; `None` when `value` holds
/// characters a header cannot carry.
pub fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// What went wrong with a call, as `reqwest` tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The request's or the caller's time ran out.
    Timeout,
    /// No connection (refused, DNS, TLS).
    Connect,
    /// The response's body broke off or could not be decoded.
    Body,
    /// Anything else.
    Other,
}

impl Transport {
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_connect() {
            Self::Connect
        } else if error.is_body() || error.is_decode() {
            Self::Body
        } else {
            Self::Other
        }
    }
}

/// The body of an error answer, read within `timeout` (empty when it cannot be read in time).
/// Nothing of it is logged here: the caller redacts what it logs or quotes.
pub async fn error_body(response: reqwest::Response, timeout: Duration) -> Bytes {
    tokio::time::timeout(timeout, response.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

fn classify(service: &str, error: &reqwest::Error) -> Failure {
    match Transport::of(error) {
        Transport::Timeout => Failure::Timeout,
        Transport::Body => {
            tracing::warn!(service, error = %error, "unreadable upstream response");
            Failure::Unreadable
        }
        Transport::Connect | Transport::Other => {
            tracing::warn!(service, error = %error, "upstream unreachable");
            Failure::Unreachable
        }
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
        let body = error_body(response, timeout).await;
        let body = String::from_utf8_lossy(&body);
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
