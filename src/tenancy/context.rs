use std::sync::Arc;

use crate::domain::TenantId;
use crate::errors::{AppError, AppResult};
use crate::rag::retrieval::{PineconeSettings, RetrievalDeps, Retriever, TenantSettings};
use crate::secrets::{KeyRing, SecretSlot};
use crate::store::models::tenant::{PINECONE_API_KEY_FIELD, RetrieverKind, Tenant, TenantInfo};

/// Everything a request of one tenant needs, shared as `Arc<TenantContext>`.
///
/// One is cached per tenant (100,000 of them in `bench/many_tenants.sh`), so it holds only what
/// requests read: the row's name and settings live on in `info_json` and in the retriever, not
/// a second time here.
pub struct TenantContext {
    pub id: TenantId,
    pub version: i64,
    /// The prompt to use: the tenant's, or `DEFAULT_SYSTEM_PROMPT`.
    pub effective_prompt: Arc<str>,
    pub retriever_kind: RetrieverKind,
    pub retriever: Arc<dyn Retriever>,
    /// `GET /tenant`'s body, serialised once per context.
    pub info_json: bytes::Bytes,
    /// The tenant's own request limit (null: the server's default applies).
    pub requests_per_minute: Option<u32>,
    /// Prompt + completion tokens per UTC month on the chat routes.
    pub monthly_token_budget: Option<i64>,
}

impl std::fmt::Debug for TenantContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantContext")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("retriever", &self.retriever_kind)
            .finish_non_exhaustive()
    }
}

impl TenantContext {
    /// Builds the context of an active tenant row: decrypts its secrets, builds its retriever.
    pub async fn build(
        row: Tenant,
        keys: &KeyRing,
        default_prompt: &Arc<str>,
        deps: &RetrievalDeps,
    ) -> AppResult<Self> {
        let id = row.id.clone();
        let api_key = match &row.pinecone_api_key_enc {
            None => None,
            Some(stored) => {
                let slot = SecretSlot {
                    tenant_id: row.id.as_str(),
                    field: PINECONE_API_KEY_FIELD,
                };
                let key = keys.decrypt(slot, stored).map_err(|e| {
                    // Says which tenant and why, never the value.
                    AppError::Internal(format!("tenant {}: {e}", row.id))
                })?;
                Some(key)
            }
        };
        let retriever_kind = row.retriever_kind();
        let settings = TenantSettings {
            id: id.clone(),
            retriever: retriever_kind,
            search_language: row.search_language,
            pinecone: PineconeSettings {
                environment: row.pinecone_environment,
                index_name: row.pinecone_index_name,
                index_host: row.pinecone_index_host,
                namespace: row.pinecone_namespace,
                api_key,
            },
        };
        let retriever = crate::rag::retrieval::build(&settings, deps);
        let effective_prompt = match &row.system_prompt {
            Some(prompt) if !prompt.trim().is_empty() => Arc::from(prompt.as_str()),
            _ => default_prompt.clone(),
        };
        let info = TenantInfo {
            id: row.id.to_string(),
            name: row.name,
            system_prompt: row.system_prompt,
            retriever: retriever_kind,
        };
        let mut info_json = serde_json::to_vec(&info).map_err(AppError::internal)?;
        // Kept for the context's life: without its spare capacity.
        info_json.shrink_to_fit();
        Ok(Self {
            requests_per_minute: row.requests_per_minute.and_then(|n| u32::try_from(n).ok()),
            monthly_token_budget: row.monthly_token_budget,
            info_json: info_json.into(),
            id,
            version: row.version,
            effective_prompt,
            retriever_kind,
            retriever,
        })
    }
}
