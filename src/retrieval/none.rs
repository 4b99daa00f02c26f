//! `retriever: none`: no retrieval, the tenant's system prompt alone.

use async_trait::async_trait;

use super::{Passage, Retriever};
use crate::errors::AppResult;
use crate::models::tenant::RetrieverKind;

pub struct NoRetriever;

#[async_trait]
impl Retriever for NoRetriever {
    fn kind(&self) -> RetrieverKind {
        RetrieverKind::None
    }

    async fn search(&self, _query: &str, _top_k: usize) -> AppResult<Vec<Passage>> {
        Ok(Vec::new())
    }
}
