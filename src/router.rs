//! Every route in one place: which are public, which need a tenant, which need a superuser.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};

use crate::auth::layers::{superuser_layer, tenant_layer};
use crate::errors::AppError;
use crate::routes::{admin, documents, health, search, session, tenant};
use crate::state::AppState;

pub fn build(state: AppState) -> Router {
    let public = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/auth/token", post(session::token))
        .route("/auth/me", get(session::me));

    // Tenant routes: the tenant layer resolves the caller's tenant before any handler runs.
    let tenant_routes = Router::new()
        .route("/tenant", get(tenant::show))
        .route("/search", post(search::search))
        .route("/documents", get(documents::list).post(documents::create))
        // A wildcard, so ids with slashes (file paths from `tenantgate ingest`) need no escaping.
        .route("/documents/{*id}", delete(documents::delete))
        .route_layer(from_fn_with_state(state.clone(), tenant_layer));

    let admin_routes =
        admin::routes().route_layer(from_fn_with_state(state.clone(), superuser_layer));

    let router = Router::new()
        .merge(public)
        .merge(tenant_routes)
        .nest("/admin", admin_routes)
        .fallback(|| async { AppError::not_found("route") })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state.clone());
    crate::middleware::apply(router, &state.config)
}
