//! A stand-in for Pinecone's REST data plane (and its control plane's describe-index) and one
//! for OpenAI's `/embeddings`, each recording what it receives; `Mode` makes them fail or hang.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Served;
pub const DIMENSION: usize = 64;

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Answer 500 to data-plane calls (embeddings: to every call).
    Fail,
    /// Never answer data-plane calls.
    Hang,
}

type Vectors = HashMap<String, BTreeMap<String, (Vec<f32>, Value)>>;

#[derive(Clone)]
struct Shared {
    url: Arc<Mutex<String>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    mode: Arc<Mutex<Mode>>,
    vectors: Arc<Mutex<Vectors>>,
}

/// A local HTTP server: either the Pinecone stand-in or the embeddings stand-in.
pub struct StandIn {
    pub url: String,
    shared: Shared,
    _server: Served,
}

impl StandIn {
    async fn start(handler: fn(Shared, Method, Uri, HeaderMap, Value) -> Response) -> Self {
        let shared = Shared {
            url: Arc::default(),
            requests: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Normal)),
            vectors: Arc::default(),
        };
        let state = shared.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                state.requests.lock().expect("lock").push(Recorded {
                    method: method.clone(),
                    path: uri.path().to_owned(),
                    headers: headers.clone(),
                    body: body.clone(),
                });
                let mode = *state.mode.lock().expect("lock");
                let data_plane = !uri.path().starts_with("/indexes/");
                match mode {
                    Mode::Hang if data_plane => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        StatusCode::OK.into_response()
                    }
                    Mode::Fail if data_plane => {
                        (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": {"code": "INTERNAL", "message": "stand-in failure"}})))
                            .into_response()
                    }
                    _ => handler(state, method, uri, headers, body),
                }
            }
        });
        let server = Served::start(app).await;
        let url = server.url.clone();
        *shared.url.lock().expect("lock") = url.clone();
        Self {
            url,
            shared,
            _server: server,
        }
    }

    pub async fn pinecone() -> Self {
        Self::start(pinecone_handler).await
    }

    pub async fn embeddings() -> Self {
        Self::start(embeddings_handler).await
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("lock") = mode;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn clear(&self) {
        self.shared.requests.lock().expect("lock").clear();
    }

    /// Vector ids stored in a namespace.
    pub fn ids_in(&self, namespace: &str) -> Vec<String> {
        self.shared
            .vectors
            .lock()
            .expect("lock")
            .get(namespace)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A bag-of-words embedding: similar words, similar vectors; deterministic.
fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMENSION];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        word.to_lowercase().hash(&mut h);
        v[(h.finish() % DIMENSION as u64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / norm).collect()
}

fn embeddings_handler(_: Shared, method: Method, uri: Uri, _: HeaderMap, body: Value) -> Response {
    if method != Method::POST || uri.path() != "/v1/embeddings" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => return (StatusCode::BAD_REQUEST, "input missing").into_response(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": embed(text)}))
        .collect();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()},
    }))
    .into_response()
}

fn pinecone_handler(
    shared: Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Value,
) -> Response {
    let path = uri.path();
    if headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|k| k.contains("wrong"))
    {
        let error = json!({"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    let namespace = body["namespace"].as_str().unwrap_or_default().to_owned();
    match (method, path) {
        (Method::GET, p) if p.starts_with("/indexes/") => {
            let name = p.trim_start_matches("/indexes/");
            let host = shared.url.lock().expect("lock").clone();
            axum::Json(json!({
                "name": name, "dimension": DIMENSION, "metric": "cosine", "host": host,
                "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
                "status": {"ready": true, "state": "Ready"}, "deletion_protection": "disabled",
            }))
            .into_response()
        }
        (Method::POST, "/vectors/upsert") => {
            let vectors = body["vectors"].as_array().cloned().unwrap_or_default();
            let mut store = shared.vectors.lock().expect("lock");
            let space = store.entry(namespace).or_default();
            for v in &vectors {
                let values: Vec<f32> = v["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_f64())
                            .map(|x| x as f32)
                            .collect()
                    })
                    .unwrap_or_default();
                space.insert(
                    v["id"].as_str().unwrap_or_default().to_owned(),
                    (values, v["metadata"].clone()),
                );
            }
            axum::Json(json!({"upsertedCount": vectors.len()})).into_response()
        }
        (Method::POST, "/vectors/delete") => {
            let mut store = shared.vectors.lock().expect("lock");
            if let Some(space) = store.get_mut(&namespace) {
                for id in body["ids"].as_array().cloned().unwrap_or_default() {
                    space.remove(id.as_str().unwrap_or_default());
                }
            }
            axum::Json(json!({})).into_response()
        }
        (Method::POST, "/query") => {
            let query: Vec<f32> = body["vector"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_f64())
                        .map(|x| x as f32)
                        .collect()
                })
                .unwrap_or_default();
            let top_k = body["topK"].as_u64().unwrap_or(10) as usize;
            let store = shared.vectors.lock().expect("lock");
            let mut matches: Vec<(f32, String, Value)> = store
                .get(&namespace)
                .map(|space| {
                    space
                        .iter()
                        .map(|(id, (values, metadata))| {
                            let score = values.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>();
                            (score, id.clone(), metadata.clone())
                        })
                        .filter(|(score, _, _)| *score > 0.0)
                        .collect()
                })
                .unwrap_or_default();
            matches.sort_by(|a, b| b.0.total_cmp(&a.0));
            matches.truncate(top_k);
            let include_metadata = body["includeMetadata"].as_bool().unwrap_or(false);
            let matches: Vec<Value> = matches
                .into_iter()
                .map(|(score, id, metadata)| {
                    let mut m = json!({"id": id, "score": score, "values": []});
                    if include_metadata {
                        m["metadata"] = metadata;
                    }
                    m
                })
                .collect();
            axum::Json(json!({"results": [], "matches": matches, "namespace": namespace, "usage": {"readUnits": 5}}))
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
