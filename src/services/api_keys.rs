//! Creating, listing and revoking tenant API keys (shared by `/admin/tenants/{id}/api-keys`
//! and `tenantgate api-keys …`).
//!
//! The plaintext key exists only in the value `create` returns: the row keeps its prefix and
//! keyed hash (see `crate::identity::api_keys`). Revocation is a timestamp, never a deletion, so
//! the audit trail and `GET …/api-keys` still show the key; the `api_keys` trigger tells every
//! replica to drop it from its cache, and the service drops it on this one at once (`Caches`).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::OrNotFound;
use super::audit::{self, Actor, Change};
use super::caches::Caches;
use super::check_name;
use crate::domain::TenantId;
use crate::errors::{AppError, AppResult, FieldError};
use crate::identity::api_keys::ApiKeys;
use crate::identity::scopes::{ApiScope, ScopeSet, known_names};
use crate::store::models::api_key::{ApiKey, NewApiKey};
use crate::store::schema::{api_keys, tenants};

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

/// The tenant's id as its row holds it; 404 unless the tenant exists (active or not: an
/// inactive tenant's keys can be managed).
async fn require_tenant(conn: &mut AsyncPgConnection, tenant_id: &str) -> AppResult<TenantId> {
    tenants::table
        .find(tenant_id)
        .select(tenants::id)
        .first(conn)
        .await
        .or_not_found("tenant")
}

/// The audit entry of a change to `key`.
fn key_change(action: &'static str, key: &ApiKey, fields: Vec<String>) -> Change {
    Change::new(action, key.id.to_string(), Some(&key.tenant_id), fields)
}

/// The row a create writes, the fields its audit entry names and the plaintext key, or every
/// field error of `input` at once.
fn new_key(
    keys: &ApiKeys,
    tenant_id: &TenantId,
    input: CreateApiKey,
) -> AppResult<(NewApiKey, Vec<String>, SecretString)> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_owned();
    check_name(&mut errors, &name);
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
        tenant_id: tenant_id.clone(),
        name,
        prefix: generated.prefix,
        key_hash: generated.hash,
        expires_at: input.expires_at,
        requests_per_minute,
        scopes: scopes.names(),
    };
    let mut fields = vec!["name".to_owned()];
    for (set, field) in [
        (new.expires_at.is_some(), "expires_at"),
        (new.requests_per_minute.is_some(), "requests_per_minute"),
        (input.scopes.is_some(), "scopes"),
    ] {
        if set {
            fields.push(field.to_owned());
        }
    }
    Ok((new, fields, generated.plaintext))
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    keys: &ApiKeys,
    actor: &Actor,
    tenant_id: &str,
    input: CreateApiKey,
) -> AppResult<CreatedKey> {
    let tenant_id = require_tenant(conn, tenant_id).await?;
    let (new, fields, plaintext) = new_key(keys, &tenant_id, input)?;
    let row = audit::audited(conn, actor, async |conn| {
        let row: ApiKey = diesel::insert_into(api_keys::table)
            .values(&new)
            .returning(ApiKey::as_returning())
            .get_result(conn)
            .await?;
        let change = key_change("api_key.create", &row, fields);
        Ok((row, Some(change)))
    })
    .await?;
    Ok(CreatedKey { row, plaintext })
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
/// With `tenant_id`, a key of another tenant is 404 exactly like a missing one. This replica
/// forgets the key once the revocation has committed.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    tenant_id: Option<&str>,
    key_id: Uuid,
) -> AppResult<ApiKey> {
    if let Some(tenant_id) = tenant_id {
        require_tenant(conn, tenant_id).await?;
    }
    let key = revoke_in(conn, actor, tenant_id, key_id).await?;
    caches.api_key_revoked(&key.prefix).await;
    Ok(key)
}

/// The key, locked for the rest of the transaction; 404 when there is none.
async fn lock_key(conn: &mut AsyncPgConnection, key_id: Uuid) -> AppResult<ApiKey> {
    api_keys::table
        .find(key_id)
        .select(ApiKey::as_select())
        .for_update()
        .first(conn)
        .await
        .or_not_found("API key")
}

/// `revoke` without telling the caches (inside a larger transaction, which tells them).
async fn revoke_in(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    tenant_id: Option<&str>,
    key_id: Uuid,
) -> AppResult<ApiKey> {
    audit::audited(conn, actor, async |conn| {
        let key = lock_key(conn, key_id).await?;
        if tenant_id.is_some_and(|t| key.tenant_id != t) {
            return Err(AppError::not_found("API key"));
        }
        if key.revoked_at.is_some() {
            return Ok((key, None));
        }
        let key: ApiKey = diesel::update(api_keys::table.find(key.id))
            .set(api_keys::revoked_at.eq(Utc::now()))
            .returning(ApiKey::as_returning())
            .get_result(conn)
            .await?;
        let change = key_change("api_key.revoke", &key, vec!["revoked_at".to_owned()]);
        Ok((key, Some(change)))
    })
    .await
}

/// Replaces a key: a new key for the same tenant, with the same name, request limit and expiry
/// (none when the old one had expired) and scopes, and the old key revoked, in one
/// transaction; this replica forgets the old key after the commit, the others through the
/// NOTIFY.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    keys: &ApiKeys,
    actor: &Actor,
    key_id: Uuid,
) -> AppResult<(ApiKey, CreatedKey)> {
    let (revoked, created) = conn
        .transaction(async |conn| {
            let old = lock_key(conn, key_id).await?;
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
            let revoked = revoke_in(conn, actor, Some(&tenant_id), old.id).await?;
            Ok::<_, AppError>((revoked, created))
        })
        .await?;
    caches.api_key_revoked(&revoked.prefix).await;
    Ok((revoked, created))
}

/// Revokes the tenant's live keys named `name` (the demo's refresh), each with its entry.
pub async fn revoke_named(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    tenant_id: &str,
    name: &str,
) -> AppResult<Vec<ApiKey>> {
    let ids: Vec<Uuid> = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id))
        .filter(api_keys::name.eq(name))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::id)
        .load(conn)
        .await?;
    let mut revoked = Vec::with_capacity(ids.len());
    for id in ids {
        revoked.push(revoke(conn, caches, actor, Some(tenant_id), id).await?);
    }
    Ok(revoked)
}
