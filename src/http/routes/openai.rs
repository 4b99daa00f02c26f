//! The OpenAI-compatible surface: `POST /v1/chat/completions`, `GET /v1/models` and
//! `GET /v1/models/{model}`, so an OpenAI SDK works with `base_url=<gateway>/v1` and the
//! tenant's JWT or API key as its `api_key`.
//!
//! A chat completion is forwarded to `OPENAI_BASE_URL` with one change: a system message with
//! the tenant's prompt and the passages retrieved for the last user message goes in front of
//! the caller's messages. The body is kept as a JSON map, so fields the gateway does not know
//! (tools, response_format, seed, stream_options…) reach the upstream untouched. The caller's
//! own credential never leaves the gateway: the upstream gets the server's `OPENAI_API_KEY`.
//!
//! Answers come back as the upstream wrote them: a whole JSON body, or for `stream: true` the
//! upstream's event stream relayed chunk by chunk as it arrives (never buffered whole).
//!
//! Without `OPENAI_API_KEY` a completion is refused with 502 `upstream_error` (this route has
//! no retrieval-only answer to give; `/chat` does).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::app::state::AppState;
use crate::config::LlmConfig;
use crate::domain::TenantId;
use crate::errors::{AppError, AppResult};
use crate::http::error::{ErrorBody, HttpError};
use crate::http::extractors::{CurrentTenant, SystemPrompt, TenantRetriever};
use crate::http::routes::ValidJson;
use crate::rag::llm::Llm;
use crate::rag::prompt::{self, DEFAULT_TOP_K};
use crate::rag::retrieval::Passage;
use crate::store::models::tenant::RetrieverKind;

/// `created` of the model objects: the gateway does not know when a model was made.
const MODEL_CREATED: i64 = 0;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ModelObject {
    pub id: String,
    /// Always `"model"`.
    pub object: &'static str,
    /// Always 0: unknown.
    pub created: i64,
    /// Always `"tenantgate"`.
    pub owned_by: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ModelList {
    /// Always `"list"`.
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

/// The models a caller may ask for: `ALLOWED_MODELS`, or `CHAT_MODEL` when that is unset.
fn listed_models(config: &LlmConfig) -> impl Iterator<Item = &str> {
    let list: &[String] = if config.allowed_models.is_empty() {
        std::slice::from_ref(&config.chat_model)
    } else {
        &config.allowed_models
    };
    list.iter().map(String::as_str)
}

fn model_object(id: &str) -> ModelObject {
    ModelObject {
        id: id.to_owned(),
        object: "model",
        created: MODEL_CREATED,
        owned_by: "tenantgate",
    }
}

#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`ALLOWED_MODELS`, or `CHAT_MODEL` when unset", body = ModelList),
        (status = 401, body = ErrorBody),
        (status = 403, description = "no_tenant or tenant_unavailable", body = ErrorBody),
    ))]
pub async fn list_models(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: listed_models(&state.config.llm).map(model_object).collect(),
    })
}

#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai", security(("bearer" = []), ("api_key" = [])),
    params(("model" = String, Path, description = "a model id from `GET /v1/models`")),
    responses(
        (status = 200, body = ModelObject),
        (status = 404, description = "not a listed model", body = ErrorBody),
    ))]
pub async fn get_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> AppResult<Json<ModelObject>> {
    listed_models(&state.config.llm)
        .find(|m| *m == model)
        .map(|m| Json(model_object(m)))
        .ok_or_else(|| AppError::not_found("model"))
}

#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", security(("bearer" = []), ("api_key" = [])),
    request_body(content = Object, description = "An OpenAI chat completion request: `messages` \
        (required), `model` (default `CHAT_MODEL`; limited by `ALLOWED_MODELS`), `stream`, and any \
        other field, forwarded untouched."),
    responses(
        (status = 200, description = "The upstream's chat completion, or with `stream: true` its \
            `data: {chunk}` events ending with `data: [DONE]`, relayed as they arrive.",
            content(
                (Object = "application/json"),
                (String = "text/event-stream"),
            )),
        (status = 401, body = ErrorBody),
        (status = 403, description = "no_tenant or tenant_unavailable", body = ErrorBody),
        (status = 422, description = "no messages, or a model outside ALLOWED_MODELS", body = ErrorBody),
        (status = 502, description = "the upstream failed, or no OPENAI_API_KEY is configured", body = ErrorBody),
        (status = 504, description = "the upstream timed out", body = ErrorBody),
    ))]
pub async fn chat_completions(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    TenantRetriever(retriever): TenantRetriever,
    SystemPrompt(system_prompt): SystemPrompt,
    ValidJson(mut body): ValidJson<Map<String, Value>>,
) -> AppResult<Response> {
    let config = &state.config.llm;
    let stream = check_request(&mut body, config)?;
    let llm = Llm::new(&state.http, config);
    if !llm.is_configured() {
        return Err(Llm::not_configured());
    }
    let passages = if retriever.kind() == RetrieverKind::None {
        Vec::new()
    } else {
        match last_user_text(&body) {
            Some(query) if !query.trim().is_empty() => {
                let found = prompt::retrieve(retriever.as_ref(), &query, DEFAULT_TOP_K).await?;
                state.usage.retrieval(tenant.id.as_str());
                found
            }
            _ => Vec::new(),
        }
    };
    let upstream_body = upstream_body(&mut body, &system_prompt, &passages, stream)?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let meter = UsageScanner::new(state.usage.clone(), tenant.id.clone(), model.to_owned());
    if stream {
        let response = llm.send(upstream_body).await?;
        return Ok(relay_stream(
            response,
            llm.timeout(),
            meter,
            config.api_key.clone(),
        ));
    }
    let bytes = llm.complete_bytes(upstream_body).await?;
    let mut meter = meter;
    meter.found = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("usage").cloned());
    meter.finish();
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response())
}

/// The body sent upstream: the caller's, with the system message (`rag::prompt::assemble`) in
/// front of its messages and, for a stream, a request for the usage chunk.
fn upstream_body(
    body: &mut Map<String, Value>,
    system_prompt: &str,
    passages: &[Passage],
    stream: bool,
) -> AppResult<Vec<u8>> {
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        let conversation = std::mem::take(messages);
        *messages = prompt::assemble(
            system_prompt,
            passages,
            conversation,
            |role, content| json!({"role": role, "content": content}),
        );
    }
    if stream {
        // Ask for the usage chunk (metering counts it); a caller's own setting is kept.
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        if let Value::Object(options) = options {
            options.entry("include_usage").or_insert(Value::Bool(true));
        }
    }
    serde_json::to_vec(body).map_err(AppError::internal)
}

/// Checks what the gateway itself relies on and fills in the default model; returns `stream`.
fn check_request(body: &mut Map<String, Value>, config: &LlmConfig) -> AppResult<bool> {
    match body.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => {
            if let Some(i) = messages.iter().position(|m| !m.is_object()) {
                return Err(AppError::validation(
                    &format!("messages[{i}]"),
                    "must be an object with `role` and `content`",
                ));
            }
        }
        Some(Value::Array(_)) => return Err(AppError::validation("messages", "must not be empty")),
        Some(_) => return Err(AppError::validation("messages", "must be an array")),
        None => return Err(AppError::validation("messages", "is required")),
    }
    match body.get("model") {
        None | Some(Value::Null) => {
            body.insert("model".to_owned(), Value::String(config.chat_model.clone()));
        }
        Some(Value::String(model)) if model.trim().is_empty() => {
            return Err(AppError::validation("model", "must not be empty"));
        }
        Some(Value::String(model)) => {
            if !config.allowed_models.is_empty() && !config.allowed_models.contains(model) {
                return Err(AppError::validation(
                    "model",
                    format!(
                        "is not offered by this gateway; choose one of: {}",
                        config.allowed_models.join(", ")
                    ),
                ));
            }
        }
        Some(_) => return Err(AppError::validation("model", "must be a string")),
    }
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(stream)) => Ok(*stream),
        Some(_) => Err(AppError::validation("stream", "must be true or false")),
    }
}

/// The text of the last user message: a string, or the `text` parts of a content array.
fn last_user_text(body: &Map<String, Value>) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match last.get("content")? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

/// `bytes` with every copy of the server key replaced (a no-op, without copying, when absent).
fn scrub_key(bytes: Bytes, key: Option<&secrecy::SecretString>) -> Bytes {
    use secrecy::ExposeSecret;
    let Some(key) = key
        .map(|k| k.expose_secret().as_bytes())
        .filter(|k| k.len() >= 6)
    else {
        return bytes;
    };
    if memchr::memmem::find(&bytes, key).is_none() {
        return bytes;
    }
    let text = String::from_utf8_lossy(&bytes);
    let key = String::from_utf8_lossy(key);
    Bytes::from(text.replace(key.as_ref(), crate::redact::REDACTED))
}

/// Relays the upstream's event stream as the response body, chunk by chunk. If the upstream
/// breaks off or goes silent for longer than the upstream timeout, one last event carries an
/// OpenAI-shaped `error` (which the OpenAI SDKs raise as an exception) plus the contract's
/// `detail` and `code`, and the stream ends.
///
/// A chunk holding the server's own key (an upstream or proxy echoing it in an error) has it
/// replaced before it is relayed.
fn relay_stream(
    response: reqwest::Response,
    idle_timeout: Duration,
    meter: UsageScanner,
    key: Option<secrecy::SecretString>,
) -> Response {
    let upstream = Box::pin(response.bytes_stream());
    let key = std::sync::Arc::new(key);
    let chunks = futures::stream::unfold(Some((upstream, meter)), move |state| {
        let key = key.clone();
        async move {
            let (mut upstream, mut meter) = state?;
            let failure = match tokio::time::timeout(idle_timeout, upstream.next()).await {
                Ok(Some(Ok(bytes))) => {
                    meter.scan(&bytes);
                    let bytes = scrub_key(bytes, key.as_ref().as_ref());
                    return Some((Ok::<_, Infallible>(bytes), Some((upstream, meter))));
                }
                Ok(None) => {
                    meter.finish();
                    return None;
                }
                Ok(Some(Err(error))) => {
                    tracing::warn!(error = %error, "LLM upstream stream failed while relaying");
                    AppError::Upstream(
                        "the LLM upstream stream broke off in the middle of the answer".into(),
                    )
                }
                Err(_) => AppError::UpstreamTimeout(format!(
                    "the LLM upstream sent nothing for {} s in the middle of its answer",
                    idle_timeout.as_secs()
                )),
            };
            meter.finish();
            Some((Ok(error_event(&failure)), None))
        }
    });
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Tells nginx-style proxies in front of the gateway not to buffer the stream.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// Reads the relayed event stream line by line (a copy of each line, at most `MAX_LINE`
/// bytes) for the chunk that carries `usage`, and counts the call once the stream ends.
struct UsageScanner {
    usage: std::sync::Arc<crate::usage::Usage>,
    tenant_id: TenantId,
    model: String,
    line: Vec<u8>,
    found: Option<Value>,
    counted: bool,
}

/// Longer event lines are not usage chunks (those are small); they are skipped, not kept.
const MAX_LINE: usize = 64 * 1024;

impl UsageScanner {
    fn new(usage: std::sync::Arc<crate::usage::Usage>, tenant_id: TenantId, model: String) -> Self {
        Self {
            usage,
            tenant_id,
            model,
            line: Vec::new(),
            found: None,
            counted: false,
        }
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.line_done();
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
    }

    fn line_done(&mut self) {
        let line = std::mem::take(&mut self.line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return;
        }
        if let Ok(chunk) = serde_json::from_slice::<Value>(data)
            && let Some(usage) = chunk.get("usage").filter(|u| u.is_object())
        {
            self.found = Some(usage.clone());
        }
    }

    fn finish(&mut self) {
        if !self.counted {
            self.counted = true;
            self.line_done();
            self.usage
                .chat(self.tenant_id.as_str(), &self.model, self.found.as_ref());
        }
    }
}

/// A client that hangs up mid-stream still used the tokens sent so far: count what was seen.
impl Drop for UsageScanner {
    fn drop(&mut self) {
        self.finish();
    }
}

fn error_event(error: &AppError) -> Bytes {
    let body = error.body();
    let event = json!({
        "error": {"message": body.detail, "type": body.code, "code": body.code},
        "detail": body.detail,
        "code": body.code,
    });
    // The blank lines first end any event the upstream left half-written.
    Bytes::from(format!("\n\ndata: {event}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allowed: &[&str]) -> LlmConfig {
        LlmConfig {
            api_key: None,
            base_url: "http://127.0.0.1:9/v1".into(),
            chat_model: "gpt-4o-mini".into(),
            embedding_model: "text-embedding-3-small".into(),
            allowed_models: allowed.iter().map(|m| (*m).to_owned()).collect(),
            pinecone_control_plane_url: "http://127.0.0.1:9".into(),
            pinecone_index_name: None,
            upstream_timeout: Duration::from_secs(1),
        }
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn the_default_model_is_filled_in_and_unknown_fields_kept() {
        let mut request = body(json!({"messages": [{"role": "user", "content": "hi"}], "seed": 7}));
        assert!(!check_request(&mut request, &config(&[])).expect("valid"));
        assert_eq!(request["model"], "gpt-4o-mini");
        assert_eq!(request["seed"], 7);
    }

    #[test]
    fn allowed_models_limit_the_choice() {
        let config = config(&["a", "b"]);
        let mut ok = body(
            json!({"model": "b", "messages": [{"role": "user", "content": "hi"}], "stream": true}),
        );
        assert!(check_request(&mut ok, &config).expect("valid"));
        let mut other =
            body(json!({"model": "c", "messages": [{"role": "user", "content": "hi"}]}));
        let error = check_request(&mut other, &config).expect_err("not allowed");
        assert_eq!(error.code(), "validation_error");
    }

    #[test]
    fn messages_are_required() {
        for bad in [
            json!({}),
            json!({"messages": []}),
            json!({"messages": "hi"}),
            json!({"messages": [1]}),
        ] {
            let error = check_request(&mut body(bad), &config(&[])).expect_err("invalid");
            assert_eq!(error.code(), "validation_error");
        }
    }

    #[test]
    fn the_query_is_the_last_user_message() {
        let request = body(json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {}}]},
        ]}));
        assert_eq!(last_user_text(&request).as_deref(), Some("second"));
    }
}
