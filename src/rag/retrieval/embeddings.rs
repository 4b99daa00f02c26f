//! The OpenAI-compatible embeddings client: `POST {OPENAI_BASE_URL}/embeddings`
//! `{model: EMBEDDING_MODEL, input: [...]}` with `Authorization: Bearer OPENAI_API_KEY` (no
//! header when no key is set: local OpenAI-compatible servers often need none).
//!
//! Vectors come back in `data[i].embedding`, matched to the inputs by `data[i].index`.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::config::LlmConfig;
use crate::errors::{AppError, AppResult};
use crate::metrics::Upstream;
use crate::rag::upstream;

/// Inputs per request: far below the API's limit (2048), small enough for a quick answer.
const BATCH: usize = 128;
const SERVICE: &str = "the embeddings service";

pub struct Embeddings {
    http: reqwest::Client,
    url: String,
    model: String,
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [&'a str],
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingData>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

impl Embeddings {
    pub fn new(http: reqwest::Client, llm: &LlmConfig) -> Self {
        Self {
            http,
            url: format!("{}/embeddings", llm.base_url),
            model: llm.embedding_model.clone(),
            authorization: llm.api_key.as_ref().and_then(upstream::bearer),
            timeout: llm.upstream_timeout,
        }
    }

    /// One vector per input, in order.
    pub async fn embed(&self, inputs: &[&str]) -> AppResult<Vec<Vec<f32>>> {
        let mut vectors = Vec::with_capacity(inputs.len());
        for batch in inputs.chunks(BATCH) {
            vectors.extend(self.embed_batch(batch).await?);
        }
        Ok(vectors)
    }

    async fn embed_batch(&self, inputs: &[&str]) -> AppResult<Vec<Vec<f32>>> {
        let body = EmbeddingRequest {
            model: &self.model,
            input: inputs,
        };
        let response: EmbeddingResponse =
            upstream::call_json(Upstream::Embeddings, SERVICE, self.timeout, || {
                let request = self.http.post(&self.url).json(&body);
                match &self.authorization {
                    Some(value) => request.header(AUTHORIZATION, value.clone()),
                    None => request,
                }
            })
            .await?;
        let mut data = response.data;
        if data.len() != inputs.len() {
            return Err(AppError::Upstream(format!(
                "{SERVICE} returned {} vectors for {} inputs",
                data.len(),
                inputs.len()
            )));
        }
        data.sort_by_key(|d| d.index);
        Ok(data.into_iter().map(|d| d.embedding).collect())
    }
}
