//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::routes::admin::{api_keys, audit, orgs, tenants, usage as admin_usage, users};
use crate::http::routes::{
    chat, conversations, documents, health, openai, search, session, tenant, usage,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "tenantgate", description = "Multi-tenant gateway for retrieval-augmented chatbot backends."),
    paths(
        health::health,
        health::ready,
        health::metrics,
        serve,
        session::token,
        session::me,
        tenant::show,
        tenants::create,
        tenants::list,
        tenants::show,
        tenants::update,
        tenants::deactivate,
        api_keys::create,
        api_keys::list,
        api_keys::revoke,
        users::create,
        users::list,
        users::show,
        users::update,
        users::deactivate,
        users::impersonate,
        orgs::create,
        orgs::list,
        orgs::show,
        orgs::update,
        orgs::deactivate,
        orgs::tenants,
        audit::list,
        admin_usage::show,
        admin_usage::list,
        usage::show,
        search::search,
        documents::create,
        documents::list,
        documents::delete,
        chat::chat,
        conversations::create,
        conversations::list,
        conversations::show,
        conversations::delete,
        openai::chat_completions,
        openai::list_models,
        openai::get_model,
    ),
    components(schemas(
        crate::errors::ErrorBody,
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
    modifiers(&SecuritySchemes, &AdminErrors, &UniqueOperationIds, &ResponseDescriptions),
)]
pub struct ApiDoc;

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
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
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
            for (method, operation) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
                ("trace", &mut item.trace),
            ] {
                let Some(operation) = operation else { continue };
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
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
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
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
