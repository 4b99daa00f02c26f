//! `GET /tenant`: the caller's tenant, straight from the tenant context (no database read).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::errors::AppResult;
use crate::http::extractors::CurrentTenant;
pub use crate::store::models::tenant::TenantInfo;

#[utoipa::path(get, path = "/tenant", tag = "tenant", security(("bearer" = []), ("api_key" = [])), responses(
    (status = 200, body = TenantInfo),
    (status = 401, body = crate::http::error::ErrorBody),
    (status = 403, description = "no_tenant or tenant_unavailable", body = crate::http::error::ErrorBody),
))]
pub async fn show(CurrentTenant(tenant): CurrentTenant) -> AppResult<Response> {
    // Serialised on the context's first `GET /tenant`: later requests copy a counted buffer.
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        tenant.info_json()?,
    )
        .into_response())
}
