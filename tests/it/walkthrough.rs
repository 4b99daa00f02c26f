//! The deployer's walkthrough of the Python original, run as written: trailing slashes, the
//! exact tenant body, the psql promotion, a tenant user's token on `/tenant`, `/search` and
//! `/chat` against local stand-ins of Pinecone and OpenAI; and the admin API's answers to what
//! a newcomer gets wrong (unknown fields, another id).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::Method;
use axum::routing::post;
use serde_json::{Value, json};
use tenantgate::http::router::ROUTES;

use crate::harness::upstream::Served;
use crate::harness::upstream::pinecone::StandIn;
use crate::harness::{PASSWORD, TestApp, cli};

/// The tenant body of the walkthrough, exactly (no index name, no host, no retriever).
fn walkthrough_body() -> Value {
    json!({
        "id": "client_a",
        "name": "Client A Full Name",
        "pinecone_environment": "us-east-1-aws",
        "pinecone_api_key": "pcsk-test-client_a-0123456789abcdef",
        "system_prompt": "You are Client A's assistant."
    })
}

/// A concrete path for a route template.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{key_id}" => "00000000-0000-0000-0000-000000000000",
            s if s.starts_with('{') => "nosuch",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every route of `router::ROUTES`, with and without a trailing slash, answers the same status
/// and error code, for an anonymous caller and for a superuser.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_the_same_with_a_trailing_slash() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    for (method, template) in ROUTES.iter() {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let path = concrete(template);
        for token in [None, Some(admin.as_str())] {
            let send = |path: String| {
                let mut request = app.request(method.clone(), &path);
                if let Some(token) = token {
                    request = request.bearer(token);
                }
                if method != Method::GET && method != Method::DELETE {
                    request = request.json(&json!({}));
                }
                request.send()
            };
            let plain = send(path.clone()).await;
            let slashed = send(format!("{path}/")).await;
            assert_eq!(
                plain.status,
                slashed.status,
                "{method} {path} vs {path}/: {} / {}",
                plain.text(),
                slashed.text()
            );
            if plain.status.is_client_error() {
                // The same error, not a "no such route" 404 for the slashed path.
                assert_eq!(plain.json(), slashed.json(), "{method} {path}");
            }
        }
    }
    // A query string survives the trimming.
    app.create_tenant(&admin, "kept", json!({})).await;
    app.delete("/admin/tenants/kept/")
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);
    let active: Value = app
        .get("/admin/tenants/?include_inactive=false")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(active, json!([]));
    // Unknown paths are still 404 with the contract's body.
    app.get("/nosuch/")
        .send()
        .await
        .assert_error(404, "not_found");
}

/// With neither an index on the tenant nor `PINECONE_INDEX_NAME`, the walkthrough body still
/// creates the tenant; retrieval then answers 502 naming what to set.
#[tokio::test(flavor = "multi_thread")]
async fn the_walkthrough_body_is_valid_without_any_index_setting() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let created = app
        .post("/admin/tenants/")
        .bearer(&admin)
        .json(&walkthrough_body())
        .send()
        .await;
    created.assert_status(201);
    let tenant = created.json();
    assert_eq!(tenant["retriever"], "pinecone");
    assert_eq!(tenant["has_pinecone_api_key"], true);
    assert_eq!(tenant["pinecone_environment"], "us-east-1-aws");
    assert_eq!(tenant["pinecone_index_name"], Value::Null);
    let token = app.tenant_token("client_a");
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    let search = app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "hello"}))
        .send()
        .await;
    search.assert_error(502, "upstream_error");
    let detail = search.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for named in [
        "PINECONE_INDEX_NAME",
        "pinecone_index_name",
        "pinecone_index_host",
    ] {
        assert!(detail.contains(named), "detail names {named}: {detail}");
    }
    // An explicit pinecone retriever still needs a key: that sentence reads as one.
    let keyless = app
        .post("/admin/tenants")
        .bearer(&admin)
        .json(&json!({"id": "keyless", "name": "K", "retriever": "pinecone"}))
        .send()
        .await;
    keyless.assert_error(422, "validation_error");
    assert_eq!(keyless.json()["errors"][0]["field"], "pinecone_api_key");
}

/// `PUT`/`PATCH`: a misspelt field is refused by name, another `id` is refused, and a tenant
/// read and sent back unchanged (read-only fields included) is still accepted.
#[tokio::test(flavor = "multi_thread")]
async fn tenant_updates_refuse_unknown_fields_and_another_id() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let tenant = app
        .create_tenant(&admin, "typo", json!({"system_prompt": "old"}))
        .await;
    for method in [Method::PUT, Method::PATCH] {
        let unknown = app
            .request(method.clone(), "/admin/tenants/typo")
            .bearer(&admin)
            .json(&json!({"nmae": "typo"}))
            .send()
            .await;
        unknown.assert_error(422, "validation_error");
        assert_eq!(unknown.json()["errors"][0]["field"], "nmae", "{method}");
        let moved = app
            .request(method.clone(), "/admin/tenants/typo")
            .bearer(&admin)
            .json(&json!({"id": "other", "name": "Renamed"}))
            .send()
            .await;
        moved.assert_error(422, "validation_error");
        assert_eq!(moved.json()["errors"][0]["field"], "id", "{method}");
    }
    let unchanged: Value = app
        .get("/admin/tenants/typo")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(unchanged["name"], tenant["name"]);
    assert_eq!(
        unchanged["version"], tenant["version"],
        "nothing was written"
    );
    let mut sent_back = unchanged.clone();
    sent_back["name"] = json!("Renamed");
    let updated = app
        .put("/admin/tenants/typo")
        .bearer(&admin)
        .json(&sent_back)
        .send()
        .await;
    updated.assert_status(200);
    assert_eq!(updated.json()["name"], "Renamed");
}

/// A stand-in for OpenAI's `/embeddings` and `/chat/completions`: every text embeds to the
/// same vector (so every stored passage matches), every chat answers one sentence.
async fn openai_stand_in(chat_calls: Arc<AtomicUsize>) -> Served {
    let app = Router::new()
        .route(
            "/v1/embeddings",
            post(|axum::Json(body): axum::Json<Value>| async move {
                let inputs = match &body["input"] {
                    Value::Array(items) => items.len(),
                    _ => 1,
                };
                let data: Vec<Value> = (0..inputs)
                    .map(|i| json!({"object": "embedding", "index": i, "embedding": vec![0.125_f32; 64]}))
                    .collect();
                axum::Json(json!({
                    "object": "list", "data": data, "model": body["model"],
                    "usage": {"prompt_tokens": 3, "total_tokens": 3}
                }))
            }),
        )
        .route(
            "/v1/chat/completions",
            post(move |axum::Json(body): axum::Json<Value>| {
                let calls = chat_calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({
                        "id": "chatcmpl-walkthrough", "object": "chat.completion", "created": 1,
                        "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "Client A answers."}}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
                    }))
                }
            }),
        );
    Served::start(app).await
}

/// The walkthrough, step by step, over real HTTP as curl would send it.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployers_walkthrough_runs_as_written() {
    let pinecone = StandIn::pinecone().await;
    let chat_calls = Arc::new(AtomicUsize::new(0));
    let openai = openai_stand_in(chat_calls.clone()).await;
    let mut app = TestApp::builder()
        .env("OPENAI_BASE_URL", &format!("{}/v1", openai.url))
        .env("OPENAI_API_KEY", "sk-test-walkthrough-upstream")
        .env("PINECONE_API_URL", &pinecone.url)
        .env("PINECONE_INDEX_NAME", "walkthrough-index")
        .env(
            "BACKEND_CORS_ORIGINS",
            r#"["https://a.com","https://b.com"]"#,
        )
        .build()
        .await;
    let base = format!("http://{}", app.spawn_server().await);
    let http = reqwest::Client::new();

    // Step 2: run migrations (`alembic upgrade head` in the original).
    let migrated = cli::ok(&app.db.url, &["migrate"], "");
    assert!(migrated.contains("up to date"), "{migrated}");

    // Step 3: make an admin: a user, then the original's psql promotion.
    let email = "admin@client-a.example";
    cli::ok(
        &app.db.url,
        &["users", "create", "--email", email, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let login = |email: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = http
                .post(format!("{base}/auth/token/"))
                .form(&[("username", email), ("password", PASSWORD)])
                .send()
                .await
                .expect("login");
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("token json");
            body["access_token"].as_str().expect("token").to_owned()
        }
    };
    // Before the promotion the user is refused, which warms the gateway's view of them.
    let before = login(email).await;
    let refused = http
        .get(format!("{base}/admin/tenants/"))
        .bearer_auth(&before)
        .send()
        .await
        .expect("list before promotion");
    assert_eq!(refused.status(), 403);
    let (client, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .expect("psql");
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE users SET is_superuser = true WHERE email = $1",
            &[&email],
        )
        .await
        .expect("promote");

    // The promotion takes effect within a second, not after a cache's lifetime.
    let promoted_at = std::time::Instant::now();
    let admin = loop {
        let admin = login(email).await;
        let status = http
            .get(format!("{base}/admin/tenants/"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("list after promotion")
            .status();
        if status == 200 {
            break admin;
        }
        assert!(
            promoted_at.elapsed() < std::time::Duration::from_secs(1),
            "the psql promotion had not taken effect after a second ({status})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    // Step 4: create the tenant with the exact body.
    let created = http
        .post(format!("{base}/admin/tenants/"))
        .bearer_auth(&admin)
        .json(&walkthrough_body())
        .send()
        .await
        .expect("create tenant");
    assert_eq!(created.status(), 201);
    let listed: Value = http
        .get(format!("{base}/admin/tenants/"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["id"], "client_a");

    // Step 5: tenant_id in JWTs: a user of the tenant logs in.
    let user = http
        .post(format!("{base}/admin/users/"))
        .bearer_auth(&admin)
        .json(&json!({"email": "user@client-a.example", "password": PASSWORD, "tenant_id": "client_a"}))
        .send()
        .await
        .expect("create user");
    assert_eq!(user.status(), 201);
    let token = login("user@client-a.example").await;

    // Documents go in with the tenant's API key (into the server-wide index).
    let key: Value = http
        .post(format!("{base}/admin/tenants/client_a/api-keys/"))
        .bearer_auth(&admin)
        .json(&json!({"name": "ingest"}))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    let key = key["key"].as_str().expect("key").to_owned();
    let stored = http
        .post(format!("{base}/documents/"))
        .header("x-api-key", &key)
        .json(&json!({"documents": [{"id": "refunds", "title": "Refunds", "text": "Refunds take five days."}]}))
        .send()
        .await
        .expect("documents");
    assert_eq!(stored.status(), 201);

    let tenant: Value = http
        .get(format!("{base}/tenant/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("tenant")
        .json()
        .await
        .expect("json");
    assert_eq!(tenant["id"], "client_a");
    assert_eq!(tenant["system_prompt"], "You are Client A's assistant.");

    let search = http
        .post(format!("{base}/search/"))
        .bearer_auth(&token)
        .json(&json!({"query": "how long do refunds take?"}))
        .send()
        .await
        .expect("search");
    assert_eq!(search.status(), 200);
    let search: Value = search.json().await.expect("json");
    assert_eq!(search["matches"][0]["id"], "refunds");
    assert_eq!(search["matches"][0]["text"], "Refunds take five days.");
    assert_eq!(
        pinecone.requests_to("/indexes/walkthrough-index").len(),
        1,
        "the server-wide index was looked up"
    );

    let chat = http
        .post(format!("{base}/chat/"))
        .bearer_auth(&token)
        .json(&json!({"message": "how long do refunds take?"}))
        .send()
        .await
        .expect("chat");
    assert_eq!(chat.status(), 200);
    let chat: Value = chat.json().await.expect("json");
    assert_eq!(chat["answer"], "Client A answers.");
    assert_eq!(chat["sources"][0]["id"], "refunds");
    assert_eq!(chat_calls.load(Ordering::SeqCst), 1);

    // Step 6: CORS for the listed frontends, none for others.
    for (origin, allowed) in [("https://b.com", true), ("https://evil.example", false)] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, format!("{base}/chat/"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .expect("preflight");
        assert_eq!(
            preflight
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            allowed.then_some(origin),
            "{origin}"
        );
    }
}
