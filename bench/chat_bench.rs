//! Tools for `bench/chat_latency.sh` (see docs/chat.md), built as the example `chat_bench`:
//!
//! - `chat_bench upstream --port 28181` — a tiny, fast stand-in for OpenAI's
//!   `POST /v1/chat/completions`: a fixed `chat.completion` body, or for `"stream": true` a
//!   first chunk at once, the rest after `--stream-gap-ms`, then `data: [DONE]`. It does as
//!   little as possible, so what the benchmark measures is the gateway, not the upstream.
//! - `chat_bench first-chunk --url URL [--token T]` — time from sending a streamed completion
//!   request to receiving the first body chunk, over one kept-alive connection; prints the
//!   median, p90 and p99 in microseconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};
use serde::Deserialize;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the stand-in upstream on 127.0.0.1.
    Upstream {
        #[arg(long, default_value_t = 28181)]
        port: u16,
        /// Pause between a stream's first chunk and the rest (so the first chunk is measurable).
        #[arg(long, default_value_t = 10)]
        stream_gap_ms: u64,
    },
    /// Measure time to the first streamed chunk.
    FirstChunk {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: Option<String>,
        #[arg(long, default_value_t = 300)]
        requests: usize,
        #[arg(long, default_value_t = 30)]
        warmup: usize,
    },
}

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29}}"#;
const FIRST_CHUNK: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":null}]}\n\n";
const REST: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" How can I help?\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: [DONE]\n\n";

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    stream: bool,
}

async fn completions(gap: Duration, body: Bytes) -> Response {
    let stream = serde_json::from_slice::<Probe>(&body).is_ok_and(|p| p.stream);
    if !stream {
        return ([(header::CONTENT_TYPE, "application/json")], COMPLETION).into_response();
    }
    let chunks = futures::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((
                Ok::<_, std::convert::Infallible>(Bytes::from_static(FIRST_CHUNK.as_bytes())),
                1,
            )),
            1 => {
                tokio::time::sleep(gap).await;
                Some((Ok(Bytes::from_static(REST.as_bytes())), 2))
            }
            _ => None,
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}

async fn upstream(port: u16, gap: Duration) {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: Bytes| completions(gap, body)),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    eprintln!("chat_bench upstream on http://{addr}/v1");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.expect("serve");
}

async fn first_chunk(url: String, token: Option<String>, requests: usize, warmup: usize) {
    let client = reqwest::Client::new();
    let body = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}"#;
    let mut samples = Vec::with_capacity(requests);
    for i in 0..warmup + requests {
        let mut request = client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let mut response = request.send().await.expect("request");
        assert!(
            response.status().is_success(),
            "status {}",
            response.status()
        );
        let first = response
            .chunk()
            .await
            .expect("body")
            .expect("a first chunk");
        let elapsed = started.elapsed();
        assert!(first.starts_with(b"data:"), "unexpected first chunk");
        while response.chunk().await.expect("body").is_some() {}
        if i >= warmup {
            samples.push(elapsed.as_secs_f64() * 1e6);
        }
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "first_chunk_us median={:.1} p90={:.1} p99={:.1} n={}",
        at(0.5),
        at(0.9),
        at(0.99),
        samples.len()
    );
}

#[tokio::main]
async fn main() {
    match Args::parse().command {
        Command::Upstream {
            port,
            stream_gap_ms,
        } => upstream(port, Duration::from_millis(stream_gap_ms)).await,
        Command::FirstChunk {
            url,
            token,
            requests,
            warmup,
        } => first_chunk(url, token, requests, warmup).await,
    }
}
