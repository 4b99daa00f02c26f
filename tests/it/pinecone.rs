//! The Pinecone retriever against local stand-ins speaking Pinecone's REST data plane (and its
//! control plane's describe-index) and OpenAI's `/embeddings`, each recording what it receives.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api_key_for;
use crate::harness::upstream::pinecone::{DIMENSION, Mode, StandIn};

const OPENAI_KEY: &str = "sk-test-upstream-embeddings-0001";

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
