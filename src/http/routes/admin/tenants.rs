//! `/admin/tenants`: create, list, read, update (`PUT`/`PATCH`), deactivate (`DELETE`), within
//! what the caller's role reaches (`crate::identity::authz`). Each change takes effect at once on this
//! replica (the cache is told directly) and on the others through the database's NOTIFY.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use diesel_async::AsyncPgConnection;
use serde::Deserialize;

use super::actor;
use crate::app::state::AppState;
use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use crate::http::extractors::Admin;
use crate::http::routes::params::{self, TenantPath};
use crate::http::routes::{ValidJson, ValidQuery};
use crate::identity::authz::{self, Action, Scope, TENANT_ADMIN_TENANT_FIELDS};
use crate::services::tenants::{self as service, CreateTenant, UpdateTenant};
use crate::store::models::tenant::{Tenant, TenantView};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include inactive tenants (default true: all tenants).
    pub include_inactive: Option<bool>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The tenant, or 404 when it is missing or outside the scope (the same answer).
pub async fn reachable(conn: &mut AsyncPgConnection, scope: &Scope, id: &str) -> AppResult<Tenant> {
    match service::get(conn, id).await {
        Ok(t) if scope.covers_tenant(t.id.as_str(), t.org_id.as_deref()) => Ok(t),
        Ok(_) => Err(AppError::not_found("tenant")),
        Err(e) => Err(e),
    }
}

#[utoipa::path(post, path = "/admin/tenants", operation_id = "create_tenant", tag = "admin", security(("bearer" = [])),
    request_body = CreateTenant,
    responses(
        (status = 201, body = TenantView),
        (status = 403, description = "forbidden: the role may not create tenants", body = crate::http::error::ErrorBody),
        (status = 409, description = "conflict: duplicate id", body = crate::http::error::ErrorBody),
        (status = 422, description = "validation_error", body = crate::http::error::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ValidJson(mut input): ValidJson<CreateTenant>,
) -> AppResult<(StatusCode, Json<TenantView>)> {
    let scope = authz::authorize(&admin, Action::TenantCreate)?;
    match &scope {
        Scope::All => {}
        // An org admin's tenants land in its organization; naming another is like naming none
        // that exists.
        Scope::Org(org) => match input.org_id.as_deref().filter(|o| !o.trim().is_empty()) {
            None => input.org_id = Some(org.clone()),
            Some(o) if o == org => {}
            Some(_) => {
                return Err(AppError::validation(
                    "org_id",
                    "no organization with this id",
                ));
            }
        },
        Scope::Tenant(_) | Scope::Nothing => {
            return Err(AppError::Forbidden("your role may not do this"));
        }
    }
    let mut conn = state.pool.get().await?;
    let tenant = service::create(
        &mut conn,
        &state,
        &state.config.keys,
        &actor(&admin, &headers),
        input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

#[utoipa::path(get, path = "/admin/tenants", operation_id = "list_tenants", tag = "admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "the tenants the caller may administer", body = Vec<TenantView>)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> AppResult<Json<Vec<TenantView>>> {
    let scope = authz::authorize(&admin, Action::TenantList)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let mut conn = state.pool.get().await?;
    let tenants = service::list(
        &mut conn,
        &scope,
        query.include_inactive.unwrap_or(true),
        limit,
        offset,
    )
    .await?;
    Ok(Json(tenants.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/admin/tenants/{id}", operation_id = "get_tenant", tag = "admin", security(("bearer" = [])),
    params(TenantPath),
    responses((status = 200, body = TenantView), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(TenantPath { id }): Path<TenantPath>,
) -> AppResult<Json<TenantView>> {
    let scope = authz::authorize(&admin, Action::TenantRead)?;
    let mut conn = state.pool.get().await?;
    Ok(Json(reachable(&mut conn, &scope, &id).await?.into()))
}

/// `PUT` and `PATCH` alike: fields present are changed, absent ones kept, `null` clears.
/// Tenant admins may change `name` and `system_prompt` only; only superusers set `org_id`.
#[utoipa::path(method(put, patch), path = "/admin/tenants/{id}", operation_id = "update_tenant", tag = "admin", security(("bearer" = [])),
    params(TenantPath),
    request_body = UpdateTenant,
    responses(
        (status = 200, body = TenantView),
        (status = 403, description = "forbidden: a field the role may not change", body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(TenantPath { id }): Path<TenantPath>,
    ValidJson(input): ValidJson<UpdateTenant>,
) -> AppResult<Json<TenantView>> {
    let scope = authz::authorize(&admin, Action::TenantUpdate)?;
    let mut conn = state.pool.get().await?;
    reachable(&mut conn, &scope, &id).await?;
    let fields = input.present_fields();
    if admin.role == Role::TenantAdmin
        && fields
            .iter()
            .any(|f| !TENANT_ADMIN_TENANT_FIELDS.contains(f))
    {
        return Err(AppError::Forbidden(
            "tenant admins may change only name and system_prompt",
        ));
    }
    if admin.role != Role::Superuser && fields.contains(&"org_id") {
        return Err(AppError::Forbidden(
            "only superusers move tenants between organizations",
        ));
    }
    let tenant = service::update(
        &mut conn,
        &state,
        &state.config.keys,
        &actor(&admin, &headers),
        &id,
        input,
    )
    .await?;
    Ok(Json(tenant.into()))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}", operation_id = "deactivate_tenant", tag = "admin", security(("bearer" = [])),
    params(TenantPath),
    responses((status = 200, description = "deactivated (idempotent)", body = TenantView), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn deactivate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(TenantPath { id }): Path<TenantPath>,
) -> AppResult<Json<TenantView>> {
    let scope = authz::authorize(&admin, Action::TenantDeactivate)?;
    let mut conn = state.pool.get().await?;
    reachable(&mut conn, &scope, &id).await?;
    let tenant =
        service::set_active(&mut conn, &state, &actor(&admin, &headers), &id, false).await?;
    Ok(Json(tenant.into()))
}
