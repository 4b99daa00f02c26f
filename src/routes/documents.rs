//! `POST /documents`, `GET /documents`, `DELETE /documents/{id}`: the tenant's documents.
//!
//! Reading is open to any caller of the tenant; writing needs the tenant's API key or a
//! superuser's token (a frontend user's token may search and chat, not change the corpus).
//! Ids are scoped to the tenant: the retriever only ever sees the request's tenant's rows, so
//! another tenant's document answers 404 exactly like a missing one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::extractors::{CallerOf, Tenant};
use crate::auth::require_writer;
use crate::errors::{AppError, AppResult};
use crate::retrieval::DocumentSummary;
use crate::routes::{ValidJson, ValidQuery};
use crate::services::documents::{self as service, IngestOutcome, IngestRequest};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentList {
    pub documents: Vec<DocumentSummary>,
}

#[utoipa::path(post, path = "/documents", tag = "documents", security(("bearer" = []), ("api_key" = [])),
    request_body = IngestRequest,
    responses(
        (status = 201, body = IngestOutcome),
        (status = 403, description = "forbidden: not the tenant's API key nor a superuser", body = crate::errors::ErrorBody),
        (status = 413, description = "payload_too_large", body = crate::errors::ErrorBody),
        (status = 422, description = "validation_error", body = crate::errors::ErrorBody),
        (status = 502, description = "upstream_error (embeddings or vector store)", body = crate::errors::ErrorBody),
        (status = 504, description = "upstream_timeout", body = crate::errors::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    CallerOf(caller): CallerOf,
    ValidJson(input): ValidJson<IngestRequest>,
) -> AppResult<(StatusCode, Json<IngestOutcome>)> {
    require_writer(&state, &caller).await?;
    let outcome = service::ingest(tenant.retriever.as_ref(), input.documents).await?;
    tracing::info!(
        tenant_id = %tenant.id,
        documents = outcome.ids.len(),
        chunks = outcome.chunks,
        "documents stored"
    );
    Ok((StatusCode::CREATED, Json(outcome)))
}

#[utoipa::path(get, path = "/documents", tag = "documents", security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses((status = 200, body = DocumentList)))]
pub async fn list(
    Tenant(tenant): Tenant,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> AppResult<Json<DocumentList>> {
    let (limit, offset) = crate::routes::page(query.limit, query.offset)?;
    let documents = tenant.retriever.list(limit, offset).await?;
    Ok(Json(DocumentList { documents }))
}

#[utoipa::path(delete, path = "/documents/{id}", tag = "documents", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "the document id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "forbidden", body = crate::errors::ErrorBody),
        (status = 404, description = "not_found (also for another tenant's document)", body = crate::errors::ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    CallerOf(caller): CallerOf,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    require_writer(&state, &caller).await?;
    if tenant.retriever.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("document"))
    }
}
