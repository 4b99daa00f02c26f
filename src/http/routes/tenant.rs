//! `GET /tenant`: the caller's tenant, straight from the tenant context (no database read).

use axum::Json;
use axum::response::{IntoResponse, Response};

use crate::http::extractors::CurrentTenant;
pub use crate::store::models::tenant::TenantInfo;

#[utoipa::path(get, path = "/tenant", tag = "tenant", security(("bearer" = []), ("api_key" = [])), responses(
    (status = 200, body = TenantInfo),
    (status = 401, body = crate::http::error::ErrorBody),
    (status = 403, description = "no_tenant or tenant_unavailable", body = crate::http::error::ErrorBody),
))]
pub async fn show(CurrentTenant(tenant): CurrentTenant) -> Response {
    Json(tenant.info()).into_response()
}
