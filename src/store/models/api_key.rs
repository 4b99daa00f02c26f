use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::store::schema::api_keys;

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: Vec<u8>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub requests_per_minute: Option<i32>,
    pub scopes: Vec<String>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub prefix: String,
    pub key_hash: Vec<u8>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub requests_per_minute: Option<i32>,
    pub scopes: Vec<String>,
}

/// An API key as listed: never the key, never its hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// This key's own requests per minute (on top of the tenant's); null: the tenant's alone.
    pub requests_per_minute: Option<i32>,
    /// What the key may be used for: a subset of `chat`, `search`, `documents:read`,
    /// `documents:write`, `usage:read`.
    pub scopes: Vec<String>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            tenant_id: k.tenant_id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
            requests_per_minute: k.requests_per_minute,
            scopes: k.scopes,
        }
    }
}
