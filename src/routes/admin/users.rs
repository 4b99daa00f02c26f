//! `/admin/users`: create (with a password), list, read, update (`PUT`/`PATCH`), deactivate
//! (`DELETE`). A change to a user's superuser or active flag takes effect at once on this
//! replica (the superuser cache is told) and within the cache's TTL on the others.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use uuid::Uuid;

use super::actor;
use crate::auth::extractors::Superuser;
use crate::errors::{AppError, AppResult, ErrorBody};
use crate::models::user::UserView;
use crate::routes::{ValidJson, ValidQuery, page};
use crate::services::users::{self as service, CreateUser, UpdateUser};
use crate::state::AppState;

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

#[utoipa::path(post, path = "/admin/users", operation_id = "create_user", tag = "admin", security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, body = UserView),
        (status = 409, description = "conflict: the email is taken (whatever its case)", body = ErrorBody),
        (status = 422, description = "validation_error: bad email, short password, unknown tenant", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    headers: HeaderMap,
    ValidJson(input): ValidJson<CreateUser>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    let mut conn = state.pool.get().await?;
    let user = service::create(&mut conn, &actor(admin, &headers), input).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, path = "/admin/users", operation_id = "list_users", tag = "admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<UserView>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> AppResult<Json<Vec<UserView>>> {
    let (limit, offset) = page(query.limit, query.offset)?;
    let tenant_id = query.tenant_id.as_deref().filter(|t| !t.is_empty());
    let mut conn = state.pool.get().await?;
    let users = service::list(&mut conn, tenant_id, limit, offset).await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/admin/users/{id}", operation_id = "get_user", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<UserView>> {
    let id = user_id(&id)?;
    let mut conn = state.pool.get().await?;
    Ok(Json(service::get(&mut conn, id).await?.into()))
}

/// Fields present are changed, absent ones kept; `tenant_id: null` detaches the user.
#[utoipa::path(method(put, patch), path = "/admin/users/{id}", operation_id = "update_user", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "user id")),
    request_body = UpdateUser,
    responses(
        (status = 200, body = UserView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "conflict: the email is taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<UpdateUser>,
) -> AppResult<Json<UserView>> {
    let id = user_id(&id)?;
    let privileges_change = input.is_superuser.is_some() || input.is_active.is_some();
    let mut conn = state.pool.get().await?;
    let user = service::update(&mut conn, &actor(admin, &headers), id, input).await?;
    if privileges_change {
        state.superusers.forget(id).await;
    }
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/admin/users/{id}", operation_id = "deactivate_user", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "user id")),
    responses(
        (status = 200, description = "deactivated (idempotent)", body = UserView),
        (status = 404, body = ErrorBody),
    ))]
pub async fn deactivate(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<Json<UserView>> {
    let id = user_id(&id)?;
    let mut conn = state.pool.get().await?;
    let user = service::deactivate(&mut conn, &actor(admin, &headers), id).await?;
    state.superusers.forget(id).await;
    Ok(Json(user.into()))
}
