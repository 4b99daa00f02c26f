//! `/admin/tenants`: create, list, read, update (`PUT`/`PATCH`), deactivate (`DELETE`).
//! Each change takes effect at once on this replica (the cache is told directly) and on the
//! others through the database's NOTIFY.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::actor;
use crate::auth::extractors::Superuser;
use crate::errors::AppResult;
use crate::models::tenant::{Tenant, TenantView};
use crate::routes::{ValidJson, ValidQuery, page};
use crate::services::tenants::{self as service, CreateTenant, UpdateTenant};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include inactive tenants (default true: all tenants).
    pub include_inactive: Option<bool>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

async fn announce(state: &AppState, tenant: &Tenant) {
    state.tenants.announce(&tenant.id, tenant.version).await;
}

#[utoipa::path(post, path = "/admin/tenants", operation_id = "create_tenant", tag = "admin", security(("bearer" = [])),
    request_body = CreateTenant,
    responses(
        (status = 201, body = TenantView),
        (status = 409, description = "conflict: duplicate id", body = crate::errors::ErrorBody),
        (status = 422, description = "validation_error", body = crate::errors::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    headers: HeaderMap,
    ValidJson(input): ValidJson<CreateTenant>,
) -> AppResult<(StatusCode, Json<TenantView>)> {
    let mut conn = state.pool.get().await?;
    let tenant = service::create(
        &mut conn,
        &state.config.keys,
        &actor(admin, &headers),
        input,
    )
    .await?;
    announce(&state, &tenant).await;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

#[utoipa::path(get, path = "/admin/tenants", operation_id = "list_tenants", tag = "admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<TenantView>)))]
pub async fn list(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> AppResult<Json<Vec<TenantView>>> {
    let (limit, offset) = page(query.limit, query.offset)?;
    let mut conn = state.pool.get().await?;
    let tenants = service::list(
        &mut conn,
        query.include_inactive.unwrap_or(true),
        limit,
        offset,
    )
    .await?;
    Ok(Json(tenants.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/admin/tenants/{id}", operation_id = "get_tenant", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = TenantView), (status = 404, body = crate::errors::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<TenantView>> {
    let mut conn = state.pool.get().await?;
    Ok(Json(service::get(&mut conn, &id).await?.into()))
}

/// `PUT` and `PATCH` alike: fields present are changed, absent ones kept, `null` clears.
#[utoipa::path(method(put, patch), path = "/admin/tenants/{id}", operation_id = "update_tenant", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    request_body = UpdateTenant,
    responses(
        (status = 200, body = TenantView),
        (status = 404, body = crate::errors::ErrorBody),
        (status = 422, body = crate::errors::ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<UpdateTenant>,
) -> AppResult<Json<TenantView>> {
    let mut conn = state.pool.get().await?;
    let tenant = service::update(
        &mut conn,
        &state.config.keys,
        &actor(admin, &headers),
        &id,
        input,
    )
    .await?;
    announce(&state, &tenant).await;
    Ok(Json(tenant.into()))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}", operation_id = "deactivate_tenant", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, description = "deactivated (idempotent)", body = TenantView), (status = 404, body = crate::errors::ErrorBody)))]
pub async fn deactivate(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<Json<TenantView>> {
    let mut conn = state.pool.get().await?;
    let tenant = service::set_active(&mut conn, &actor(admin, &headers), &id, false).await?;
    announce(&state, &tenant).await;
    Ok(Json(tenant.into()))
}
