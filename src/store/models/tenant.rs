use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::TenantId;
use crate::store::schema::tenants;

/// Which retriever a tenant's requests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RetrieverKind {
    /// Postgres full-text search over the tenant's `documents`.
    Builtin,
    /// The tenant's Pinecone index.
    Pinecone,
    /// No retrieval: the system prompt alone.
    None,
}

impl RetrieverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Pinecone => "pinecone",
            Self::None => "none",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "builtin" => Some(Self::Builtin),
            "pinecone" => Some(Self::Pinecone),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Name of the encrypted column in the associated data of its ciphertext.
pub const PINECONE_API_KEY_FIELD: &str = "pinecone_api_key";

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tenants)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub is_active: bool,
    pub system_prompt: Option<String>,
    pub retriever: String,
    pub pinecone_environment: Option<String>,
    pub pinecone_index_name: Option<String>,
    pub pinecone_index_host: Option<String>,
    pub pinecone_namespace: Option<String>,
    pub pinecone_api_key_enc: Option<Vec<u8>>,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub search_language: String,
    pub requests_per_minute: Option<i32>,
    pub monthly_token_budget: Option<i64>,
    pub org_id: Option<String>,
}

impl Tenant {
    pub fn retriever_kind(&self) -> RetrieverKind {
        RetrieverKind::parse(&self.retriever).unwrap_or(RetrieverKind::Builtin)
    }
}

/// Ciphertext is no business of a `Debug` print.
impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("is_active", &self.is_active)
            .field("retriever", &self.retriever)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = tenants)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
    pub is_active: bool,
    pub system_prompt: Option<String>,
    pub retriever: String,
    pub pinecone_environment: Option<String>,
    pub pinecone_index_name: Option<String>,
    pub pinecone_index_host: Option<String>,
    pub pinecone_namespace: Option<String>,
    pub pinecone_api_key_enc: Option<Vec<u8>>,
    pub search_language: String,
    pub requests_per_minute: Option<i32>,
    pub monthly_token_budget: Option<i64>,
    pub org_id: Option<String>,
}

/// A partial update: `None` keeps a column, `Some(None)` clears a nullable one.
#[derive(AsChangeset, Default)]
#[diesel(table_name = tenants)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub system_prompt: Option<Option<String>>,
    pub retriever: Option<String>,
    pub pinecone_environment: Option<Option<String>>,
    pub pinecone_index_name: Option<Option<String>>,
    pub pinecone_index_host: Option<Option<String>>,
    pub pinecone_namespace: Option<Option<String>>,
    pub pinecone_api_key_enc: Option<Option<Vec<u8>>>,
    pub search_language: Option<String>,
    pub requests_per_minute: Option<Option<i32>>,
    pub monthly_token_budget: Option<Option<i64>>,
    pub org_id: Option<Option<String>>,
}

impl TenantChanges {
    /// Names of the columns this update touches, for the audit log (names only, never values).
    pub fn changed_fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        let mut note = |set: bool, name: &str| {
            if set {
                fields.push(name.to_owned());
            }
        };
        note(self.name.is_some(), "name");
        note(self.is_active.is_some(), "is_active");
        note(self.system_prompt.is_some(), "system_prompt");
        note(self.retriever.is_some(), "retriever");
        note(self.pinecone_environment.is_some(), "pinecone_environment");
        note(self.pinecone_index_name.is_some(), "pinecone_index_name");
        note(self.pinecone_index_host.is_some(), "pinecone_index_host");
        note(self.pinecone_namespace.is_some(), "pinecone_namespace");
        note(self.pinecone_api_key_enc.is_some(), "pinecone_api_key");
        note(self.search_language.is_some(), "search_language");
        note(self.requests_per_minute.is_some(), "requests_per_minute");
        note(self.monthly_token_budget.is_some(), "monthly_token_budget");
        note(self.org_id.is_some(), "org_id");
        fields
    }

    pub fn is_empty(&self) -> bool {
        self.changed_fields().is_empty()
    }
}

/// A tenant as the admin API shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub is_active: bool,
    pub system_prompt: Option<String>,
    pub retriever: RetrieverKind,
    pub pinecone_environment: Option<String>,
    pub pinecone_index_name: Option<String>,
    pub pinecone_index_host: Option<String>,
    pub pinecone_namespace: Option<String>,
    pub has_pinecone_api_key: bool,
    /// The built-in retriever's Postgres text search configuration (`english`, `simple`, …).
    pub search_language: String,
    /// Requests per minute for the whole tenant; null: the server's `TENANT_REQUESTS_PER_MINUTE`.
    pub requests_per_minute: Option<i32>,
    /// Prompt + completion tokens per UTC month on the chat routes; null: no budget.
    pub monthly_token_budget: Option<i64>,
    /// The organization the tenant belongs to, if any.
    pub org_id: Option<String>,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        let retriever = t.retriever_kind();
        Self {
            id: t.id.to_string(),
            name: t.name,
            is_active: t.is_active,
            system_prompt: t.system_prompt,
            retriever,
            pinecone_environment: t.pinecone_environment,
            pinecone_index_name: t.pinecone_index_name,
            pinecone_index_host: t.pinecone_index_host,
            pinecone_namespace: t.pinecone_namespace,
            has_pinecone_api_key: t.pinecone_api_key_enc.is_some(),
            search_language: t.search_language,
            requests_per_minute: t.requests_per_minute,
            monthly_token_budget: t.monthly_token_budget,
            org_id: t.org_id,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `GET /tenant`: what a tenant's own callers may see of it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    pub system_prompt: Option<String>,
    pub retriever: RetrieverKind,
}
