//! `/admin/tenants/{id}/api-keys`: create (the key is in this one response, never again),
//! list (without keys), revoke (`DELETE …/{key_id}`, idempotent). A revoked key stops
//! working at once on this replica and, through the database's NOTIFY, on the others.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actor;
use crate::app::state::AppState;
use crate::errors::{AppError, AppResult};
use crate::http::error::ErrorBody;
use crate::http::extractors::Admin;
use crate::http::routes::ValidJson;
use crate::http::routes::params::TenantPath;
use crate::identity::authz::{self, Action};
use crate::services::api_keys::{self as service, CreateApiKey};
use crate::store::models::api_key::ApiKeyView;

/// The creation response: the key's JSON plus `key`, the only time the key is shown.
#[derive(Serialize, Deserialize)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// The key (`tg_…`): send it as `X-API-Key` or `Authorization: Bearer`. Store it now;
    /// it cannot be shown again.
    pub key: String,
}

/// `ApiKeyView`'s object with `key` added to its properties. utoipa's own flatten would give
/// an `allOf` of the two, the same shape, but one object keeps the schema as it always read.
impl utoipa::PartialSchema for CreatedApiKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
        let mut schema = <ApiKeyView as utoipa::PartialSchema>::schema();
        if let utoipa::openapi::RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some(
                "The creation response: the key's JSON plus `key`, the only time the key is \
                 shown."
                    .to_owned(),
            );
            let key = ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
                .description(Some(
                    "The key (`tg_…`): send it as `X-API-Key` or `Authorization: Bearer`. Store \
                     it now;\nit cannot be shown again.",
                ));
            object.properties.insert("key".to_owned(), key.into());
            object.required.push("key".to_owned());
        }
        schema
    }
}

impl utoipa::ToSchema for CreatedApiKey {}

#[utoipa::path(post, path = "/admin/tenants/{id}/api-keys", operation_id = "create_api_key", tag = "admin", security(("bearer" = [])),
    params(TenantPath),
    request_body = CreateApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 404, description = "no such tenant", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path(TenantPath { id: tenant_id }): Path<TenantPath>,
    ValidJson(input): ValidJson<CreateApiKey>,
) -> AppResult<(StatusCode, Json<CreatedApiKey>)> {
    let scope = authz::authorize(&admin, Action::ApiKeyCreate)?;
    let mut conn = state.pool.get().await?;
    scope.require_tenant(&mut conn, &tenant_id).await?;
    let created = service::create(
        &mut conn,
        &state.api_keys,
        &actor(&admin, &headers),
        &tenant_id,
        input,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            view: created.row.into(),
            key: created.plaintext.expose_secret().to_owned(),
        }),
    ))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/api-keys", operation_id = "list_api_keys", tag = "admin", security(("bearer" = [])),
    params(TenantPath),
    responses(
        (status = 200, description = "the tenant's keys, newest first, without the keys themselves", body = Vec<ApiKeyView>),
        (status = 404, description = "no such tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(TenantPath { id: tenant_id }): Path<TenantPath>,
) -> AppResult<Json<Vec<ApiKeyView>>> {
    let scope = authz::authorize(&admin, Action::ApiKeyList)?;
    let mut conn = state.pool.get().await?;
    scope.require_tenant(&mut conn, &tenant_id).await?;
    let keys = service::list(&mut conn, &tenant_id).await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}/api-keys/{key_id}", operation_id = "revoke_api_key", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "tenant id"),
        ("key_id" = Uuid, Path, description = "API key id"),
    ),
    responses(
        (status = 200, description = "revoked (idempotent)", body = ApiKeyView),
        (status = 404, description = "no such tenant, or no such key of this tenant", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> AppResult<Json<ApiKeyView>> {
    let scope = authz::authorize(&admin, Action::ApiKeyRevoke)?;
    let mut conn = state.pool.get().await?;
    scope.require_tenant(&mut conn, &tenant_id).await?;
    let key_id = Uuid::parse_str(&key_id).map_err(|_| AppError::not_found("API key"))?;
    let key = service::revoke(
        &mut conn,
        &state,
        &actor(&admin, &headers),
        Some(&tenant_id),
        key_id,
    )
    .await?;
    Ok(Json(key.into()))
}
