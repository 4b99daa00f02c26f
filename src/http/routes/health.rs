//! Probes and metrics: `/health` (the process is alive), `/ready` (the database answers),
//! `/metrics` (Prometheus text).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::state::AppState;
use crate::errors::AppError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// Liveness: answers as long as the process serves HTTP; touches nothing else.
#[utoipa::path(get, path = "/health", tag = "probes", responses((status = 200, body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: 200 when the database answers within two seconds, 503 `unavailable` otherwise,
/// and 503 while the replica drains after SIGTERM (`SHUTDOWN_DRAIN_SECONDS`).
#[utoipa::path(get, path = "/ready", tag = "probes", responses(
    (status = 200, body = Status),
    (status = 503, body = crate::http::error::ErrorBody),
))]
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        return AppError::Unavailable.into_response();
    }
    if crate::store::db::ping(&state.pool, Duration::from_secs(2)).await {
        Json(Status { status: "ready" }).into_response()
    } else {
        AppError::Unavailable.into_response()
    }
}

/// Prometheus exposition of the request counters and latencies, the pool's state, the tenant
/// cache, upstream calls, refused requests and Redis fallbacks.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let pool = state.pool.status();
    crate::metrics::database_pool(
        pool.size.saturating_sub(pool.available),
        pool.available,
        pool.max_size,
    );
    let body = crate::metrics::render();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}
