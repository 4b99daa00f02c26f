//! `/admin/users`: create (with a password), list, read, update (`PUT`/`PATCH`), deactivate
//! (`DELETE`), and impersonate, within what the caller's role reaches (`crate::identity::authz`): an org
//! admin manages its organization's users up to `org_admin`, a tenant admin its tenant's
//! members and tenant admins. A change to a user's role, organization, tenant or active flag
//! takes effect at once on this replica (the standing cache is told) and within the cache's
//! TTL on the others.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Deserialize;
use uuid::Uuid;

use super::actor;
use crate::app::state::AppState;
use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use crate::http::error::ErrorBody;
use crate::http::extractors::Admin;
use crate::http::routes::params::{self, UserPath};
use crate::http::routes::session::TokenResponse;
use crate::http::routes::{ValidJson, ValidQuery};
use crate::identity::authz::{self, Action, Scope, UserFacts};
use crate::services::audit;
use crate::services::users::{self as service, CreateUser, UpdateUser};
use crate::store::models::user::{User, UserView};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only users of this tenant.
    pub tenant_id: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A malformed id names no user: 404, like an unknown one.
fn user_id(raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| AppError::not_found("user"))
}

/// The user, or 404 when missing or outside the scope (the same answer).
async fn reachable(conn: &mut AsyncPgConnection, scope: &Scope, id: Uuid) -> AppResult<User> {
    let user = service::get(conn, id).await?;
    if *scope == Scope::All {
        return Ok(user);
    }
    let tenant_org = service::tenant_org(conn, user.tenant_id.as_deref()).await?;
    let facts = UserFacts {
        role: user.role(),
        org_id: user.org_id.as_deref(),
        tenant_id: user.tenant_id.as_deref(),
        tenant_org: tenant_org.as_deref(),
    };
    if scope.covers_user(&facts) {
        Ok(user)
    } else {
        Err(AppError::not_found("user"))
    }
}

#[utoipa::path(post, path = "/admin/users", operation_id = "create_user", tag = "admin", security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, body = UserView),
        (status = 403, description = "forbidden: a role above the caller's reach", body = ErrorBody),
        (status = 409, description = "conflict: the email is taken (whatever its case)", body = ErrorBody),
        (status = 422, description = "validation_error: bad email, short password, unknown tenant", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ValidJson(input): ValidJson<CreateUser>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    let scope = authz::authorize(&admin, Action::UserCreate)?;
    let role = service::requested_role(&input)?;
    let mut conn = state.pool.get().await?;
    let tenant_id = input.tenant_id.as_deref().filter(|t| !t.trim().is_empty());
    let org_id = input.org_id.as_deref().filter(|t| !t.trim().is_empty());
    let tenant_org = service::tenant_org(&mut conn, tenant_id).await?;
    authz::check_assignment(
        &admin,
        &scope,
        &UserFacts {
            role,
            org_id,
            tenant_id,
            tenant_org: tenant_org.as_deref(),
        },
    )?;
    let user = service::create(&mut conn, &actor(&admin, &headers), input).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, path = "/admin/users", operation_id = "list_users", tag = "admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "the users the caller may administer", body = Vec<UserView>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> AppResult<Json<Vec<UserView>>> {
    let scope = authz::authorize(&admin, Action::UserList)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let tenant_id = query.tenant_id.as_deref().filter(|t| !t.is_empty());
    let mut conn = state.pool.get().await?;
    let users = service::list(&mut conn, &scope, tenant_id, limit, offset).await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/admin/users/{id}", operation_id = "get_user", tag = "admin", security(("bearer" = [])),
    params(UserPath),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(UserPath { id }): Path<UserPath>,
) -> AppResult<Json<UserView>> {
    let scope = authz::authorize(&admin, Action::UserRead)?;
    let id = user_id(&id)?;
    let mut conn = state.pool.get().await?;
    Ok(Json(reachable(&mut conn, &scope, id).await?.into()))
}

/// Fields present are changed, absent ones kept; `tenant_id: null` detaches the user.
#[utoipa::path(method(put, patch), path = "/admin/users/{id}", operation_id = "update_user", tag = "admin", security(("bearer" = [])),
    params(UserPath),
    request_body = UpdateUser,
    responses(
        (status = 200, body = UserView),
        (status = 403, description = "forbidden: a role above the caller's reach", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "conflict: the email is taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(UserPath { id }): Path<UserPath>,
    ValidJson(input): ValidJson<UpdateUser>,
) -> AppResult<Json<UserView>> {
    let scope = authz::authorize(&admin, Action::UserUpdate)?;
    let id = user_id(&id)?;
    let mut conn = state.pool.get().await?;
    let current = reachable(&mut conn, &scope, id).await?;
    if scope != Scope::All {
        // The user as it would be after the change must still be inside the caller's reach.
        let role = service::updated_role(&input, current.role())?;
        let tenant_id = match &input.tenant_id {
            Some(t) => t.clone().filter(|t| !t.trim().is_empty()),
            None => current.tenant_id.clone(),
        };
        let org_id = match &input.org_id {
            Some(o) => o.clone().filter(|o| !o.trim().is_empty()),
            None => current.org_id.clone(),
        };
        let tenant_org = service::tenant_org(&mut conn, tenant_id.as_deref()).await?;
        authz::check_assignment(
            &admin,
            &scope,
            &UserFacts {
                role,
                org_id: org_id.as_deref(),
                tenant_id: tenant_id.as_deref(),
                tenant_org: tenant_org.as_deref(),
            },
        )?;
    }
    let user = service::update(&mut conn, &state, &actor(&admin, &headers), id, input).await?;
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/admin/users/{id}", operation_id = "deactivate_user", tag = "admin", security(("bearer" = [])),
    params(UserPath),
    responses(
        (status = 200, description = "deactivated (idempotent)", body = UserView),
        (status = 404, body = ErrorBody),
    ))]
pub async fn deactivate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(UserPath { id }): Path<UserPath>,
) -> AppResult<Json<UserView>> {
    let scope = authz::authorize(&admin, Action::UserDeactivate)?;
    let id = user_id(&id)?;
    let mut conn = state.pool.get().await?;
    reachable(&mut conn, &scope, id).await?;
    let user = service::deactivate(&mut conn, &state, &actor(&admin, &headers), id).await?;
    Ok(Json(user.into()))
}

/// A short-lived token acting as the user, for support: the user's claims plus
/// `act: {"sub": "<caller's id>"}` (RFC 8693), at most 15 minutes. Audited (`user.impersonate`),
/// and so is every write made with it (the entries' `impersonator`).
#[utoipa::path(post, path = "/admin/users/{id}/impersonate", operation_id = "impersonate_user", tag = "admin", security(("bearer" = [])),
    params(UserPath),
    responses(
        (status = 200, body = TokenResponse),
        (status = 403, description = "forbidden: a superuser or inactive target, an impersonation token, or a role that may not impersonate", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn impersonate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(UserPath { id }): Path<UserPath>,
) -> AppResult<Json<TokenResponse>> {
    let scope = authz::authorize(&admin, Action::UserImpersonate)?;
    let caller = admin
        .user_id
        .ok_or(AppError::Forbidden("impersonation needs a user"))?;
    if admin.impersonator.is_some() {
        return Err(AppError::Forbidden(
            "an impersonation token cannot impersonate again",
        ));
    }
    let id = user_id(&id)?;
    let mut conn = state.pool.get().await?;
    // Out of the caller's reach first (404, as if absent: an org admin never sees a
    // superuser), then the targets no one may impersonate (403).
    let target = reachable(&mut conn, &scope, id).await?;
    if target.role() == Role::Superuser {
        return Err(AppError::Forbidden("superusers cannot be impersonated"));
    }
    if !target.is_active {
        return Err(AppError::Forbidden("inactive users cannot be impersonated"));
    }
    let (access_token, expires_in) = state.tokens.issue_impersonation(
        &target.id.to_string(),
        &target.email,
        target.tenant_id.as_deref(),
        // No version claim: the token is refused once the target changes after its `iat`.
        None,
        &caller.to_string(),
    )?;
    let actor = actor(&admin, &headers);
    let target_id = target.id.to_string();
    conn.transaction(async |conn| {
        audit::record(
            conn,
            &actor,
            "user.impersonate",
            &target_id,
            target.tenant_id.as_deref(),
            Vec::new(),
        )
        .await
    })
    .await?;
    tracing::info!(user_id = %target.id, impersonator = %caller, "impersonation token issued");
    Ok(Json(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in,
    }))
}
