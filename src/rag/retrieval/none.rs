//! `retriever: none`: no retrieval, the tenant's system prompt alone.
//!
//! Documents posted to such a tenant are still kept (in `documents`), so switching it to the
//! built-in retriever later makes them searchable without posting them again.

use async_trait::async_trait;

use super::store::DocumentStore;
use super::{ChunkedDocument, DocumentSummary, Passage, Retriever};
use crate::errors::AppResult;
use crate::store::models::tenant::RetrieverKind;

pub struct NoRetriever {
    store: DocumentStore,
}

impl NoRetriever {
    pub fn new(store: DocumentStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Retriever for NoRetriever {
    fn kind(&self) -> RetrieverKind {
        RetrieverKind::None
    }

    async fn search(&self, _query: &str, _top_k: usize) -> AppResult<Vec<Passage>> {
        Ok(Vec::new())
    }

    async fn upsert(&self, documents: &[ChunkedDocument]) -> AppResult<()> {
        self.store.replace(documents).await
    }

    async fn list(&self, limit: i64, offset: i64) -> AppResult<Vec<DocumentSummary>> {
        self.store.list(limit, offset).await
    }

    async fn delete(&self, id: &str) -> AppResult<bool> {
        Ok(self.store.delete(id).await? > 0)
    }
}
