//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations and
//! the router's declaration of every route (`crate::http::router`).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};

use crate::http::routes::chat;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "tenantgate", description = "Multi-tenant gateway for retrieval-augmented chatbot backends."),
    components(schemas(
        crate::http::error::ErrorBody,
        crate::errors::FieldError,
        chat::SourcesEvent,
        chat::DeltaEvent,
        chat::DoneEvent,
        crate::rag::retrieval::Passage,
        crate::store::models::conversation::MessageView,
        crate::rag::retrieval::DocumentSummary,
        crate::services::documents::NewDocument,
    )),
    tags(
        (name = "admin", description = "Administrators (superusers, org admins, tenant admins; see docs/admin.md for who may do what): organizations, tenants, users, tenant API keys, audit log."),
    ),
)]
pub struct ApiDoc;

/// The document: `ApiDoc` (info, shared schemas, tags) with the paths of the router's groups
/// (`crate::http::router`, where every route is declared), then what every operation shares.
/// A chat message's role is the schema `MessageRole`, a user's `Role`: under one name the
/// first merged would win and users' roles would read `user | assistant | system`.
pub fn document(public: OpenApi, tenant: OpenApi, admin: OpenApi) -> OpenApi {
    let mut openapi = ApiDoc::openapi();
    for part in [tenant, public, admin] {
        openapi.merge(part);
    }
    // A catch-all segment (`/documents/{*id}`, the router's template) is `{id}` in OpenAPI.
    openapi.paths.paths = std::mem::take(&mut openapi.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    let modifiers: [&dyn Modify; 4] = [
        &SecuritySchemes,
        &AdminErrors,
        &UniqueOperationIds,
        &ResponseDescriptions,
    ];
    for modifier in modifiers {
        modifier.modify(&mut openapi);
    }
    openapi
}

/// The operations of a path, with their methods in capitals (`GET`).
pub fn operations(item: &PathItem) -> impl Iterator<Item = (&'static str, &Operation)> {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("OPTIONS", &item.options),
        ("HEAD", &item.head),
        ("PATCH", &item.patch),
        ("TRACE", &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|o| (method, o)))
}

/// [`operations`], to change them.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// Every admin operation can answer 401 and 403 (the admin layer); they are added here once
/// rather than repeated in each handler's annotation.
struct AdminErrors;

impl Modify for AdminErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/admin/") {
                continue;
            }
            for (_, operation) in operations_mut(item) {
                let responses = &mut operation.responses.responses;
                responses.entry("401".to_owned()).or_insert_with(|| {
                    error("missing_token, invalid_token, token_expired or invalid_api_key").into()
                });
                responses.entry("403".to_owned()).or_insert_with(|| {
                    error("forbidden: not an active administrator, or a role that may not use this route (docs/admin.md)")
                        .into()
                });
            }
        }
    }
}

/// One handler may serve several methods (`method(put, patch)`), and utoipa then gives each
/// operation the handler's name; OpenAPI wants operation ids unique, so every repeat gets its
/// method appended (`update_user` for `PUT`, `update_user_patch` for `PATCH`).
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut seen = std::collections::HashSet::new();
        for item in openapi.paths.paths.values_mut() {
            for (method, operation) in operations_mut(item) {
                let method = method.to_lowercase();
                let Some(id) = operation.operation_id.clone() else {
                    continue;
                };
                if seen.insert(id.clone()) {
                    continue;
                }
                let mut unique = format!("{id}_{method}");
                let mut n = 2;
                while !seen.insert(unique.clone()) {
                    unique = format!("{id}_{method}_{n}");
                    n += 1;
                }
                operation.operation_id = Some(unique);
            }
        }
    }
}

/// OpenAPI requires a `description` on every response; utoipa leaves it out when the
/// annotation gives none. Such responses get the status's reason phrase ("Not Found").
struct ResponseDescriptions;

impl Modify for ResponseDescriptions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            for (_, operation) in operations_mut(item) {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                            .and_then(|code| code.canonical_reason())
                            .unwrap_or("Response")
                            .to_owned();
                    }
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "probes",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn serve(Extension(document): Extension<Arc<OpenApi>>) -> Response {
    Json(&*document).into_response()
}
