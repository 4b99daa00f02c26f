//! `retriever: pinecone`: the tenant's Pinecone index over its REST data plane.
//!
//! - Where: `pinecone_index_host`, a host name (https implied) or a full URL such as
//!   `http://127.0.0.1:9000`; without one, `pinecone_index_name` is looked up once per tenant
//!   context through the control plane (`GET {PINECONE_API_URL}/indexes/{name}` → `host`), on
//!   first use, so a control plane that is down breaks retrieval only. A tenant naming neither
//!   uses the server's `PINECONE_INDEX_NAME`; with none at all, retrieval answers 502 saying
//!   what to set (creating such a tenant is allowed, as the walkthrough does).
//! - Search: the query is embedded (`embeddings`), then `POST {host}/query`
//!   `{vector, topK, namespace, includeMetadata: true}`. Passages come from each match's metadata
//!   (`text`, `title`, `source`; the id from `document_id` when present, else the vector id), so
//!   indexes filled by other tools work as long as they store the text under `text`.
//! - Ingestion: every chunk is embedded and upserted (`POST {host}/vectors/upsert`) as vector
//!   `{document id}#{chunk}` with the passage fields in its metadata; chunks left over from a
//!   longer earlier version are deleted by id (`POST {host}/vectors/delete`). The catalogue of
//!   documents stays in Postgres (`store`), which lists and deletes exactly, whatever the index
//!   type (serverless indexes cannot delete by metadata filter, pod-based ones cannot list ids).
//! - Every call carries the tenant's decrypted key in `Api-Key` and `X-Pinecone-API-Version`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::PineconeSettings;
use super::embeddings::Embeddings;
use super::store::DocumentStore;
use super::{ChunkedDocument, DocumentSummary, Passage, RetrievalDeps, Retriever};
use crate::errors::{AppError, AppResult};
use crate::metrics::Upstream;
use crate::rag::upstream;
use crate::store::models::tenant::RetrieverKind;

/// The API version the request and response shapes below follow.
pub const API_VERSION: &str = "2025-04";
const SERVICE: &str = "Pinecone";
/// Vectors per upsert: 1536 floats as JSON are ~15 kB, so a batch stays well under Pinecone's
/// 2 MB request limit even for 3072-dimensional models.
const UPSERT_BATCH: usize = 40;
/// Ids per delete (Pinecone accepts up to 1000).
const DELETE_BATCH: usize = 1000;
/// Metadata keys the gateway writes itself.
const RESERVED: [&str; 5] = ["text", "title", "source", "document_id", "chunk"];

enum IndexHost {
    Known(String),
    Lookup { url: String, host: OnceCell<String> },
    Unset,
}

pub struct PineconeRetriever {
    store: DocumentStore,
    http: reqwest::Client,
    embeddings: Arc<Embeddings>,
    api_key: Option<HeaderValue>,
    namespace: String,
    index: IndexHost,
    timeout: Duration,
}

/// `host` as a base URL: a bare host name means https. Trims blanks and trailing slashes.
pub fn normalize_host(host: &str) -> String {
    with_scheme(host.trim().trim_end_matches('/')).into_owned()
}

/// `host`, or `https://host` when it names no scheme: how a tenant's `pinecone_index_host` is
/// read (`services::tenants` checks it the same way).
pub fn with_scheme(host: &str) -> Cow<'_, str> {
    if host.contains("://") {
        Cow::Borrowed(host)
    } else {
        Cow::Owned(format!("https://{host}"))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryRequest<'a> {
    vector: &'a [f32],
    top_k: usize,
    namespace: &'a str,
    include_metadata: bool,
    include_values: bool,
}

#[derive(Deserialize)]
struct QueryResponse {
    #[serde(default)]
    matches: Vec<QueryMatch>,
}

#[derive(Deserialize)]
struct QueryMatch {
    id: String,
    #[serde(default)]
    score: f32,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

#[derive(Serialize)]
struct UpsertRequest<'a> {
    vectors: &'a [Vector],
    namespace: &'a str,
}

#[derive(Serialize)]
struct Vector {
    id: String,
    values: Vec<f32>,
    metadata: Map<String, Value>,
}

#[derive(Deserialize)]
struct UpsertResponse {
    #[serde(default, rename = "upsertedCount")]
    upserted_count: Option<u64>,
}

#[derive(Serialize)]
struct DeleteRequest<'a> {
    ids: &'a [String],
    namespace: &'a str,
}

#[derive(Deserialize)]
struct IndexDescription {
    host: String,
}

fn vector_id(document: &str, chunk: usize) -> String {
    format!("{document}#{chunk}")
}

/// Pinecone metadata values are strings, numbers, booleans or lists of strings: anything else
/// the caller sent is kept as its JSON text; nulls are dropped.
fn pinecone_metadata(doc: &ChunkedDocument, chunk: usize, text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(user) = &doc.metadata {
        for (key, value) in user {
            let value = match value {
                Value::Null => continue,
                Value::Bool(_) | Value::Number(_) | Value::String(_) => value.clone(),
                Value::Array(items) if items.iter().all(Value::is_string) => value.clone(),
                other => Value::String(other.to_string()),
            };
            out.insert(key.clone(), value);
        }
    }
    out.insert("document_id".into(), Value::String(doc.id.clone()));
    out.insert("chunk".into(), Value::from(chunk));
    out.insert("text".into(), Value::String(text.to_owned()));
    if let Some(title) = &doc.title {
        out.insert("title".into(), Value::String(title.clone()));
    }
    if let Some(source) = &doc.source {
        out.insert("source".into(), Value::String(source.clone()));
    }
    out
}

fn passage(m: QueryMatch) -> Passage {
    let mut metadata = m.metadata.unwrap_or_default();
    let mut take = |key: &str| match metadata.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let text = take("text").unwrap_or_default();
    let title = take("title");
    let source = take("source");
    let id = take("document_id").unwrap_or(m.id);
    for key in RESERVED {
        metadata.remove(key);
    }
    Passage {
        id,
        score: m.score,
        title,
        source,
        text,
        metadata: Value::Object(metadata),
    }
}

impl PineconeRetriever {
    pub fn new(store: DocumentStore, settings: &PineconeSettings, deps: &RetrievalDeps) -> Self {
        let api_key = settings
            .api_key
            .as_ref()
            .and_then(|key| upstream::sensitive(key.expose_secret().trim()));
        // The tenant's own host, else its own index name, else the server's PINECONE_INDEX_NAME.
        let name = settings
            .index_name
            .as_ref()
            .filter(|n| !n.trim().is_empty())
            .or(deps.llm.pinecone_index_name.as_ref());
        let index = match (&settings.index_host, name) {
            (Some(host), _) if !host.trim().is_empty() => IndexHost::Known(normalize_host(host)),
            (_, Some(name)) if !name.trim().is_empty() => {
                let mut url = format!("{}/indexes/", deps.llm.pinecone_control_plane_url);
                url.extend(url::form_urlencoded::byte_serialize(name.trim().as_bytes()));
                IndexHost::Lookup {
                    url,
                    host: OnceCell::new(),
                }
            }
            _ => IndexHost::Unset,
        };
        Self {
            store,
            http: deps.http.clone(),
            embeddings: deps.embeddings.clone(),
            api_key,
            namespace: settings.namespace.clone().unwrap_or_default(),
            index,
            timeout: deps.llm.upstream_timeout,
        }
    }

    fn api_key(&self) -> AppResult<&HeaderValue> {
        self.api_key.as_ref().ok_or_else(|| {
            AppError::Upstream("the tenant has no usable Pinecone API key configured".into())
        })
    }

    /// A request to Pinecone with the tenant's key and the API version.
    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        key: &HeaderValue,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("Api-Key", key.clone())
            .header("X-Pinecone-API-Version", API_VERSION)
    }

    /// The index's base URL; looked up through the control plane on first use.
    async fn host(&self) -> AppResult<&str> {
        match &self.index {
            IndexHost::Known(host) => Ok(host),
            IndexHost::Unset => Err(AppError::Upstream(
                "the tenant's Pinecone index is not configured: set pinecone_index_name or \
                 pinecone_index_host on the tenant, or PINECONE_INDEX_NAME on the server"
                    .into(),
            )),
            IndexHost::Lookup { url, host } => {
                let found = host
                    .get_or_try_init(|| async {
                        let key = self.api_key()?;
                        let description: IndexDescription = upstream::call_json(
                            Upstream::Pinecone,
                            "the Pinecone control plane",
                            self.timeout,
                            || self.request(reqwest::Method::GET, url, key),
                        )
                        .await?;
                        if description.host.trim().is_empty() {
                            return Err(AppError::Upstream(
                                "the Pinecone control plane returned no host for the index".into(),
                            ));
                        }
                        Ok(normalize_host(&description.host))
                    })
                    .await?;
                Ok(found)
            }
        }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> AppResult<T> {
        let key = self.api_key()?;
        let url = format!("{}{path}", self.host().await?);
        upstream::call_json(Upstream::Pinecone, SERVICE, self.timeout, || {
            self.request(reqwest::Method::POST, &url, key).json(body)
        })
        .await
    }

    async fn delete_vectors(&self, ids: &[String]) -> AppResult<()> {
        for batch in ids.chunks(DELETE_BATCH) {
            let _: Value = self
                .post(
                    "/vectors/delete",
                    &DeleteRequest {
                        ids: batch,
                        namespace: &self.namespace,
                    },
                )
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Retriever for PineconeRetriever {
    fn kind(&self) -> RetrieverKind {
        RetrieverKind::Pinecone
    }

    async fn search(&self, query: &str, top_k: usize) -> AppResult<Vec<Passage>> {
        // Fail on configuration before paying for an embedding.
        self.api_key()?;
        self.host().await?;
        let vector = self
            .embeddings
            .embed(&[query])
            .await?
            .pop()
            .ok_or_else(|| {
                AppError::Upstream("the embeddings service returned no vector".into())
            })?;
        let response: QueryResponse = self
            .post(
                "/query",
                &QueryRequest {
                    vector: &vector,
                    top_k,
                    namespace: &self.namespace,
                    include_metadata: true,
                    include_values: false,
                },
            )
            .await?;
        let mut passages: Vec<Passage> = response.matches.into_iter().map(passage).collect();
        passages.truncate(top_k);
        Ok(passages)
    }

    async fn upsert(&self, documents: &[ChunkedDocument]) -> AppResult<()> {
        self.api_key()?;
        self.host().await?;
        let texts: Vec<&str> = documents
            .iter()
            .flat_map(|d| d.chunks.iter().map(String::as_str))
            .collect();
        let mut values = self.embeddings.embed(&texts).await?.into_iter();
        let mut vectors = Vec::with_capacity(texts.len());
        for doc in documents {
            for (n, text) in doc.chunks.iter().enumerate() {
                let Some(v) = values.next() else {
                    return Err(AppError::Upstream(
                        "the embeddings service returned too few vectors".into(),
                    ));
                };
                vectors.push(Vector {
                    id: vector_id(&doc.id, n),
                    values: v,
                    metadata: pinecone_metadata(doc, n, text),
                });
            }
        }
        let ids: Vec<&str> = documents.iter().map(|d| d.id.as_str()).collect();
        let before: HashMap<String, i64> = self.store.chunk_counts(&ids).await?;
        for batch in vectors.chunks(UPSERT_BATCH) {
            let response: UpsertResponse = self
                .post(
                    "/vectors/upsert",
                    &UpsertRequest {
                        vectors: batch,
                        namespace: &self.namespace,
                    },
                )
                .await?;
            tracing::debug!(upserted = ?response.upserted_count, "pinecone upsert");
        }
        let stale: Vec<String> = documents
            .iter()
            .flat_map(|doc| {
                let old = before
                    .get(&doc.id)
                    .map_or(0, |n| usize::try_from(*n).unwrap_or(0));
                (doc.chunks.len()..old).map(|n| vector_id(&doc.id, n))
            })
            .collect();
        if !stale.is_empty() {
            self.delete_vectors(&stale).await?;
        }
        self.store.replace(documents).await
    }

    async fn list(&self, limit: i64, offset: i64) -> AppResult<Vec<DocumentSummary>> {
        self.store.list(limit, offset).await
    }

    async fn delete(&self, id: &str) -> AppResult<bool> {
        let count = self
            .store
            .chunk_counts(&[id])
            .await?
            .get(id)
            .copied()
            .unwrap_or(0);
        if count == 0 {
            return Ok(false);
        }
        let ids: Vec<String> = (0..usize::try_from(count).unwrap_or(0))
            .map(|n| vector_id(id, n))
            .collect();
        self.delete_vectors(&ids).await?;
        Ok(self.store.delete(id).await? > 0)
    }
}
