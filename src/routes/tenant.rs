//! `GET /tenant`: the caller's tenant, straight from the tenant context (no database read).

use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::extractors::Tenant;
use crate::models::tenant::RetrieverKind;

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    pub system_prompt: Option<String>,
    pub retriever: RetrieverKind,
}

#[utoipa::path(get, path = "/tenant", tag = "tenant", security(("bearer" = []), ("api_key" = [])), responses(
    (status = 200, body = TenantInfo),
    (status = 401, body = crate::errors::ErrorBody),
    (status = 403, description = "no_tenant or tenant_unavailable", body = crate::errors::ErrorBody),
))]
pub async fn show(Tenant(tenant): Tenant) -> Json<TenantInfo> {
    Json(TenantInfo {
        id: tenant.id.to_string(),
        name: tenant.name.clone(),
        system_prompt: tenant.system_prompt.clone(),
        retriever: tenant.settings.retriever,
    })
}
