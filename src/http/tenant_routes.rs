//! What each tenant route asks of its caller, declared once: the API key scope it needs
//! (DESIGN §10) and, for routes that write, the audit action recorded when the caller holds an
//! impersonation token. The tenant layer looks the request's route up here; handlers declare
//! nothing of their own.
//!
//! Paths are the router's templates (`crate::http::router`, so `/documents/{*id}`). A unit test in
//! `crate::http::router` checks that every route of the tenant group it declares is listed here and
//! nothing else is; a route missing from the table refuses every API key (fail closed).
//!
//! Not here: admin routes (`crate::identity::authz`), the router itself.

use axum::http::Method;

use crate::identity::scopes::ApiScope;

/// One tenant route's needs.
pub struct TenantRoute {
    pub method: &'static str,
    /// The router's template (`MatchedPath`).
    pub path: &'static str,
    /// The scope an API key needs; `None`: any valid key of the tenant (`GET /tenant` shows
    /// only the tenant's own descriptor).
    pub scope: Option<ApiScope>,
    /// The audit action of a write made with an impersonation token; `None`: not a write.
    pub audited_write: Option<&'static str>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    scope: Option<ApiScope>,
    audited_write: Option<&'static str>,
) -> TenantRoute {
    TenantRoute {
        method,
        path,
        scope,
        audited_write,
    }
}

use ApiScope::{Chat, DocumentsRead, DocumentsWrite, Search, UsageRead};

/// THE TABLE of tenant routes (docs/admin.md lists it for people).
#[rustfmt::skip]
pub const TENANT_ROUTES: &[TenantRoute] = &[
    route("GET", "/tenant", None, None),
    route("POST", "/search", Some(Search), None),
    route("GET", "/documents", Some(DocumentsRead), None),
    route("POST", "/documents", Some(DocumentsWrite), Some("document.create")),
    route("DELETE", "/documents/{*id}", Some(DocumentsWrite), Some("document.delete")),
    // A chat turn may be stored in a conversation (`conversation_id`): a write.
    route("POST", "/chat", Some(Chat), Some("conversation.turn")),
    route("GET", "/conversations", Some(Chat), None),
    route("POST", "/conversations", Some(Chat), Some("conversation.create")),
    route("GET", "/conversations/{id}", Some(Chat), None),
    route("DELETE", "/conversations/{id}", Some(Chat), Some("conversation.delete")),
    route("POST", "/v1/chat/completions", Some(Chat), None),
    route("GET", "/v1/models", Some(Chat), None),
    route("GET", "/v1/models/{model}", Some(Chat), None),
    route("GET", "/usage", Some(UsageRead), None),
];

/// The entry of a request's route. `HEAD` is answered by `GET` routes, so it is looked up as
/// one.
pub fn lookup(method: &Method, template: &str) -> Option<&'static TenantRoute> {
    let method = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    TENANT_ROUTES
        .iter()
        .find(|r| r.path == template && r.method == method)
}

/// Whether `template` is a tenant route with some method (a request with another method is
/// answered 405 by the router, whoever sends it).
pub fn has_path(template: &str) -> bool {
    TENANT_ROUTES.iter().any(|r| r.path == template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_is_needed_by_some_route_and_head_reads_as_get() {
        for scope in ApiScope::ALL {
            assert!(
                TENANT_ROUTES.iter().any(|r| r.scope == Some(scope)),
                "{scope:?}"
            );
        }
        assert!(lookup(&Method::HEAD, "/documents").is_some());
        assert!(lookup(&Method::PUT, "/documents").is_none());
        // Writes need `documents:write`, reads do not.
        assert_eq!(
            lookup(&Method::POST, "/documents").and_then(|r| r.scope),
            Some(ApiScope::DocumentsWrite)
        );
    }
}
