//! `GET /admin/tenants/{id}/usage` (one tenant per day and model) and `GET /admin/usage`
//! (every tenant's totals). Superusers see every tenant (roles come with organizations).

use axum::Json;
use axum::extract::{Path, State};

use crate::errors::{AppResult, ErrorBody};
use crate::routes::ValidQuery;
use crate::services::usage::{self as service, TenantUsage, UsageQuery, UsageReport};
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/tenants/{id}/usage", operation_id = "get_tenant_usage", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id"), UsageQuery),
    responses(
        (status = 200, body = UsageReport),
        (status = 404, description = "no such tenant", body = ErrorBody),
        (status = 422, description = "a bad date or range", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<UsageQuery>,
) -> AppResult<Json<UsageReport>> {
    let range = query.range()?;
    state.usage.flush().await;
    let mut conn = state.pool.get().await?;
    Ok(Json(service::report(&mut conn, &id, range).await?))
}

#[utoipa::path(get, path = "/admin/usage", operation_id = "list_usage", tag = "admin", security(("bearer" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "every tenant's totals, by tenant id", body = Vec<TenantUsage>),
        (status = 422, description = "a bad date or range", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<UsageQuery>,
) -> AppResult<Json<Vec<TenantUsage>>> {
    let range = query.range()?;
    state.usage.flush().await;
    let mut conn = state.pool.get().await?;
    Ok(Json(service::all(&mut conn, range).await?))
}
