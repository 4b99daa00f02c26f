//! Creating, listing and revoking tenant API keys (shared by `/admin/tenants/{id}/api-keys`
//! and `tenantgate api-keys …`).
//!
//! The plaintext key exists only in the value `create` returns: the row keeps its prefix and
//! keyed hash (see `crate::identity::api_keys`). Revocation is a timestamp, never a deletion, so
//! the audit trail and `GET …/api-keys` still show the key; the `api_keys` trigger tells every
//! replica to drop it from its cache, and the caller drops it on this one at once (`forget`).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::audit::{self, Actor};
use crate::errors::{AppError, AppResult, FieldError};
use crate::identity::api_keys::ApiKeys;
use crate::identity::scopes::{ApiScope, ScopeSet, known_names};
use crate::store::models::api_key::{ApiKey, NewApiKey};
use crate::store::schema::{api_keys, tenants};

const MAX_NAME: usize = 200;

/// `POST /admin/tenants/{id}/api-keys`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateApiKey {
    /// What the key is for, e.g. `ingest-worker`.
    pub name: String,
    /// When the key stops working (RFC 3339); never when absent.
    pub expires_at: Option<chrono::DateTime<Utc>>,
    /// This key's own requests per minute, counted besides the tenant's; absent: the tenant's alone.
    #[serde(default)]
    pub requests_per_minute: Option<i64>,
    /// What the key may be used for: a non-empty subset of `chat`, `search`,
    /// `documents:read`, `documents:write`, `usage:read`. Absent: all of them.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// The scopes asked for, or all; an unknown name or an empty list is a 422 on `scopes`.
pub fn check_scopes(errors: &mut Vec<FieldError>, asked: Option<&[String]>) -> ScopeSet {
    let Some(asked) = asked else {
        return ScopeSet::ALL;
    };
    let mut set = ScopeSet::EMPTY;
    for name in asked {
        match ApiScope::parse(name) {
            Some(scope) => set.insert(scope),
            None => {
                // The message names the known scopes, never echoes the caller's text.
                errors.push(FieldError::new(
                    "scopes",
                    format!("unknown scope; expected some of: {}", known_names()),
                ));
                return set;
            }
        }
    }
    if set.is_empty() {
        errors.push(FieldError::new(
            "scopes",
            format!("must name at least one of: {}", known_names()),
        ));
    }
    set
}

/// A new key: the row, and the plaintext to show once.
pub struct CreatedKey {
    pub row: ApiKey,
    pub plaintext: SecretString,
}

/// 404 unless the tenant exists (active or not: an inactive tenant's keys can be managed).
async fn require_tenant(conn: &mut AsyncPgConnection, tenant_id: &str) -> AppResult<()> {
    let found: Option<String> = tenants::table
        .find(tenant_id)
        .select(tenants::id)
        .first(conn)
        .await
        .optional()?;
    found
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("tenant"))
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    keys: &ApiKeys,
    actor: &Actor,
    tenant_id: &str,
    input: CreateApiKey,
) -> AppResult<CreatedKey> {
    require_tenant(conn, tenant_id).await?;
    let mut errors = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        errors.push(FieldError::new("name", "must not be empty"));
    } else if name.chars().count() > MAX_NAME {
        errors.push(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if input.expires_at.is_some_and(|at| at <= Utc::now()) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    let requests_per_minute =
        super::tenants::check_requests_per_minute(&mut errors, input.requests_per_minute);
    let scopes = check_scopes(&mut errors, input.scopes.as_deref());
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    let generated = keys.generate();
    let new = NewApiKey {
        id: Uuid::new_v4(),
        tenant_id: tenant_id.to_owned(),
        name,
        prefix: generated.prefix,
        key_hash: generated.hash,
        expires_at: input.expires_at,
        requests_per_minute,
        scopes: scopes.names(),
    };
    let mut fields = vec!["name".to_owned()];
    if new.expires_at.is_some() {
        fields.push("expires_at".to_owned());
    }
    if new.requests_per_minute.is_some() {
        fields.push("requests_per_minute".to_owned());
    }
    if input.scopes.is_some() {
        fields.push("scopes".to_owned());
    }
    let row = conn
        .transaction(async |conn| {
            let row: ApiKey = diesel::insert_into(api_keys::table)
                .values(&new)
                .returning(ApiKey::as_returning())
                .get_result(conn)
                .await?;
            audit::record(
                conn,
                actor,
                "api_key.create",
                &row.id.to_string(),
                Some(&row.tenant_id),
                fields,
            )
            .await?;
            Ok::<_, AppError>(row)
        })
        .await?;
    Ok(CreatedKey {
        row,
        plaintext: generated.plaintext,
    })
}

/// A tenant's keys, newest first, revoked and expired ones included.
pub async fn list(conn: &mut AsyncPgConnection, tenant_id: &str) -> AppResult<Vec<ApiKey>> {
    require_tenant(conn, tenant_id).await?;
    Ok(api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id))
        .select(ApiKey::as_select())
        .order((api_keys::created_at.desc(), api_keys::id))
        .load(conn)
        .await?)
}

/// Revokes a key; revoking a revoked key changes nothing (no new timestamp, no audit entry).
/// With `tenant_id`, a key of another tenant is 404 exactly like a missing one. The caller
/// should then `forget` the returned row's prefix on this replica.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    tenant_id: Option<&str>,
    key_id: Uuid,
) -> AppResult<ApiKey> {
    if let Some(tenant_id) = tenant_id {
        require_tenant(conn, tenant_id).await?;
    }
    conn.transaction(async |conn| {
        let key: ApiKey = api_keys::table
            .find(key_id)
            .select(ApiKey::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .filter(|k| tenant_id.is_none_or(|t| k.tenant_id == t))
            .ok_or_else(|| AppError::not_found("API key"))?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let key: ApiKey = diesel::update(api_keys::table.find(key.id))
            .set(api_keys::revoked_at.eq(Utc::now()))
            .returning(ApiKey::as_returning())
            .get_result(conn)
            .await?;
        audit::record(
            conn,
            actor,
            "api_key.revoke",
            &key.id.to_string(),
            Some(&key.tenant_id),
            vec!["revoked_at".to_owned()],
        )
        .await?;
        Ok::<_, AppError>(key)
    })
    .await
}

/// Replaces a key: a new key for the same tenant, with the same name, request limit and expiry
/// (none when the old one had expired) and scopes, and the old key revoked, in one transaction. The caller should then
/// `forget` the old prefix on this replica; other replicas hear of it through the NOTIFY.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    keys: &ApiKeys,
    actor: &Actor,
    key_id: Uuid,
) -> AppResult<(ApiKey, CreatedKey)> {
    conn.transaction(async |conn| {
        let old: ApiKey = api_keys::table
            .find(key_id)
            .select(ApiKey::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| AppError::not_found("API key"))?;
        if old.revoked_at.is_some() {
            return Err(AppError::validation(
                "key_id",
                "is revoked already; create a new key instead",
            ));
        }
        let input = CreateApiKey {
            name: old.name.clone(),
            expires_at: old.expires_at.filter(|at| *at > Utc::now()),
            requests_per_minute: old.requests_per_minute.map(i64::from),
            scopes: Some(old.scopes.clone()),
        };
        let tenant_id = old.tenant_id.clone();
        let created = create(conn, keys, actor, &tenant_id, input).await?;
        let revoked = revoke(conn, actor, Some(&tenant_id), old.id).await?;
        Ok::<_, AppError>((revoked, created))
    })
    .await
}
