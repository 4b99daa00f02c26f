//! What must never reach a log line (or a caller): SQL bind parameters, and the credentials an
//! upstream echoes back (the server's `OPENAI_API_KEY`, a tenant's Pinecone key), whether in
//! an error status, in a non-streamed answer or in the middle of a stream.
//!
//! Each test captures the whole log at TRACE level (`harness::logs::capture`) on a
//! current-thread runtime, so the gateway, its stand-ins and their tasks all log there. A
//! secret is looked for both as text and inside decimal byte arrays.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::harness::api_key_for;
use crate::harness::upstream::Served;
use crate::harness::{TestApp, logs};

const ECHOED_OPENAI_KEY: &str = "sk-test-upstream-echoed-Hq83nd";
const ECHOED_PINECONE_KEY: &str = "pcsk-test-echoed-0123456789";

#[tokio::test]
async fn sql_bind_parameters_never_reach_the_log() {
    let log = logs::capture();
    let app = TestApp::new().await;
    let email = format!("bind-{}@example.com", uuid::Uuid::new_v4().simple());
    app.create_user(&email, None, true).await;
    let admin = app.login_as(&email).await;
    app.create_tenant(
        &admin,
        "acme",
        json!({"system_prompt": "prompt-marker-Vb2k"}),
    )
    .await;
    let key = api_key_for(&app, "acme").await;
    app.post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"id": "d", "text": "document-marker-Zq81 rockets"}]}))
        .send()
        .await
        .assert_status(201);
    app.post("/search")
        .api_key(&key)
        .json(&json!({"query": "query-marker-Lp4 rockets"}))
        .send()
        .await
        .assert_status(200);

    let text = log.text();
    assert!(
        text.contains("tokio_postgres"),
        "the capture sees the database driver's log"
    );
    assert!(
        !text.contains("with parameters"),
        "the driver's parameter lines are dropped"
    );
    log.assert_lacks(&[
        &email,
        "prompt-marker-Vb2k",
        "document-marker-Zq81",
        "query-marker-Lp4",
        &key,
    ]);
}

#[test]
fn no_filter_brings_the_parameter_lines_back() {
    use tracing::subscriber::with_default;
    let seen = Arc::new(AtomicBool::new(false));
    for spec in [
        "trace",
        "tokio_postgres=trace",
        "tokio_postgres::query=trace",
    ] {
        let filter = tenantgate::app::telemetry::env_filter(spec);
        let subscriber =
            tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), filter);
        let seen = seen.clone();
        with_default(subscriber, || {
            // What tokio-postgres's `debug!` becomes once bridged from `log`.
            tracing::debug!(target: "tokio_postgres::query", "executing statement with parameters");
            seen.store(
                tracing::enabled!(target: "tokio_postgres::query", tracing::Level::DEBUG),
                Ordering::SeqCst,
            );
        });
        assert!(
            !seen.load(Ordering::SeqCst),
            "{spec} enables the driver's parameter lines"
        );
    }
}

/// A stand-in for the embeddings API, a Pinecone index and the chat completions API that
/// answers errors quoting the credentials it was sent. Embeddings succeed while
/// `embeddings_ok` is set, so a search reaches Pinecone.
struct EchoStandIn {
    url: String,
    embeddings_ok: Arc<AtomicBool>,
    _server: Served,
}

fn echo_of(headers: &HeaderMap) -> String {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let bearer = get("authorization");
    let raw = bearer.strip_prefix("Bearer ").unwrap_or(&bearer).to_owned();
    format!(
        "invalid credentials: you sent Authorization: {bearer}; key {raw}; Api-Key: {}",
        get("api-key")
    )
}

impl EchoStandIn {
    async fn start() -> Self {
        let embeddings_ok = Arc::new(AtomicBool::new(true));
        let ok = embeddings_ok.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let ok = ok.load(Ordering::SeqCst);
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let echo = echo_of(&headers);
                match uri.path() {
                    "/v1/embeddings" if ok => {
                        let n = body["input"].as_array().map_or(1, Vec::len);
                        let data: Vec<Value> = (0..n)
                            .map(|i| json!({"object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0, 0.0]}))
                            .collect();
                        axum::Json(json!({"object": "list", "data": data, "model": "m",
                                          "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
                        .into_response()
                    }
                    "/v1/chat/completions" if body["stream"] == json!(true) => {
                        let first = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                           "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": null}]});
                        let error = json!({"error": {"message": echo, "type": "server_error"}});
                        let events = format!("data: {first}\n\ndata: {error}\n\n");
                        ([(header::CONTENT_TYPE, "text/event-stream")], Body::from(events)).into_response()
                    }
                    _ => {
                        let error = json!({"error": {"message": echo, "type": "invalid_request_error"}});
                        (StatusCode::BAD_REQUEST, axum::Json(error)).into_response()
                    }
                }
            }
        });
        let server = Served::start(app).await;
        Self {
            url: server.url.clone(),
            embeddings_ok,
            _server: server,
        }
    }
}

async fn echo_app(stand_in: &EchoStandIn) -> TestApp {
    TestApp::builder()
        .env("OPENAI_BASE_URL", &format!("{}/v1", stand_in.url))
        .env("OPENAI_API_KEY", ECHOED_OPENAI_KEY)
        .build()
        .await
}

#[tokio::test]
async fn keys_echoed_by_embeddings_and_pinecone_stay_out_of_logs_and_answers() {
    let log = logs::capture();
    let echo = EchoStandIn::start().await;
    let app = echo_app(&echo).await;
    let admin = app.superuser_token().await;
    app.create_tenant(
        &admin,
        "pine",
        json!({"pinecone_api_key": ECHOED_PINECONE_KEY, "pinecone_index_host": echo.url}),
    )
    .await;
    let token = app.tenant_token("pine");

    // Embeddings answer, Pinecone's query echoes both keys.
    let answer = app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "rockets"}))
        .send()
        .await;
    answer.assert_error(502, "upstream_error");
    assert!(
        !answer.text().contains(ECHOED_PINECONE_KEY),
        "{}",
        answer.text()
    );
    assert!(
        !answer.text().contains(ECHOED_OPENAI_KEY),
        "{}",
        answer.text()
    );

    // The embeddings call itself echoes the server key.
    echo.embeddings_ok.store(false, Ordering::SeqCst);
    let answer = app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "rockets"}))
        .send()
        .await;
    answer.assert_error(502, "upstream_error");
    assert!(
        !answer.text().contains(ECHOED_OPENAI_KEY),
        "{}",
        answer.text()
    );

    let text = log.text();
    assert!(
        text.contains("upstream error answer") && text.contains("[redacted]"),
        "the upstreams' answers are logged, redacted"
    );
    log.assert_lacks(&[ECHOED_OPENAI_KEY, ECHOED_PINECONE_KEY]);
}

#[tokio::test]
async fn keys_echoed_by_the_llm_stay_out_of_logs_and_answers_streamed_or_not() {
    let log = logs::capture();
    let echo = EchoStandIn::start().await;
    let app = echo_app(&echo).await;
    let key = app.tenant_with_key("acme").await;

    // Refused before any answer: a 502 whose detail quotes the upstream, redacted.
    for path in ["/chat", "/v1/chat/completions"] {
        let body = if path == "/chat" {
            json!({"message": "hello"})
        } else {
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})
        };
        let answer = app.post(path).api_key(&key).json(&body).send().await;
        assert_eq!(answer.status, 502, "{path}: {}", answer.text());
        assert!(
            !answer.text().contains(ECHOED_OPENAI_KEY),
            "{path}: {}",
            answer.text()
        );
    }

    // The error arrives after the stream has started: the `error` event is redacted too.
    for path in ["/chat", "/v1/chat/completions"] {
        let body = if path == "/chat" {
            json!({"message": "hello", "stream": true})
        } else {
            json!({"model": "gpt-4o-mini", "stream": true,
                   "messages": [{"role": "user", "content": "hello"}]})
        };
        let answer = app.post(path).api_key(&key).json(&body).send().await;
        answer.assert_status(200);
        let text = answer.text();
        assert!(
            text.contains("error"),
            "{path}: the stream ends with an error: {text}"
        );
        assert!(text.contains("invalid credentials"), "{path}: {text}");
        assert!(!text.contains(ECHOED_OPENAI_KEY), "{path}: {text}");
        assert!(!text.contains("Hq83nd"), "{path}: {text}");
    }

    assert!(
        log.text().contains("[redacted]"),
        "the upstream's words are logged, redacted"
    );
    log.assert_lacks(&[ECHOED_OPENAI_KEY, "Hq83nd"]);
}

#[test]
fn the_log_scan_finds_secrets_inside_byte_arrays() {
    let scan = |log: &str| {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), log).expect("write");
        std::process::Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/scan-test-log.sh"
            ))
            .arg(file.path())
            .output()
            .expect("run the scan")
            .status
            .success()
    };
    let as_bytes = |s: &str| {
        let numbers: Vec<String> = s.bytes().map(|b| b.to_string()).collect();
        format!("[{}]", numbers.join(", "))
    };
    let line = |value: &str| format!("DEBUG tokio_postgres::query: parameters: [Some({value})]\n");
    assert!(scan(&line(&as_bytes("an ordinary document"))));
    assert!(
        !scan(&line(&as_bytes(ECHOED_PINECONE_KEY))),
        "a Pinecone key as bytes"
    );
    assert!(
        !scan(&line(&as_bytes("Pw-SEKRIT-x"))),
        "a password as bytes"
    );
    assert!(!scan(&line(ECHOED_OPENAI_KEY)), "a key as text");
}
