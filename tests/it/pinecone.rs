//! The Pinecone retriever against local stand-ins speaking Pinecone's REST data plane (and its
//! control plane's describe-index) and OpenAI's `/embeddings`, each recording what it receives.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::documents::api_key_for;
use crate::harness::TestApp;

const OPENAI_KEY: &str = "sk-test-upstream-embeddings-0001";
const DIMENSION: usize = 64;

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
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        *shared.url.lock().expect("lock") = url.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared, task }
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

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) pinecone: StandIn,
    pub(crate) openai: StandIn,
    pub(crate) admin: String,
}

pub(crate) async fn setup(extra_env: &[(&str, &str)]) -> Setup {
    let pinecone = StandIn::pinecone().await;
    let openai = StandIn::embeddings().await;
    let mut builder = TestApp::builder()
        .env("OPENAI_BASE_URL", &format!("{}/v1", openai.url))
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("EMBEDDING_MODEL", "test-embedding-small")
        .env("PINECONE_API_URL", &pinecone.url);
    for (k, v) in extra_env {
        builder = builder.env(k, v);
    }
    let app = builder.build().await;
    let admin = app.superuser_token().await;
    Setup {
        app,
        pinecone,
        openai,
        admin,
    }
}

fn pinecone_key(tenant: &str) -> String {
    format!("pcsk-test-{tenant}-0123456789abcdef")
}

impl Setup {
    /// A Pinecone tenant on the stand-in's host (a full http URL), with its own key and namespace.
    pub(crate) async fn tenant(&self, id: &str) -> String {
        self.app
            .create_tenant(
                &self.admin,
                id,
                json!({
                    "pinecone_api_key": pinecone_key(id),
                    "pinecone_index_host": self.pinecone.url,
                    "pinecone_namespace": format!("ns-{id}"),
                }),
            )
            .await;
        api_key_for(&self.app, id).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_uses_its_own_key_and_namespace() {
    let s = setup(&[]).await;
    let keys = [s.tenant("alpha").await, s.tenant("beta").await];
    for (tenant, key) in ["alpha", "beta"].iter().zip(&keys) {
        let response = s
            .app
            .post("/documents")
            .api_key(key)
            .json(&json!({"documents": [
                {"id": "manual", "title": format!("{tenant} manual"), "text": format!("The {tenant} rocket manual explains launches."), "source": "manual.md", "metadata": {"tags": ["a", "b"], "nested": {"x": 1}, "skip": null}},
                {"id": "menu", "text": format!("The {tenant} cafeteria menu lists soup.")},
            ]}))
            .send()
            .await;
        response.assert_status(201);
        assert_eq!(
            response.json(),
            json!({"ids": ["manual", "menu"], "chunks": 2})
        );
    }

    // Upserts: the tenant's decrypted key, its namespace, the API version, the passage fields.
    let upserts = s.pinecone.requests_to("/vectors/upsert");
    assert_eq!(upserts.len(), 2);
    for (request, tenant) in upserts.iter().zip(["alpha", "beta"]) {
        assert_eq!(request.method, Method::POST);
        assert_eq!(
            request.header("api-key"),
            Some(pinecone_key(tenant).as_str())
        );
        assert_eq!(request.header("x-pinecone-api-version"), Some("2025-04"));
        assert_eq!(request.body["namespace"], format!("ns-{tenant}"));
        let vectors = request.body["vectors"].as_array().expect("vectors");
        assert_eq!(vectors.len(), 2);
        assert_eq!(vectors[0]["id"], "manual#0");
        assert_eq!(
            vectors[0]["values"].as_array().expect("values").len(),
            DIMENSION
        );
        let metadata = &vectors[0]["metadata"];
        assert_eq!(
            metadata["text"],
            format!("The {tenant} rocket manual explains launches.")
        );
        assert_eq!(metadata["title"], format!("{tenant} manual"));
        assert_eq!(metadata["source"], "manual.md");
        assert_eq!(metadata["document_id"], "manual");
        assert_eq!(metadata["tags"], json!(["a", "b"]));
        assert_eq!(
            metadata["nested"], "{\"x\":1}",
            "Pinecone metadata is flat: objects become JSON text"
        );
        assert!(metadata.get("skip").is_none(), "nulls are not sent");
    }
    // Embeddings: the server's own key, the configured model, never a caller's credential.
    let embeddings = s.openai.requests_to("/v1/embeddings");
    assert!(!embeddings.is_empty());
    for request in &embeddings {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {OPENAI_KEY}").as_str())
        );
        assert_eq!(request.body["model"], "test-embedding-small");
        assert!(request.header("x-api-key").is_none());
    }

    // Searches: each tenant its own namespace and key, and passages from the metadata.
    s.pinecone.clear();
    for (tenant, key) in ["alpha", "beta"].iter().zip(&keys) {
        let response = s
            .app
            .post("/search")
            .api_key(key)
            .json(&json!({"query": "rocket launches", "top_k": 3}))
            .send()
            .await;
        response.assert_status(200);
        let body = response.json();
        let first = &body["matches"][0];
        assert_eq!(first["id"], "manual");
        assert_eq!(first["title"], format!("{tenant} manual"));
        assert_eq!(first["source"], "manual.md");
        assert_eq!(
            first["text"],
            format!("The {tenant} rocket manual explains launches.")
        );
        assert_eq!(first["metadata"]["tags"], json!(["a", "b"]));
        assert!(first["metadata"].get("text").is_none());
        assert!(first["score"].as_f64().expect("score") > 0.0);
        for m in body["matches"].as_array().expect("array") {
            assert!(
                m["text"].as_str().expect("text").contains(tenant),
                "{tenant} got {m}"
            );
        }
    }
    let queries = s.pinecone.requests_to("/query");
    assert_eq!(queries.len(), 2);
    for (request, tenant) in queries.iter().zip(["alpha", "beta"]) {
        assert_eq!(
            request.header("api-key"),
            Some(pinecone_key(tenant).as_str())
        );
        assert_eq!(request.header("x-pinecone-api-version"), Some("2025-04"));
        assert_eq!(request.body["namespace"], format!("ns-{tenant}"));
        assert_eq!(request.body["topK"], 3);
        assert_eq!(request.body["includeMetadata"], true);
        assert_eq!(
            request.body["vector"].as_array().expect("vector").len(),
            DIMENSION
        );
    }

    // The catalogue lists and deletes exactly; deletion removes the document's vectors.
    let list = s
        .app
        .get("/documents")
        .api_key(&keys[0])
        .send()
        .await
        .json();
    assert_eq!(list["documents"].as_array().expect("array").len(), 2);
    s.app
        .delete("/documents/manual")
        .api_key(&keys[0])
        .send()
        .await
        .assert_status(204);
    let deletes = s.pinecone.requests_to("/vectors/delete");
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].body,
        json!({"ids": ["manual#0"], "namespace": "ns-alpha"})
    );
    assert_eq!(
        deletes[0].header("api-key"),
        Some(pinecone_key("alpha").as_str())
    );
    assert_eq!(s.pinecone.ids_in("ns-alpha"), vec!["menu#0"]);
    assert_eq!(s.pinecone.ids_in("ns-beta"), vec!["manual#0", "menu#0"]);
    s.app
        .delete("/documents/manual")
        .api_key(&keys[0])
        .send()
        .await
        .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shorter_new_version_removes_leftover_chunks() {
    let s = setup(&[]).await;
    let key = s.tenant("alpha").await;
    let long = "Rockets need fuel and careful planning before every launch. ".repeat(60);
    let first = s
        .app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"id": "big", "text": long}]}))
        .send()
        .await;
    first.assert_status(201);
    let chunks = first.json()["chunks"].as_u64().expect("chunks") as usize;
    assert!(chunks >= 3);
    assert_eq!(s.pinecone.ids_in("ns-alpha").len(), chunks);
    s.app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"id": "big", "text": "Now short."}]}))
        .send()
        .await
        .assert_status(201);
    assert_eq!(s.pinecone.ids_in("ns-alpha"), vec!["big#0"]);
    let deleted = &s.pinecone.requests_to("/vectors/delete")[0].body["ids"];
    assert_eq!(deleted.as_array().expect("ids").len(), chunks - 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_host_is_looked_up_once_from_its_name() {
    let s = setup(&[]).await;
    s.app
        .create_tenant(
            &s.admin,
            "named",
            json!({"pinecone_api_key": pinecone_key("named"), "pinecone_index_name": "docs-index"}),
        )
        .await;
    // The creation's NOTIFY comes back through this replica's listener too and drops the
    // cached context (a rebuilt context looks the host up again, rightly); let it arrive first.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let token = s.app.tenant_token("named");
    // `/tenant` needs no lookup: the control plane is asked on first use only.
    s.app
        .get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    assert!(s.pinecone.requests().is_empty());
    for _ in 0..3 {
        s.app
            .post("/search")
            .bearer(&token)
            .json(&json!({"query": "anything"}))
            .send()
            .await
            .assert_status(200);
    }
    let lookups = s.pinecone.requests_to("/indexes/docs-index");
    assert_eq!(lookups.len(), 1, "one lookup per tenant context");
    assert_eq!(lookups[0].method, Method::GET);
    assert_eq!(
        lookups[0].header("api-key"),
        Some(pinecone_key("named").as_str())
    );
    assert_eq!(lookups[0].header("x-pinecone-api-version"), Some("2025-04"));
    let queries = s.pinecone.requests_to("/query");
    assert_eq!(
        queries.len(),
        3,
        "queries went to the host the control plane named"
    );
    assert_eq!(
        queries[0].body["namespace"], "",
        "no namespace configured: the default one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failures_are_502_with_a_clear_detail() {
    let s = setup(&[]).await;
    let key = s.tenant("alpha").await;
    let token = s.app.tenant_token("alpha");
    s.pinecone.set_mode(Mode::Fail);
    let search = s
        .app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "rockets"}))
        .send()
        .await;
    search.assert_error(502, "upstream_error");
    let detail = search.json()["detail"].as_str().expect("detail").to_owned();
    assert!(
        detail.contains("Pinecone") && detail.contains("500"),
        "{detail}"
    );
    assert!(
        !detail.contains("pcsk-test-") && !detail.contains(&s.pinecone.url),
        "{detail}"
    );
    assert_eq!(
        s.pinecone.requests_to("/query").len(),
        3,
        "an idempotent query is retried twice"
    );

    let ingest = s
        .app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"id": "d", "text": "rockets"}]}))
        .send()
        .await;
    ingest.assert_error(502, "upstream_error");
    let list = s.app.get("/documents").api_key(&key).send().await.json();
    assert_eq!(
        list["documents"],
        json!([]),
        "a failed upsert stores nothing"
    );

    // The embeddings service failing is an upstream error too, and Pinecone is not called.
    s.pinecone.set_mode(Mode::Normal);
    s.pinecone.clear();
    s.openai.set_mode(Mode::Fail);
    let search = s
        .app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "rockets"}))
        .send()
        .await;
    search.assert_error(502, "upstream_error");
    assert!(
        search.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("embeddings")
    );
    assert!(s.pinecone.requests_to("/query").is_empty());

    // A tenant key Pinecone refuses: said plainly, and not retried.
    s.openai.set_mode(Mode::Normal);
    s.app
        .create_tenant(
            &s.admin,
            "badkey",
            json!({"pinecone_api_key": "pcsk-test-wrong", "pinecone_index_host": s.pinecone.url}),
        )
        .await;
    s.pinecone.clear();
    let refused = s
        .app
        .post("/search")
        .bearer(&s.app.tenant_token("badkey"))
        .json(&json!({"query": "x"}))
        .send()
        .await;
    refused.assert_error(502, "upstream_error");
    assert!(
        refused.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("refused the credentials (HTTP 401)")
    );
    assert_eq!(s.pinecone.requests_to("/query").len(), 1);

    // An index nobody answers at.
    s.app
        .create_tenant(
            &s.admin,
            "nowhere",
            json!({"pinecone_api_key": "pcsk-test-x", "pinecone_index_host": "http://127.0.0.1:9"}),
        )
        .await;
    let unreachable = s
        .app
        .post("/search")
        .bearer(&s.app.tenant_token("nowhere"))
        .json(&json!({"query": "x"}))
        .send()
        .await;
    unreachable.assert_error(502, "upstream_error");
    assert!(
        unreachable.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("could not be reached")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_upstream_is_504() {
    let s = setup(&[("UPSTREAM_TIMEOUT_SECONDS", "1")]).await;
    s.tenant("alpha").await;
    let token = s.app.tenant_token("alpha");
    s.pinecone.set_mode(Mode::Hang);
    let started = Instant::now();
    let response = s
        .app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "rockets"}))
        .send()
        .await;
    response.assert_error(504, "upstream_timeout");
    assert!(
        response.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("Pinecone did not answer within 1s")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        s.pinecone.requests_to("/query").len(),
        1,
        "a timed-out call is not retried"
    );

    s.pinecone.set_mode(Mode::Normal);
    s.openai.set_mode(Mode::Hang);
    let response = s
        .app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "rockets"}))
        .send()
        .await;
    response.assert_error(504, "upstream_timeout");
}
