//! The bare ceilings of `bench/ceilings.sh` (issue 14), built as the example `ceilings`:
//!
//! - `ceilings axum --port P --jwt-secret S` — the least an axum server can do for the tenant
//!   path: `/health`, and `/tenant` verifying the HS256 token on every request and looking the
//!   tenant up in a `HashMap` (tenant `bench`, as the script creates it in the gateway).
//! - `ceilings proxy --port P --upstream http://127.0.0.1:U` — the least a hyper reverse proxy
//!   can do: every request forwarded to the upstream over a pooled client, the body streamed
//!   back.
//!
//! They do only what the gateway must also do, so the ratios say what the gateway's extra
//! work (request ids, the trace span, metrics, timeouts, CORS, limits, JSON checks) costs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::{Parser, Subcommand};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The bare axum server: /health and /tenant.
    Axum {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        jwt_secret: String,
    },
    /// The bare hyper reverse proxy.
    Proxy {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        upstream: String,
    },
}

#[derive(Clone, Serialize)]
struct Tenant {
    id: String,
    name: String,
    system_prompt: String,
    retriever: String,
}

#[derive(Deserialize)]
struct Claims {
    tenant_id: String,
}

struct Bare {
    key: DecodingKey,
    validation: Validation,
    tenants: HashMap<String, Tenant>,
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn tenant(State(bare): State<Arc<Bare>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match jsonwebtoken::decode::<Claims>(token, &bare.key, &bare.validation) {
        Ok(data) => match bare.tenants.get(&data.claims.tenant_id) {
            Some(tenant) => Json(tenant.clone()).into_response(),
            None => StatusCode::FORBIDDEN.into_response(),
        },
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn serve_axum(port: u16, secret: String) {
    let bench = Tenant {
        id: "bench".into(),
        name: "Bench".into(),
        system_prompt: "You are the benchmark tenant's assistant. Answer briefly.".into(),
        retriever: "none".into(),
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let bare = Arc::new(Bare {
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
        tenants: HashMap::from([(bench.id.clone(), bench)]),
    });
    let app = Router::new()
        .route("/health", get(health))
        .route("/tenant", get(tenant))
        .with_state(bare);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

async fn serve_proxy(port: u16, upstream: String) {
    let client: Client<HttpConnector, hyper::body::Incoming> =
        Client::builder(TokioExecutor::new()).build_http();
    let upstream: Arc<str> = upstream.trim_end_matches('/').into();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
                let (client, upstream) = (client.clone(), upstream.clone());
                async move {
                    let path = request
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    *request.uri_mut() = format!("{upstream}{path}").parse().expect("uri");
                    request.headers_mut().remove(header::HOST);
                    match client.request(request).await {
                        Ok(response) => {
                            Ok::<_, std::convert::Infallible>(response.map(|body| body.boxed()))
                        }
                        Err(_) => Ok(hyper::Response::builder()
                            .status(StatusCode::BAD_GATEWAY)
                            .body(
                                http_body_util::Empty::new()
                                    .map_err(|never| match never {})
                                    .boxed(),
                            )
                            .expect("response")),
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() {
    match Args::parse().command {
        Command::Axum { port, jwt_secret } => serve_axum(port, jwt_secret).await,
        Command::Proxy { port, upstream } => serve_proxy(port, upstream).await,
    }
}
