//! `FakeLlm`, a stand-in for OpenAI's chat completions API served over real HTTP on
//! 127.0.0.1:0.
//!
//! It speaks the published shapes: a `chat.completion` JSON body, or for `stream: true`
//! `data: {chat.completion.chunk}` events ending with `data: [DONE]` (plus a usage chunk when
//! `stream_options.include_usage` is set). It records every request it receives (headers and
//! JSON body), and a `Script` says how to answer: normally, slowly, with an error status, or
//! with a stream that waits at a gate before its last chunk or breaks off half-way.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::Served;

/// The upstream key the gateway is configured with in these tests (the log scan looks for it).
pub const UPSTREAM_KEY: &str = "sk-test-upstream-7Qd2v9";
/// The answer of `Script::Reply`, streamed as `REPLY_CHUNKS`.
pub const REPLY: &str = "Hello from the stand-in.";
pub const REPLY_CHUNKS: [&str; 4] = ["Hello", " from", " the", " stand-in."];

#[derive(Clone, Debug)]
pub enum Script {
    /// Answers `REPLY` (streamed as `REPLY_CHUNKS` when asked to stream).
    Reply,
    /// Streams these chunks, waiting before the last one until `release()` is called.
    Gated(Vec<String>),
    /// Streams these chunks, then drops the connection without finishing the body.
    BreakOff(Vec<String>),
    /// Answers with this status and an OpenAI-shaped error body.
    Status(u16),
    /// Waits this long before answering like `Reply`.
    Slow(Duration),
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    /// Every header value as text, for "the caller's credential is nowhere" checks.
    pub fn header_text(&self) -> String {
        self.headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }

    pub fn messages(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

struct Shared {
    script: Mutex<Script>,
    requests: Mutex<Vec<Recorded>>,
    gate: Semaphore,
}

pub struct FakeLlm {
    /// What `OPENAI_BASE_URL` should be: `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
    _server: Served,
}

impl FakeLlm {
    pub async fn start(script: Script) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let server = Served::start(app).await;
        Self {
            base_url: format!("{}/v1", server.url),
            shared,
            _server: server,
        }
    }

    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().expect("lock") = script;
    }

    /// Lets a `Gated` stream send its last chunk.
    pub fn release(&self) {
        self.shared.gate.add_permits(1);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    #[track_caller]
    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the stand-in received no request")
    }
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.requests.lock().expect("lock").push(Recorded {
        headers,
        body: body.clone(),
    });
    let script = shared.script.lock().expect("lock").clone();
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let reply_chunks = || REPLY_CHUNKS.iter().map(|c| (*c).to_owned()).collect();
    match script {
        Script::Status(code) => {
            let status = StatusCode::from_u16(code).expect("status");
            let error = json!({"error": {"message": "The stand-in was told to fail.", "type": "server_error", "code": null}});
            (status, axum::Json(error)).into_response()
        }
        Script::Slow(delay) => {
            tokio::time::sleep(delay).await;
            answer(&model, stream, include_usage, reply_chunks(), None, false)
        }
        Script::Reply => answer(&model, stream, include_usage, reply_chunks(), None, false),
        Script::Gated(chunks) => answer(&model, true, include_usage, chunks, Some(shared), false),
        Script::BreakOff(chunks) => answer(&model, true, include_usage, chunks, None, true),
    }
}

fn usage() -> Value {
    json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
}

fn chunk(model: &str, delta: Value, finish_reason: Value) -> Bytes {
    let chunk = json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn answer(
    model: &str,
    stream: bool,
    include_usage: bool,
    chunks: Vec<String>,
    gate: Option<Arc<Shared>>,
    break_off: bool,
) -> Response {
    if !stream {
        let body = json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": chunks.concat()},
                         "finish_reason": "stop", "logprobs": null}],
            "usage": usage(),
        });
        return axum::Json(body).into_response();
    }
    let model = model.to_owned();
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
    tokio::spawn(async move {
        let _ = tx.unbounded_send(Ok(chunk(
            &model,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )));
        let last = chunks.len().saturating_sub(1);
        for (i, text) in chunks.iter().enumerate() {
            if i == last
                && let Some(shared) = &gate
            {
                let Ok(permit) = shared.gate.acquire().await else {
                    return;
                };
                permit.forget();
            }
            let _ = tx.unbounded_send(Ok(chunk(&model, json!({"content": text}), Value::Null)));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if break_off {
            // An error item makes the server abort the connection mid-body.
            let _ = tx.unbounded_send(Err(std::io::Error::other("stand-in breaks off")));
            return;
        }
        let _ = tx.unbounded_send(Ok(chunk(&model, json!({}), json!("stop"))));
        if include_usage {
            let usage_chunk = json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                "model": model, "choices": [], "usage": usage(),
            });
            let _ = tx.unbounded_send(Ok(Bytes::from(format!("data: {usage_chunk}\n\n"))));
        }
        let _ = tx.unbounded_send(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(rx),
    )
        .into_response()
}
