//! Retrieval: the `Retriever` trait and one module per backend.
//!
//! A tenant's retriever is built once per tenant-cache entry (see `tenancy::cache`), never per
//! request, and all of them share the gateway's one HTTP client pool.
//!
//! - `store`: the tenant's documents in Postgres (the `documents` table, under row-level
//!   security). Every backend keeps its catalogue there, so listing, replacing and deleting
//!   documents work the same whichever index answers searches.
//! - `builtin`: Postgres full-text search over that table.
//! - `pinecone`: the tenant's Pinecone index (REST data plane), query vectors from `embeddings`.
//! - `none`: no retrieval; documents are still kept.
//! - `embeddings`: the OpenAI-compatible `/embeddings` client.
//!
//! Timeouts, retries and error mapping of the HTTP backends are `crate::rag::upstream`'s.

pub mod builtin;
pub mod embeddings;
pub mod none;
pub mod pinecone;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::LlmConfig;
use crate::domain::TenantId;
use crate::errors::AppResult;
use crate::store::db::Pool;
use crate::store::models::tenant::RetrieverKind;

/// A tenant's Pinecone settings with its key decrypted. Lives only in this process's cache.
pub struct PineconeSettings {
    pub environment: Option<String>,
    pub index_name: Option<String>,
    pub index_host: Option<String>,
    pub namespace: Option<String>,
    pub api_key: Option<SecretString>,
}

/// The settings a retriever is built from.
pub struct TenantSettings {
    pub id: TenantId,
    pub retriever: RetrieverKind,
    /// The built-in retriever's text search configuration (one of `SEARCH_LANGUAGES`).
    pub search_language: String,
    pub pinecone: PineconeSettings,
}

/// One retrieved passage, as `/search` returns it and `/chat` cites it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Passage {
    /// The id of the document the passage comes from.
    pub id: String,
    pub score: f32,
    pub title: Option<String>,
    pub source: Option<String>,
    pub text: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// A document ready to be stored: validated, with an id, its text split into chunks.
#[derive(Debug, Clone)]
pub struct ChunkedDocument {
    pub id: String,
    pub title: Option<String>,
    pub source: Option<String>,
    /// A JSON object.
    pub metadata: serde_json::Value,
    pub chunks: Vec<String>,
}

/// One document of a tenant, as `GET /documents` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentSummary {
    pub id: String,
    pub title: Option<String>,
    pub source: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// How many chunks the text was split into.
    pub chunks: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[async_trait]
pub trait Retriever: Send + Sync {
    fn kind(&self) -> RetrieverKind;

    /// The `top_k` passages most relevant to `query`, best first.
    async fn search(&self, query: &str, top_k: usize) -> AppResult<Vec<Passage>>;

    /// Stores documents, each replacing any earlier document of the same id.
    async fn upsert(&self, documents: &[ChunkedDocument]) -> AppResult<()>;

    /// The tenant's documents, by id.
    async fn list(&self, limit: i64, offset: i64) -> AppResult<Vec<DocumentSummary>>;

    /// Deletes a document; `false` when the tenant has none with this id.
    async fn delete(&self, id: &str) -> AppResult<bool>;
}

/// What retrievers are built from, shared by all tenants.
#[derive(Clone)]
pub struct RetrievalDeps {
    pub pool: Pool,
    /// What each tenant's document store may take of the database.
    pub store_limits: store::StoreLimits,
    pub http: reqwest::Client,
    pub llm: LlmConfig,
    /// The server's embeddings client, one for every Pinecone tenant (it holds nothing of a
    /// tenant's; sharing it saves each cached tenant its own copy of the URL, model and key).
    pub embeddings: Arc<embeddings::Embeddings>,
}

/// Builds the retriever of one tenant: cheap, and it cannot fail. Anything that needs the
/// network (such as looking up a Pinecone index host) happens on first use, so a vector store
/// that is down breaks retrieval, not every route of the tenant; settings a backend cannot use
/// (a Pinecone tenant without an index) are reported by its calls, as 502 `upstream_error`.
pub fn build(settings: &TenantSettings, deps: &RetrievalDeps) -> Arc<dyn Retriever> {
    let store =
        store::DocumentStore::new(deps.pool.clone(), settings.id.clone(), deps.store_limits)
            .with_language(&settings.search_language);
    match settings.retriever {
        RetrieverKind::None => Arc::new(none::NoRetriever::new(store)),
        RetrieverKind::Builtin => Arc::new(builtin::BuiltinRetriever::new(store)),
        RetrieverKind::Pinecone => Arc::new(pinecone::PineconeRetriever::new(
            store,
            &settings.pinecone,
            deps,
        )),
    }
}
