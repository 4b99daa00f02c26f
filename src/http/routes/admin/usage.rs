//! `GET /admin/tenants/{id}/usage` (one tenant per day and model) and `GET /admin/usage`
//! (every tenant's totals), limited to the tenants the caller administers (`authz`).

use axum::Json;
use axum::extract::{Path, State};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::app::state::AppState;
use crate::errors::AppResult;
use crate::http::error::ErrorBody;
use crate::http::extractors::Admin;
use crate::http::routes::ValidQuery;
use crate::http::routes::params::TenantPath;
use crate::identity::authz::{self, Action};
use crate::services::usage::{self as service, TenantUsage, UsageQuery, UsageReport};
use crate::store::schema::tenants;

#[utoipa::path(get, path = "/admin/tenants/{id}/usage", operation_id = "get_tenant_usage", tag = "admin", security(("bearer" = [])),
    params(TenantPath, UsageQuery),
    responses(
        (status = 200, body = UsageReport),
        (status = 404, description = "no such tenant", body = ErrorBody),
        (status = 422, description = "a bad date or range", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(TenantPath { id }): Path<TenantPath>,
    ValidQuery(query): ValidQuery<UsageQuery>,
) -> AppResult<Json<UsageReport>> {
    let scope = authz::authorize(&admin, Action::UsageRead)?;
    let range = query.range()?;
    let mut conn = state.pool.get().await?;
    scope.require_tenant(&mut conn, &id).await?;
    state.usage.flush().await;
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
    Admin(admin): Admin,
    ValidQuery(query): ValidQuery<UsageQuery>,
) -> AppResult<Json<Vec<TenantUsage>>> {
    let scope = authz::authorize(&admin, Action::UsageRead)?;
    let range = query.range()?;
    state.usage.flush().await;
    let mut conn = state.pool.get().await?;
    let orgs: std::collections::HashMap<String, Option<String>> = tenants::table
        .select((tenants::id, tenants::org_id))
        .load(&mut conn)
        .await?
        .into_iter()
        .collect();
    let mut all = service::all(&mut conn, range).await?;
    all.retain(|usage| {
        orgs.get(&usage.tenant_id)
            .is_some_and(|org| scope.covers_tenant(&usage.tenant_id, org.as_deref()))
    });
    Ok(Json(all))
}
