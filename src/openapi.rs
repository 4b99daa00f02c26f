//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{documents, health, search, session, tenant};

#[derive(OpenApi)]
#[openapi(
    info(title = "tenantgate", description = "Multi-tenant gateway for retrieval-augmented chatbot backends."),
    paths(
        health::health,
        health::ready,
        health::metrics,
        session::token,
        session::me,
        tenant::show,
        search::search,
        documents::create,
        documents::list,
        documents::delete,
    ),
    components(schemas(
        crate::errors::ErrorBody,
        crate::errors::FieldError,
        crate::retrieval::Passage,
        crate::retrieval::DocumentSummary,
        crate::services::documents::NewDocument,
    )),
    modifiers(&SecuritySchemes),
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

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
