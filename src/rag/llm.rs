//! The OpenAI-compatible chat client: `POST {OPENAI_BASE_URL}/chat/completions` with the
//! server's `OPENAI_API_KEY`, over the gateway's one shared `reqwest::Client`.
//!
//! What lives here: the upstream request and response shapes `/chat` needs, the call itself
//! (whole response or a stream of server-sent events), and how upstream failures become
//! `AppError`s. What does not: prompts (`super::prompt`), the headers, failure kinds and error
//! bodies every upstream client shares (`super::upstream`), and the OpenAI-compatible
//! pass-through (`http::routes::openai`, which uses `Llm::send` and forwards bytes untouched).
//!
//! Rules the code below keeps:
//! - The key is exposed only while building the `Authorization` header (`super::upstream::bearer`:
//!   zeroed text, a sensitive header). Upstream error messages are scrubbed of the key before
//!   they reach a `detail`.
//! - Chat completions are not idempotent (a retried request is billed and answered twice), so
//!   nothing here retries.
//! - Timeouts (`UPSTREAM_TIMEOUT_SECONDS`): a whole non-streamed call must finish within it; a
//!   streamed call must send its headers within it, and then never go silent for longer (the
//!   stream as a whole may take as long as the model writes).

use std::borrow::Cow;
use std::cell::RefCell;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::upstream::{self, Transport};
use crate::config::LlmConfig;
use crate::errors::{AppError, AppResult};

/// Longest upstream error message quoted in a `detail`.
const MAX_QUOTED_MESSAGE: usize = 300;

/// The chat client: borrows the shared HTTP client and the LLM configuration (both live in
/// `AppState`), so making one per request costs nothing.
#[derive(Clone, Copy)]
pub struct Llm<'a> {
    http: &'a reqwest::Client,
    config: &'a LlmConfig,
}

/// One message of a chat completion request.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage<'a> {
    pub role: &'a str,
    pub content: Cow<'a, str>,
}

/// The body `/chat` sends upstream.
#[derive(Debug, Serialize)]
pub struct ChatCompletionRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<ChatMessage<'a>>,
    pub stream: bool,
    /// Asks for a final chunk with `usage` (OpenAI sends none in streams otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

/// A non-streamed answer: the fields `/chat` uses, the rest is ignored.
#[derive(Debug, Deserialize)]
pub struct Completion {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    #[serde(default)]
    pub usage: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct CompletionChoice {
    pub message: CompletionMessage,
}

#[derive(Debug, Deserialize)]
pub struct CompletionMessage {
    #[serde(default)]
    pub content: Option<String>,
}

impl Completion {
    /// The text of the first choice.
    pub fn content(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }
}

/// One `data:` chunk of a streamed answer (`chat.completion.chunk`).
#[derive(Debug, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub delta: ChunkDelta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChunkDelta {
    #[serde(default)]
    pub content: Option<String>,
}

impl ChatChunk {
    /// The text this chunk adds (first choice), if any.
    pub fn content(&self) -> Option<&str> {
        self.choices
            .first()?
            .delta
            .content
            .as_deref()
            .filter(|c| !c.is_empty())
    }

    pub fn finish_reason(&self) -> Option<&str> {
        self.choices.first()?.finish_reason.as_deref()
    }
}

/// What a streamed answer yields, in order: chunks, then `Done` (after `data: [DONE]`).
#[derive(Debug)]
pub enum StreamEvent {
    Chunk(ChatChunk),
    Done,
}

type SseStream = Pin<
    Box<
        dyn Stream<Item = Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>>
            + Send,
    >,
>;

/// A streamed answer being read. Yields `Err` once (then `None`) when the upstream fails,
/// goes silent for longer than the timeout, or stops before finishing.
pub struct ChatStream {
    events: SseStream,
    /// What the upstream says mid-stream is scrubbed of this (the server key) first.
    key: Option<secrecy::SecretString>,
    idle_timeout: Duration,
    finish_seen: bool,
    finished: bool,
}

impl ChatStream {
    pub async fn next(&mut self) -> Option<AppResult<StreamEvent>> {
        if self.finished {
            return None;
        }
        let outcome = self.next_inner().await;
        if !matches!(outcome, Some(Ok(StreamEvent::Chunk(_)))) {
            self.finished = true;
        }
        outcome
    }

    async fn next_inner(&mut self) -> Option<AppResult<StreamEvent>> {
        loop {
            let event = match tokio::time::timeout(self.idle_timeout, self.events.next()).await {
                Err(_) => {
                    return Some(Err(AppError::UpstreamTimeout(format!(
                        "the LLM upstream sent nothing for {} s in the middle of its answer",
                        self.idle_timeout.as_secs()
                    ))));
                }
                // A clean end without `[DONE]`: some OpenAI-compatible servers omit it; an
                // answer that never finished is a broken one.
                Ok(None) if self.finish_seen => return Some(Ok(StreamEvent::Done)),
                Ok(None) => {
                    return Some(Err(AppError::Upstream(
                        "the LLM upstream closed its stream before the answer was complete".into(),
                    )));
                }
                Ok(Some(Err(error))) => {
                    tracing::warn!(error = %error, "LLM upstream stream failed");
                    return Some(Err(AppError::Upstream(
                        "the LLM upstream stream broke off in the middle of the answer".into(),
                    )));
                }
                Ok(Some(Ok(event))) => event,
            };
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                return Some(Ok(StreamEvent::Done));
            }
            return Some(self.chunk(data));
        }
    }

    /// One `data:` payload that is neither blank nor `[DONE]`: a chunk, or the upstream's error.
    fn chunk(&mut self, data: &str) -> AppResult<StreamEvent> {
        let value: Value = serde_json::from_str(data).map_err(|_| {
            AppError::Upstream("the LLM upstream sent a chunk that is not JSON".into())
        })?;
        if let Some(error) = value.get("error") {
            // An upstream (or a proxy in front of it) may echo the key it was sent: the
            // message reaches the client's `error` event and the log only redacted.
            let message = error_message_of(error).unwrap_or("no details");
            let key = self.key.as_ref().map(|k| k.expose_secret());
            let message = crate::redact::redact(&clip(message), key.as_slice());
            return Err(AppError::Upstream(format!(
                "the LLM upstream reported an error mid-stream: {message}"
            )));
        }
        let chunk: ChatChunk = serde_json::from_value(value).map_err(|_| {
            AppError::Upstream("the LLM upstream sent a chunk of an unexpected shape".into())
        })?;
        if chunk.finish_reason().is_some() {
            self.finish_seen = true;
        }
        Ok(StreamEvent::Chunk(chunk))
    }
}

impl<'a> Llm<'a> {
    pub fn new(http: &'a reqwest::Client, config: &'a LlmConfig) -> Self {
        Self { http, config }
    }

    /// Whether an upstream key is configured (without one, `/chat` answers retrieval-only).
    pub fn is_configured(&self) -> bool {
        self.config.api_key.is_some()
    }

    pub fn timeout(&self) -> Duration {
        self.config.upstream_timeout
    }

    /// The error for calls made without `OPENAI_API_KEY`.
    pub fn not_configured() -> AppError {
        AppError::Upstream(
            "no LLM upstream is configured on this gateway (OPENAI_API_KEY is not set)".into(),
        )
    }

    fn request(&self, body: Vec<u8>) -> AppResult<reqwest::RequestBuilder> {
        let key = self
            .config
            .api_key
            .as_ref()
            .ok_or_else(Self::not_configured)?;
        let authorization = upstream::bearer(key).ok_or_else(|| {
            AppError::Upstream(
                "OPENAI_API_KEY holds characters that cannot be sent in a header".into(),
            )
        })?;
        Ok(self
            .http
            .post(chat_completions_url(&self.config.base_url)?)
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/json")
            .body(body))
    }

    /// Sends a serialized chat completion request and waits, at most the upstream timeout, for
    /// the response's status and headers. A non-2xx answer becomes an error; a 2xx response is
    /// returned with its body unread (streamed or not, as the caller asked).
    ///
    /// Timed (until the status and headers arrive) and counted as `llm` in `/metrics`.
    pub async fn send(&self, body: Vec<u8>) -> AppResult<reqwest::Response> {
        use crate::metrics::{Upstream, UpstreamFailure, upstream_call};
        let request = self.request(body)?;
        let started = std::time::Instant::now();
        let response = match tokio::time::timeout(self.timeout(), request.send()).await {
            Err(_) => {
                upstream_call(
                    Upstream::Llm,
                    started.elapsed(),
                    Some(UpstreamFailure::Timeout),
                );
                return Err(self.timed_out());
            }
            Ok(Err(e)) => {
                let kind = if Transport::of(&e) == Transport::Timeout {
                    UpstreamFailure::Timeout
                } else {
                    UpstreamFailure::Unreachable
                };
                upstream_call(Upstream::Llm, started.elapsed(), Some(kind));
                return Err(self.transport_error(e));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        let failure = (!status.is_success()).then_some(UpstreamFailure::Status);
        upstream_call(Upstream::Llm, started.elapsed(), failure);
        if status.is_success() {
            return Ok(response);
        }
        // The error body is small; still, bound the wait for it.
        let body = upstream::error_body(response, self.timeout()).await;
        Err(self.status_error(status, &body))
    }

    /// A whole (non-streamed) completion as the upstream's bytes, within the upstream timeout.
    pub async fn complete_bytes(&self, body: Vec<u8>) -> AppResult<Bytes> {
        let call = async {
            let response = self.send(body).await?;
            response.bytes().await.map_err(|e| self.transport_error(e))
        };
        tokio::time::timeout(self.timeout(), call)
            .await
            .map_err(|_| self.timed_out())?
    }

    /// A whole (non-streamed) completion, parsed.
    pub async fn complete(&self, request: &ChatCompletionRequest<'_>) -> AppResult<Completion> {
        let body = serde_json::to_vec(request).map_err(AppError::internal)?;
        let bytes = self.complete_bytes(body).await?;
        serde_json::from_slice(&bytes).map_err(|_| {
            AppError::Upstream("the LLM upstream answered with an unreadable body".into())
        })
    }

    /// A streamed completion: returns once the upstream has answered 2xx; the events follow.
    pub async fn stream(&self, request: &ChatCompletionRequest<'_>) -> AppResult<ChatStream> {
        let body = serde_json::to_vec(request).map_err(AppError::internal)?;
        let response = self.send(body).await?;
        Ok(ChatStream {
            events: Box::pin(response.bytes_stream().eventsource()),
            key: self.config.api_key.clone(),
            idle_timeout: self.timeout(),
            finish_seen: false,
            finished: false,
        })
    }

    pub fn timed_out(&self) -> AppError {
        AppError::UpstreamTimeout(format!(
            "the LLM upstream did not answer within {} s",
            self.timeout().as_secs()
        ))
    }

    pub fn transport_error(&self, error: reqwest::Error) -> AppError {
        // The cause (connection refused, reset, DNS, TLS) goes to the log with the request id.
        tracing::warn!(error = %error, "LLM upstream call failed");
        let what = match Transport::of(&error) {
            Transport::Timeout => return self.timed_out(),
            Transport::Connect => "the LLM upstream could not be reached",
            Transport::Body => "the LLM upstream's response broke off",
            Transport::Other => "the call to the LLM upstream failed",
        };
        AppError::Upstream(what.into())
    }

    /// A non-2xx upstream answer as a 502 whose detail says what happened. The upstream's own
    /// message is quoted only for request errors (it explains what to fix), and never with the
    /// key in it (OpenAI's 401 message echoes part of the key, so 401/403 quote nothing).
    pub fn status_error(&self, status: StatusCode, body: &[u8]) -> AppError {
        let code = status.as_u16();
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(error_message_of).map(clip));
        let detail = match code {
            401 | 403 => format!("the LLM upstream refused the gateway's credentials ({code})"),
            429 => "the LLM upstream is rate limiting the gateway (429); retry later".to_owned(),
            400..=499 => match message {
                Some(message) => {
                    format!("the LLM upstream rejected the request ({code}): {message}")
                }
                None => format!("the LLM upstream rejected the request ({code})"),
            },
            _ => format!("the LLM upstream failed ({code})"),
        };
        AppError::Upstream(self.redact(detail))
    }

    /// `text` without the server's key or anything shaped like a credential.
    pub fn redact(&self, text: String) -> String {
        redact_with(self.config, &text)
    }
}

fn redact_with(config: &LlmConfig, text: &str) -> String {
    let key = config.api_key.as_ref().map(|k| k.expose_secret());
    crate::redact::redact(text, key.as_slice())
}

thread_local! {
    /// The parsed `{OPENAI_BASE_URL}/chat/completions` of the last call on this thread. Parsing
    /// it (with IDNA host processing) on every call showed up at ~3% of the gateway's CPU in
    /// the latency benchmark; the base URL is fixed for a process, so remember it.
    static CHAT_URL: RefCell<Option<(String, reqwest::Url)>> = const { RefCell::new(None) };
}

fn chat_completions_url(base_url: &str) -> AppResult<reqwest::Url> {
    CHAT_URL.with_borrow_mut(|cached| {
        if let Some((base, url)) = cached.as_ref()
            && base == base_url
        {
            return Ok(url.clone());
        }
        let url = reqwest::Url::parse(&format!("{base_url}/chat/completions"))
            .map_err(|_| AppError::Upstream("OPENAI_BASE_URL does not make a valid URL".into()))?;
        *cached = Some((base_url.to_owned(), url.clone()));
        Ok(url)
    })
}

/// `{"error": {"message": "..."}}` (OpenAI) or `{"error": "..."}` (some compatible servers).
fn error_message_of(error: &Value) -> Option<&str> {
    match error {
        Value::String(message) => Some(message),
        Value::Object(object) => object.get("message").and_then(Value::as_str),
        _ => None,
    }
}

fn clip(message: &str) -> String {
    if message.chars().count() <= MAX_QUOTED_MESSAGE {
        return message.to_owned();
    }
    let mut clipped: String = message.chars().take(MAX_QUOTED_MESSAGE).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn config(key: Option<&str>) -> LlmConfig {
        LlmConfig {
            api_key: key.map(|k| SecretString::from(k.to_owned())),
            base_url: "http://127.0.0.1:9/v1".into(),
            chat_model: "gpt-4o-mini".into(),
            embedding_model: "text-embedding-3-small".into(),
            allowed_models: Vec::new(),
            pinecone_control_plane_url: "http://127.0.0.1:9".into(),
            pinecone_index_name: None,
            upstream_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn status_errors_explain_without_the_key() {
        let http = reqwest::Client::new();
        let config = config(Some("sk-test-upstream-unit"));
        let llm = Llm::new(&http, &config);
        let refused = llm.status_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"Incorrect API key provided: sk-test-upstream-unit"}}"#,
        );
        // `Upstream` is the 502 `upstream_error` (`crate::http::error`, a layer above this one).
        assert!(matches!(refused, AppError::Upstream(_)), "{refused:?}");
        assert!(!refused.to_string().contains("sk-test"), "{refused}");
        let rejected = llm.status_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"message":"bad temperature; key was sk-test-upstream-unit"}}"#,
        );
        let detail = rejected.to_string();
        assert!(detail.contains("bad temperature"), "{detail}");
        assert!(
            detail.contains("[redacted]") && !detail.contains("sk-test"),
            "{detail}"
        );
        let failed = llm.status_error(StatusCode::INTERNAL_SERVER_ERROR, b"oops");
        assert_eq!(failed.to_string(), "the LLM upstream failed (500)");
    }

    #[test]
    fn long_messages_are_clipped() {
        let clipped = clip(&"x".repeat(1000));
        assert_eq!(clipped.chars().count(), MAX_QUOTED_MESSAGE + 1);
    }

    #[test]
    fn chunks_expose_their_text() {
        let chunk: ChatChunk = serde_json::from_str(
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        )
        .expect("chunk");
        assert_eq!(chunk.content(), Some("Hi"));
        assert_eq!(chunk.finish_reason(), None);
        let usage_only: ChatChunk =
            serde_json::from_str(r#"{"choices":[],"usage":{"total_tokens":3}}"#).expect("chunk");
        assert_eq!(usage_only.content(), None);
        assert!(usage_only.usage.is_some());
    }
}
