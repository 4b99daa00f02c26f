//! What one tenant may take of the database through retrieval: the text that reaches
//! full-text search is capped on every route, each retrieval query has a statement timeout,
//! and one tenant flooding slow searches cannot hold the whole pool.

use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api_key_for;

#[tokio::test(flavor = "multi_thread")]
async fn huge_chat_messages_are_clipped_before_full_text_search() {
    let app = TestApp::new().await;
    let key = app.tenant_with_key("acme").await;
    app.post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"id": "w", "text": "w1 w2 w3 and other words"}]}))
        .send()
        .await
        .assert_status(201);
    // 60 KB of `w1 w1 …` once exceeded Postgres' stack depth; 1.9 MB made a tsquery too big.
    for message in ["w1 ".repeat(20_000), "w1 w2 ".repeat(320_000)] {
        let started = Instant::now();
        let answer = app
            .post("/chat")
            .api_key(&key)
            .json(&json!({"message": message}))
            .send()
            .await;
        answer.assert_status(200);
        assert_eq!(answer.json()["sources"][0]["id"], "w");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

/// Makes every search of `tenant` take `seconds` in Postgres (a row-level security policy
/// that sleeps on its rows), in this test's own database only.
async fn make_searches_slow(app: &TestApp, tenant: &str, seconds: f64) {
    let mut conn = app.conn().await;
    diesel::sql_query(format!(
        "CREATE FUNCTION test_slow_rows(tid text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS \
         $$ BEGIN IF tid = '{tenant}' THEN PERFORM pg_sleep({seconds}); END IF; RETURN true; END $$"
    ))
    .execute(&mut conn)
    .await
    .expect("slow function");
    diesel::sql_query(
        "ALTER POLICY documents_tenant_isolation ON documents \
         USING (tenant_id = current_setting('tenantgate.tenant_id', TRUE) \
                AND test_slow_rows(tenant_id))",
    )
    .execute(&mut conn)
    .await
    .expect("slow policy");
}

async fn ingest_one(app: &TestApp, key: &str) {
    app.post("/documents")
        .api_key(key)
        .json(&json!({"documents": [{"id": "d", "text": "anvils and rocket skates"}]}))
        .send()
        .await
        .assert_status(201);
}

#[tokio::test(flavor = "multi_thread")]
async fn retrieval_queries_have_a_statement_timeout() {
    let app = TestApp::builder()
        .env("RETRIEVAL_STATEMENT_TIMEOUT_MS", "300")
        .build()
        .await;
    let key = app.tenant_with_key("slow").await;
    ingest_one(&app, &key).await;
    make_searches_slow(&app, "slow", 5.0).await;
    let started = Instant::now();
    let answer = app
        .post("/search")
        .api_key(&key)
        .json(&json!({"query": "anvils"}))
        .send()
        .await;
    answer.assert_error(504, "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the search ran {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_flooding_slow_searches_leaves_connections_for_others() {
    let app = TestApp::builder()
        .env("DATABASE_POOL_SIZE", "4")
        .env("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")
        .env("RETRIEVAL_STATEMENT_TIMEOUT_MS", "20000")
        .build()
        .await;
    app.seed_tenant("flood", None).await;
    app.seed_tenant("calm", None).await;
    let flood_key = api_key_for(&app, "flood").await;
    let calm_key = api_key_for(&app, "calm").await;
    ingest_one(&app, &flood_key).await;
    ingest_one(&app, &calm_key).await;
    make_searches_slow(&app, "flood", 4.0).await;
    // Warm both tenant contexts so the comparison is about searches alone.
    app.get("/tenant")
        .api_key(&flood_key)
        .send()
        .await
        .assert_status(200);
    app.get("/tenant")
        .api_key(&calm_key)
        .send()
        .await
        .assert_status(200);

    let mut flood = Vec::new();
    for _ in 0..8 {
        let router = app.router.clone();
        let key = flood_key.clone();
        flood.push(tokio::spawn(
            async move { search_with_key(&router, &key).await },
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let calm = app
            .post("/search")
            .api_key(&calm_key)
            .json(&json!({"query": "anvils"}))
            .send()
            .await;
        calm.assert_status(200);
        assert_eq!(calm.json()["matches"][0]["id"], "d");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    for task in flood {
        task.abort();
    }
}

async fn search_with_key(router: &axum::Router, key: &str) -> axum::http::StatusCode {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/search")
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(axum::body::Body::from(r#"{"query": "anvils"}"#))
        .expect("request");
    router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
}

/// 60 KB of `w1 w1 …` once gave 500 "stack depth limit exceeded", 1.9 MB 500 "value is too big
/// in tsquery" with the whole message in the log line. On every route that searches: no 5xx,
/// and no log line holds more than a clip of the message.
#[tokio::test]
async fn huge_repetitive_messages_never_fail_any_search_route_nor_flood_the_log() {
    use crate::harness::chat::{FakeLlm, Script};
    let log = crate::harness::logs::capture();
    let llm = FakeLlm::start(Script::Reply).await;
    let app = TestApp::builder().openai(&llm).build().await;
    let key = app.tenant_with_key("acme").await;
    ingest_one(&app, &key).await;
    for message in ["w1 ".repeat(20_000), "w1 ".repeat(633_000)] {
        let bodies = [
            ("/chat", json!({"message": message})),
            (
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": message}]}),
            ),
            ("/search", json!({"query": message})),
        ];
        for (path, body) in bodies {
            let started = Instant::now();
            let answer = app.post(path).api_key(&key).json(&body).send().await;
            let status = answer.status.as_u16();
            // `/search` refuses queries over its cap (422); the chat routes clip and answer.
            let expected: &[u16] = if path == "/search" {
                &[200, 422]
            } else {
                &[200]
            };
            assert!(
                expected.contains(&status),
                "{path} with {} bytes: {status} {}",
                message.len(),
                answer.text().chars().take(300).collect::<String>()
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{path}: {:?}",
                started.elapsed()
            );
        }
    }
    let text = log.text();
    assert!(text.contains("request"), "the capture sees the requests");
    assert!(
        !text.contains(&"w1 ".repeat(2_000)),
        "a log line holds (nearly) the whole message"
    );
}
