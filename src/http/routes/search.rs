//! `POST /search`: the passages of the caller's tenant most relevant to a query.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::errors::{AppError, AppResult, FieldError};
use crate::http::extractors::{CurrentTenant, TenantRetriever};
use crate::http::routes::{ValidJson, params};
use crate::rag::prompt::{DEFAULT_TOP_K, MAX_QUERY_CHARS};
use crate::rag::retrieval::Passage;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    pub query: String,
    /// 1 to 50; default 5.
    pub top_k: Option<i64>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResponse {
    pub matches: Vec<Passage>,
}

/// The query and `top_k` of a request, checked; shared with anything else that searches.
pub fn validate(query: &str, top_k: Option<i64>) -> AppResult<(String, usize)> {
    let mut errors = Vec::new();
    let query = query.trim();
    if query.is_empty() {
        errors.push(FieldError::new("query", "must not be empty"));
    } else if query.chars().count() > MAX_QUERY_CHARS {
        errors.push(FieldError::new(
            "query",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let top_k = params::top_k(top_k).unwrap_or_else(|error| {
        errors.push(error);
        DEFAULT_TOP_K
    });
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok((query.to_owned(), top_k))
}

#[utoipa::path(post, path = "/search", tag = "retrieval", security(("bearer" = []), ("api_key" = [])),
    request_body = SearchRequest,
    responses(
        (status = 200, body = SearchResponse),
        (status = 422, description = "validation_error: empty query, top_k outside 1..=50", body = crate::http::error::ErrorBody),
        (status = 502, description = "upstream_error (embeddings or vector store)", body = crate::http::error::ErrorBody),
        (status = 504, description = "upstream_timeout", body = crate::http::error::ErrorBody),
    ))]
pub async fn search(
    State(state): State<crate::app::state::AppState>,
    CurrentTenant(tenant): CurrentTenant,
    TenantRetriever(retriever): TenantRetriever,
    ValidJson(input): ValidJson<SearchRequest>,
) -> AppResult<Json<SearchResponse>> {
    let (query, top_k) = validate(&input.query, input.top_k)?;
    let matches = retriever.search(&query, top_k).await?;
    state.usage.retrieval(tenant.id.as_str());
    Ok(Json(SearchResponse { matches }))
}
