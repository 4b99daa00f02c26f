//! Every route in one place: which are public, which need a tenant, which need an administrator.
//!
//! `api()` declares every API route once: the router and the OpenAPI document are both made
//! from it (`utoipa_axum`), and `ROUTES` (every (method, path), for tests) is read from that
//! document. The integration test `openapi::` checks that every listed route answers and no
//! other method does, and that every handler annotated with `#[utoipa::path]` is declared.
//!
//! What each tenant route needs of an API key (its scope) is declared in
//! `crate::http::tenant_routes`, one line per route; a test below keeps it in step with the
//! tenant group of `api()`.
//!
//! Pages for people (the console at `/console`, `routes::console`) are not API operations:
//! they are merged here but listed neither in `ROUTES` nor in the OpenAPI document.

use std::sync::{Arc, LazyLock};

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;
use crate::errors::AppError;
use crate::http::layers::{admin_layer, tenant_layer};
use crate::http::routes::{
    admin, chat, conversations, documents, health, openai, search, session, tenant, usage,
};

/// The API's routes, in the three groups the layers guard.
struct Api {
    public: OpenApiRouter<AppState>,
    /// The tenant layer resolves the caller's tenant before any handler runs; what each route
    /// asks of an API key is in `crate::http::tenant_routes` (a test below keeps both in step).
    tenant: OpenApiRouter<AppState>,
    /// An active administrator's token (superuser, org admin, tenant admin), checked before any
    /// handler runs; each handler asks `crate::identity::authz` what the role may do.
    admin: OpenApiRouter<AppState>,
}

/// THE declaration of every API route: a handler's `#[utoipa::path]` gives its method and
/// path, `routes!` registers it with the router and the OpenAPI document at once (handlers
/// sharing a path go in one `routes!`). Adding a route is one line in its group's function.
fn api() -> Api {
    Api {
        public: public_api(),
        tenant: tenant_api(),
        admin: admin_api(),
    }
}

fn public_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(crate::http::openapi::serve))
        .routes(routes!(session::token))
        .routes(routes!(session::me))
}

fn tenant_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant::show))
        .routes(routes!(search::search))
        .routes(routes!(documents::list, documents::create))
        // A wildcard (`/documents/{*id}`), so ids with slashes (file paths from
        // `tenantgate ingest`) need no escaping; the document says `{id}`.
        .routes(routes!(documents::delete))
        .routes(routes!(chat::chat))
        .routes(routes!(conversations::list, conversations::create))
        .routes(routes!(conversations::show, conversations::delete))
        .routes(routes!(openai::chat_completions))
        .routes(routes!(openai::list_models))
        .routes(routes!(openai::get_model))
        .routes(routes!(usage::show))
}

fn admin_api() -> OpenApiRouter<AppState> {
    use admin::{api_keys, audit, orgs, tenants, users};
    OpenApiRouter::new()
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::show, tenants::update, tenants::deactivate))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::deactivate))
        .routes(routes!(users::impersonate))
        .routes(routes!(orgs::list, orgs::create))
        .routes(routes!(orgs::show, orgs::update, orgs::deactivate))
        .routes(routes!(orgs::tenants))
        .routes(routes!(audit::list))
        .routes(routes!(admin::usage::show))
        .routes(routes!(admin::usage::list))
}

/// The OpenAPI document of `api()`, as `GET /openapi.json` serves it.
pub fn document() -> OpenApi {
    let Api {
        public,
        tenant,
        admin,
    } = api();
    crate::http::openapi::document(
        public.into_openapi(),
        tenant.into_openapi(),
        admin.into_openapi(),
    )
}

/// Every route of the router, as (method, path) with OpenAPI-style `{param}` segments, read
/// from the document (so from `api()`).
pub static ROUTES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    static DOCUMENT: LazyLock<OpenApi> = LazyLock::new(document);
    DOCUMENT
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            crate::http::openapi::operations(item).map(move |(method, _)| (method, path.as_str()))
        })
        .collect()
});

pub fn build(state: AppState) -> Router {
    let Api {
        public,
        tenant,
        admin,
    } = api();
    let (public, public_doc) = public.split_for_parts();
    let (tenant, tenant_doc) = tenant.split_for_parts();
    let (admin, admin_doc) = admin.split_for_parts();
    let document = crate::http::openapi::document(public_doc, tenant_doc, admin_doc);
    // Only the public group carries the document (for `GET /openapi.json`).
    let public = public.layer(Extension(Arc::new(document)));
    let tenant = tenant.route_layer(from_fn_with_state(state.clone(), tenant_layer));
    let admin = admin.route_layer(from_fn_with_state(state.clone(), admin_layer));

    let mut router = Router::new()
        .merge(public)
        .merge(tenant)
        .merge(admin)
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

    use crate::http::tenant_routes::TENANT_ROUTES;

    /// Every tenant route declares what an API key needs (`http::tenant_routes`), and the
    /// table names no route the tenant group does not serve.
    #[test]
    fn every_tenant_route_declares_its_scope() {
        let served: BTreeSet<(&str, String)> = super::api()
            .tenant
            .get_openapi()
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                crate::http::openapi::operations(item).map(|(method, _)| (method, path.clone()))
            })
            .collect();
        // Both hold router templates (`{*id}`).
        let declared: BTreeSet<(&str, String)> = TENANT_ROUTES
            .iter()
            .map(|r| (r.method, r.path.to_owned()))
            .collect();
        assert_eq!(served, declared);
    }

    /// The routes metrics measure apart are routes of the router.
    #[test]
    fn overhead_routes_are_routes() {
        for route in ["/chat", "/v1/chat/completions"] {
            assert!(crate::metrics::overhead_route(route).is_some(), "{route}");
            assert!(super::ROUTES.iter().any(|(_, p)| *p == route), "{route}");
        }
    }
}
