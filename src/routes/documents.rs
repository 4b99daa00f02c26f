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
use uuid::Uuid;

use crate::auth::extractors::{CallerOf, Tenant};
use crate::auth::layers::Caller;
use crate::errors::{AppError, AppResult};
use crate::retrieval::DocumentSummary;
use crate::routes::{ValidJson, ValidQuery};
use crate::services::documents::{self as service, IngestOutcome, IngestRequest};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentList {
    pub documents: Vec<DocumentSummary>,
}

/// Writers: the tenant's API key, or a token whose `sub` is an active superuser.
async fn require_writer(state: &AppState, caller: &Caller) -> AppResult<()> {
    const DENIED: AppError =
        AppError::Forbidden("changing documents needs the tenant's API key or a superuser");
    match caller {
        Caller::ApiKey(_) => Ok(()),
        Caller::User(token) => {
            let Some(id) = token.sub.as_deref().and_then(|s| Uuid::parse_str(s).ok()) else {
                return Err(DENIED);
            };
            if state.superusers.is_active_superuser(id).await? {
                Ok(())
            } else {
                Err(DENIED)
            }
        }
    }
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
    let limit = query.limit.unwrap_or(100);
    let offset = query.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 1000"));
    }
    if offset < 0 {
        return Err(AppError::validation("offset", "must not be negative"));
    }
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
