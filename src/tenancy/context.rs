use std::sync::{Arc, OnceLock};

use crate::domain::TenantId;
use crate::errors::{AppError, AppResult};
use crate::rag::retrieval::{PineconeSettings, RetrievalDeps, Retriever, TenantSettings};
use crate::secrets::{KeyRing, SecretSlot};
use crate::store::models::tenant::{PINECONE_API_KEY_FIELD, RetrieverKind, Tenant};

/// Everything a request of one tenant needs, shared as `Arc<TenantContext>`.
///
/// One is cached per tenant (100,000 of them in `bench/many_tenants.sh`), so it holds only what
/// requests read, once: the settings live on in the retriever, the prompt is one allocation
/// whether the tenant's own or the default, and `GET /tenant`'s body is serialised on the
/// first `GET /tenant` only (tenants whose callers never ask hold none).
pub struct TenantContext {
    pub id: TenantId,
    pub name: Box<str>,
    pub version: i64,
    /// The tenant's own prompt, as stored (`GET /tenant` shows it).
    pub system_prompt: Option<Arc<str>>,
    /// The prompt to use: the tenant's (the same allocation), or `DEFAULT_SYSTEM_PROMPT`.
    pub effective_prompt: Arc<str>,
    pub retriever_kind: RetrieverKind,
    pub retriever: Arc<dyn Retriever>,
    /// `GET /tenant`'s body once asked for (see [`TenantContext::info_json`]).
    pub info_body: OnceLock<bytes::Bytes>,
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
        let system_prompt: Option<Arc<str>> = row.system_prompt.as_deref().map(Arc::from);
        let effective_prompt = match &system_prompt {
            Some(prompt) if !prompt.trim().is_empty() => prompt.clone(),
            _ => default_prompt.clone(),
        };
        Ok(Self {
            requests_per_minute: row.requests_per_minute.and_then(|n| u32::try_from(n).ok()),
            monthly_token_budget: row.monthly_token_budget,
            id,
            name: row.name.into_boxed_str(),
            version: row.version,
            system_prompt,
            effective_prompt,
            retriever_kind,
            retriever,
            info_body: OnceLock::new(),
        })
    }
}

/// `GET /tenant`'s body borrowed from the context: it serialises as
/// [`TenantInfo`](crate::store::models::tenant::TenantInfo) does (the
/// documented schema; a test below compares the two).
#[derive(serde::Serialize)]
pub struct TenantInfoView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub system_prompt: Option<&'a str>,
    pub retriever: RetrieverKind,
}

impl TenantContext {
    /// `GET /tenant`'s body, serialised once per context on first use.
    pub fn info_json(&self) -> AppResult<bytes::Bytes> {
        if let Some(body) = self.info_body.get() {
            return Ok(body.clone());
        }
        let body =
            bytes::Bytes::from(serde_json::to_vec(&self.info()).map_err(AppError::internal)?);
        Ok(self.info_body.get_or_init(|| body).clone())
    }

    pub fn info(&self) -> TenantInfoView<'_> {
        TenantInfoView {
            id: self.id.as_str(),
            name: &self.name,
            system_prompt: self.system_prompt.as_deref(),
            retriever: self.retriever_kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::tenant::TenantInfo;

    #[test]
    fn the_borrowed_view_serialises_as_the_documented_tenant_info() {
        for system_prompt in [Some("Answer \"briefly\".\n"), None] {
            let view = TenantInfoView {
                id: "acme",
                name: "Acme ✓",
                system_prompt,
                retriever: RetrieverKind::Pinecone,
            };
            let owned = TenantInfo {
                id: "acme".to_owned(),
                name: "Acme ✓".to_owned(),
                system_prompt: system_prompt.map(str::to_owned),
                retriever: RetrieverKind::Pinecone,
            };
            assert_eq!(
                serde_json::to_string(&view).expect("view"),
                serde_json::to_string(&owned).expect("owned")
            );
        }
    }
}
