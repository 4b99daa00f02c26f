//! `/admin/tenants`: create, list, read, update (`PUT`/`PATCH`), deactivate (`DELETE`).
//! Each change takes effect at once on this replica (the cache is told directly) and on the
//! others through the database's NOTIFY.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::actor;
use crate::auth::extractors::Superuser;
use crate::errors::{AppError, AppResult};
use crate::models::tenant::{Tenant, TenantView};
use crate::routes::{ValidJson, ValidQuery};
use crate::services::tenants::{self as service, CreateTenant, UpdateTenant};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Include inactive tenants (default true: all tenants).
    pub include_inactive: Option<bool>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> AppResult<(i64, i64)> {
    let limit = limit.unwrap_or(100);
    let offset = offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 1000"));
    }
    if offset < 0 {
        return Err(AppError::validation("offset", "must not be negative"));
    }
    Ok((limit, offset))
}

async fn announce(state: &AppState, tenant: &Tenant) {
    state.tenants.announce(&tenant.id, tenant.version).await;
}

#[utoipa::path(post, path = "/admin/tenants", tag = "admin", security(("bearer" = [])),
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

#[utoipa::path(get, path = "/admin/tenants", tag = "admin", security(("bearer" = [])), params(ListQuery),
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

#[utoipa::path(get, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = TenantView), (status = 404, body = crate::errors::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<TenantView>> {
    let mut conn = state.pool.get().await?;
    Ok(Json(service::get(&mut conn, &id).await?.into()))
}

#[utoipa::path(put, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
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

/// `PATCH` behaves as `PUT`: fields present are changed, absent ones kept.
#[utoipa::path(patch, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    request_body = UpdateTenant,
    responses((status = 200, body = TenantView), (status = 404, body = crate::errors::ErrorBody)))]
pub async fn patch() {}

#[utoipa::path(delete, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
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
