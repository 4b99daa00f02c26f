//! `/admin/orgs`: organizations. Superusers create, update and (de)activate them; an org admin
//! reads its own. `DELETE` deactivates: every tenant of the organization answers 403
//! `tenant_unavailable` at once on this replica and within a second on the others (the
//! tenants' own NOTIFY); reactivating restores them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::actor;
use crate::app::state::AppState;
use crate::errors::AppResult;
use crate::http::error::ErrorBody;
use crate::http::extractors::Admin;
use crate::http::routes::ValidJson;
use crate::http::routes::params::OrgPath;
use crate::identity::authz::{self, Action};
use crate::services::orgs::{self as service, CreateOrganization, UpdateOrganization};
use crate::store::models::organization::Organization;
use crate::store::models::tenant::TenantView;

#[utoipa::path(post, path = "/admin/orgs", operation_id = "create_org", tag = "admin", security(("bearer" = [])),
    request_body = CreateOrganization,
    responses(
        (status = 201, body = Organization),
        (status = 403, description = "forbidden: superusers only", body = ErrorBody),
        (status = 409, description = "conflict: duplicate id", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ValidJson(input): ValidJson<CreateOrganization>,
) -> AppResult<(StatusCode, Json<Organization>)> {
    authz::authorize(&admin, Action::OrgCreate)?;
    let mut conn = state.pool.get().await?;
    let org = service::create(&mut conn, &actor(&admin, &headers), input).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[utoipa::path(get, path = "/admin/orgs", operation_id = "list_orgs", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "all (superuser) or the caller's own", body = Vec<Organization>)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> AppResult<Json<Vec<Organization>>> {
    let scope = authz::authorize(&admin, Action::OrgList)?;
    let mut conn = state.pool.get().await?;
    Ok(Json(service::list(&mut conn, &scope).await?))
}

#[utoipa::path(get, path = "/admin/orgs/{id}", operation_id = "get_org", tag = "admin", security(("bearer" = [])),
    params(OrgPath),
    responses((status = 200, body = Organization), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(OrgPath { id }): Path<OrgPath>,
) -> AppResult<Json<Organization>> {
    let scope = authz::authorize(&admin, Action::OrgRead)?;
    scope.require_org(&id)?;
    let mut conn = state.pool.get().await?;
    Ok(Json(service::get(&mut conn, &id).await?))
}

/// `PUT` and `PATCH` alike: `name` and `is_active`, absent fields kept.
#[utoipa::path(method(put, patch), path = "/admin/orgs/{id}", operation_id = "update_org", tag = "admin", security(("bearer" = [])),
    params(OrgPath),
    request_body = UpdateOrganization,
    responses(
        (status = 200, body = Organization),
        (status = 403, description = "forbidden: superusers only", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(OrgPath { id }): Path<OrgPath>,
    ValidJson(input): ValidJson<UpdateOrganization>,
) -> AppResult<Json<Organization>> {
    authz::authorize(&admin, Action::OrgUpdate)?;
    let mut conn = state.pool.get().await?;
    let org = service::update(&mut conn, &state, &actor(&admin, &headers), &id, input).await?;
    Ok(Json(org))
}

#[utoipa::path(delete, path = "/admin/orgs/{id}", operation_id = "deactivate_org", tag = "admin", security(("bearer" = [])),
    params(OrgPath),
    responses(
        (status = 200, description = "deactivated (idempotent); its tenants answer 403 tenant_unavailable", body = Organization),
        (status = 403, description = "forbidden: superusers only", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn deactivate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(OrgPath { id }): Path<OrgPath>,
) -> AppResult<Json<Organization>> {
    authz::authorize(&admin, Action::OrgDeactivate)?;
    let mut conn = state.pool.get().await?;
    let org = service::set_active(&mut conn, &state, &actor(&admin, &headers), &id, false).await?;
    Ok(Json(org))
}

#[utoipa::path(get, path = "/admin/orgs/{id}/tenants", operation_id = "list_org_tenants", tag = "admin", security(("bearer" = [])),
    params(OrgPath),
    responses((status = 200, body = Vec<TenantView>), (status = 404, body = ErrorBody)))]
pub async fn tenants(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(OrgPath { id }): Path<OrgPath>,
) -> AppResult<Json<Vec<TenantView>>> {
    let scope = authz::authorize(&admin, Action::OrgRead)?;
    scope.require_org(&id)?;
    let mut conn = state.pool.get().await?;
    service::get(&mut conn, &id).await?;
    let tenants = service::tenants(&mut conn, &id).await?;
    Ok(Json(tenants.into_iter().map(Into::into).collect()))
}
