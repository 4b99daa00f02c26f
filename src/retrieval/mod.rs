//! Retrieval: the `Retriever` trait and one module per backend.
//!
//! A tenant's retriever is built once per tenant-cache entry (see `tenants::cache`), never per
//! request, and all of them share the gateway's one HTTP client pool.

pub mod none;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::LlmConfig;
use crate::db::Pool;
use crate::errors::AppResult;
use crate::models::tenant::RetrieverKind;
use crate::tenants::TenantSettings;

/// One retrieved passage, as `/search` returns it and `/chat` cites it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Passage {
    pub id: String,
    pub score: f32,
    pub title: Option<String>,
    pub source: Option<String>,
    pub text: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

#[async_trait]
pub trait Retriever: Send + Sync {
    fn kind(&self) -> RetrieverKind;

    /// The `top_k` passages most relevant to `query`, best first.
    async fn search(&self, query: &str, top_k: usize) -> AppResult<Vec<Passage>>;
}

/// What retrievers are built from, shared by all tenants.
#[derive(Clone)]
pub struct RetrievalDeps {
    pub pool: Pool,
    pub http: reqwest::Client,
    pub llm: LlmConfig,
}

/// Builds the retriever of one tenant.
pub async fn build(
    settings: &TenantSettings,
    _deps: &RetrievalDeps,
) -> AppResult<Arc<dyn Retriever>> {
    match settings.retriever {
        RetrieverKind::None | RetrieverKind::Builtin | RetrieverKind::Pinecone => {
            Ok(Arc::new(none::NoRetriever))
        }
    }
}
