//! Every route in one place: which are public, which need a tenant, which need an administrator.
//!
//! `ROUTES` lists every (method, path) served here. The integration test `openapi::` checks
//! that it matches this router (every path literal in this file is listed, every listed route
//! answers, no unlisted method does) and the OpenAPI document (both ways). Add a line there
//! with each new route.
//!
//! What each tenant route needs of an API key (its scope) is declared in
//! `crate::http::tenant_routes`, one line per route; a test below keeps both lists in step.
//!
//! Pages for people (the console at `/console`, `routes::console`) are not API operations:
//! they are merged here but listed neither in `ROUTES` nor in the OpenAPI document.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::app::state::AppState;
use crate::errors::AppError;
use crate::http::layers::{admin_layer, tenant_layer};
use crate::http::routes::{
    admin, chat, conversations, documents, health, openai, search, session, tenant, usage,
};

/// Every route of the router, as (method, path) with OpenAPI-style `{param}` segments.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/auth/token"),
    ("GET", "/auth/me"),
    ("GET", "/tenant"),
    ("POST", "/search"),
    ("GET", "/documents"),
    ("POST", "/documents"),
    ("DELETE", "/documents/{id}"),
    ("POST", "/chat"),
    ("GET", "/conversations"),
    ("POST", "/conversations"),
    ("GET", "/conversations/{id}"),
    ("DELETE", "/conversations/{id}"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
    ("GET", "/usage"),
    ("GET", "/admin/tenants"),
    ("POST", "/admin/tenants"),
    ("GET", "/admin/tenants/{id}"),
    ("PUT", "/admin/tenants/{id}"),
    ("PATCH", "/admin/tenants/{id}"),
    ("DELETE", "/admin/tenants/{id}"),
    ("GET", "/admin/tenants/{id}/api-keys"),
    ("POST", "/admin/tenants/{id}/api-keys"),
    ("DELETE", "/admin/tenants/{id}/api-keys/{key_id}"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/{id}"),
    ("PUT", "/admin/users/{id}"),
    ("PATCH", "/admin/users/{id}"),
    ("DELETE", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/impersonate"),
    ("GET", "/admin/orgs"),
    ("POST", "/admin/orgs"),
    ("GET", "/admin/orgs/{id}"),
    ("PUT", "/admin/orgs/{id}"),
    ("PATCH", "/admin/orgs/{id}"),
    ("DELETE", "/admin/orgs/{id}"),
    ("GET", "/admin/orgs/{id}/tenants"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/tenants/{id}/usage"),
    ("GET", "/admin/usage"),
];

pub fn build(state: AppState) -> Router {
    let public = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(crate::http::openapi::serve))
        .route("/auth/token", post(session::token))
        .route("/auth/me", get(session::me));

    // Tenant routes: the tenant layer resolves the caller's tenant before any handler runs.
    let tenant_routes = Router::new()
        .route("/tenant", get(tenant::show))
        .route("/search", post(search::search))
        .route("/documents", get(documents::list).post(documents::create))
        // A wildcard, so ids with slashes (file paths from `tenantgate ingest`) need no escaping.
        .route("/documents/{*id}", delete(documents::delete))
        .route("/chat", post(chat::chat))
        .route(
            "/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/conversations/{id}",
            get(conversations::show).delete(conversations::delete),
        )
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{model}", get(openai::get_model))
        .route("/usage", get(usage::show))
        .route_layer(from_fn_with_state(state.clone(), tenant_layer));

    // Admin routes: an active administrator's token (superuser, org admin, tenant admin),
    // checked before any handler runs; each handler asks `crate::identity::authz` what the role may do.
    let admin_routes = Router::new()
        .route(
            "/admin/tenants",
            get(admin::tenants::list).post(admin::tenants::create),
        )
        .route(
            "/admin/tenants/{id}",
            get(admin::tenants::show)
                .put(admin::tenants::update)
                .patch(admin::tenants::update)
                .delete(admin::tenants::deactivate),
        )
        .route(
            "/admin/tenants/{id}/api-keys",
            get(admin::api_keys::list).post(admin::api_keys::create),
        )
        .route(
            "/admin/tenants/{id}/api-keys/{key_id}",
            delete(admin::api_keys::revoke),
        )
        .route(
            "/admin/users",
            get(admin::users::list).post(admin::users::create),
        )
        .route(
            "/admin/users/{id}",
            get(admin::users::show)
                .put(admin::users::update)
                .patch(admin::users::update)
                .delete(admin::users::deactivate),
        )
        .route(
            "/admin/users/{id}/impersonate",
            post(admin::users::impersonate),
        )
        .route(
            "/admin/orgs",
            get(admin::orgs::list).post(admin::orgs::create),
        )
        .route(
            "/admin/orgs/{id}",
            get(admin::orgs::show)
                .put(admin::orgs::update)
                .patch(admin::orgs::update)
                .delete(admin::orgs::deactivate),
        )
        .route("/admin/orgs/{id}/tenants", get(admin::orgs::tenants))
        .route("/admin/audit", get(admin::audit::list))
        .route("/admin/tenants/{id}/usage", get(admin::usage::show))
        .route("/admin/usage", get(admin::usage::list))
        .route_layer(from_fn_with_state(state.clone(), admin_layer));

    let mut router = Router::new()
        .merge(public)
        .merge(tenant_routes)
        .merge(admin_routes)
        .merge(crate::http::routes::console::docs_router());
    if state.config.console_enabled {
        router = router.merge(crate::http::routes::console::router());
    }
    let router = router
        .fallback(|| async { AppError::not_found("route") })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state.clone());
    let app = crate::http::middleware::apply(router, &state.config);
    // Every route answers the same with and without a trailing slash (`/admin/tenants/`, as
    // the Python original's walkthrough writes it): the path is trimmed before routing, so
    // routes added later need nothing of their own. A layer on a `Router` runs after routing,
    // hence the outer router whose only job is to hand every request to the trimmed one.
    Router::new().fallback_service(NormalizePathLayer::trim_trailing_slash().layer(app))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ROUTES;
    use crate::http::tenant_routes::TENANT_ROUTES;

    /// Every tenant route declares what an API key needs (`http::tenant_routes`), and the
    /// table names no route the router does not serve.
    #[test]
    fn every_tenant_route_declares_its_scope() {
        let public = ["/health", "/ready", "/metrics", "/openapi.json", "/auth/"];
        let tenant_routes: BTreeSet<(&str, String)> = ROUTES
            .iter()
            .filter(|(_, p)| !p.starts_with("/admin/") && !public.iter().any(|q| p.starts_with(q)))
            .map(|(m, p)| (*m, (*p).to_owned()))
            .collect();
        // The table holds router templates (`{*id}`), `ROUTES` OpenAPI ones (`{id}`).
        let declared: BTreeSet<(&str, String)> = TENANT_ROUTES
            .iter()
            .map(|r| (r.method, r.path.replace("{*", "{")))
            .collect();
        assert_eq!(tenant_routes, declared);
    }
}
