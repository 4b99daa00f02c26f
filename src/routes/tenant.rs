//! `GET /tenant`: the caller's tenant, straight from the tenant context (no database read).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::extractors::Tenant;
pub use crate::models::tenant::TenantInfo;

#[utoipa::path(get, path = "/tenant", tag = "tenant", security(("bearer" = []), ("api_key" = [])), responses(
    (status = 200, body = TenantInfo),
    (status = 401, body = crate::errors::ErrorBody),
    (status = 403, description = "no_tenant or tenant_unavailable", body = crate::errors::ErrorBody),
))]
pub async fn show(Tenant(tenant): Tenant) -> Response {
    // Serialised once when the context was built: a request copies a reference-counted buffer.
    (
        [(header::CONTENT_TYPE, "application/json")],
        tenant.info_json.clone(),
    )
        .into_response()
}
