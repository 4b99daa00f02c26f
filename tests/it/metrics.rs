//! `/metrics` beyond request counts (DESIGN.md §9): tenant cache hits and misses, the database
//! pool, upstream latency and errors by upstream, requests refused by limit and by budget.
//!
//! The recorder is one per test process and tests run in parallel, so each assertion is "moved
//! by at least": a counter another test also moves cannot make these fail, and one that never
//! moves here does.

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::chat::{FakeLlm, Script};
use crate::harness::upstream::pinecone::Mode;
use crate::pinecone::setup;

/// The value of one series (`name{labels}` exactly as rendered), 0 when absent.
fn series(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").send().await;
    response.assert_status(200);
    response.text()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_tenant_cache_the_pool_refusals_and_llm_calls() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = TestApp::builder()
        .openai(&fake)
        .env("CHAT_MODEL", "gpt-test-mini")
        .build()
        .await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({"requests_per_minute": 1}))
        .await;
    app.create_tenant(&admin, "globex", json!({"monthly_token_budget": 1}))
        .await;
    let before = scrape(&app).await;

    // The first request loads the tenant (a miss), the next is served from memory (a hit), and
    // it is over acme's limit of 1 a minute.
    crate::limits::avoid_minute_boundary().await;
    let acme = app.tenant_token("acme");
    app.get("/tenant")
        .bearer(&acme)
        .send()
        .await
        .assert_status(200);
    app.get("/tenant")
        .bearer(&acme)
        .send()
        .await
        .assert_error(429, "rate_limited");

    // globex's first chat spends its budget of 1 token; the second is refused for the budget.
    let globex = app.tenant_token("globex");
    let chat = json!({"message": "Hello?"});
    app.post("/chat")
        .bearer(&globex)
        .json(&chat)
        .send()
        .await
        .assert_status(200);
    app.post("/chat")
        .bearer(&globex)
        .json(&chat)
        .send()
        .await
        .assert_error(429, "quota_exceeded");

    // An upstream error answer is counted as such.
    app.create_tenant(&admin, "initech", json!({})).await;
    fake.set_script(Script::Status(500));
    app.post("/chat")
        .bearer(&app.tenant_token("initech"))
        .json(&chat)
        .send()
        .await
        .assert_error(502, "upstream_error");

    let after = scrape(&app).await;
    let moved = |name: &str| series(&after, name) - series(&before, name);
    assert!(moved("tenant_cache_misses_total") >= 3.0, "{after}");
    assert!(moved("tenant_cache_hits_total") >= 2.0, "{after}");
    assert!(moved(r#"ratelimit_refused_total{reason="requests"}"#) >= 1.0);
    assert!(moved(r#"ratelimit_refused_total{reason="budget"}"#) >= 1.0);
    assert!(moved(r#"upstream_request_duration_seconds_count{upstream="llm"}"#) >= 2.0);
    assert!(moved(r#"upstream_errors_total{upstream="llm",kind="status"}"#) >= 1.0);

    // The pool gauges describe this app's pool at scrape time: it has opened connections.
    let in_use = series(&after, r#"db_pool_connections{state="in_use"}"#);
    let idle = series(&after, r#"db_pool_connections{state="idle"}"#);
    assert!(in_use + idle >= 1.0, "{after}");
    assert!(series(&after, "db_pool_max_size") >= in_use + idle);
    // No tenant id becomes a label.
    for tenant in ["acme", "globex", "initech"] {
        assert!(!after.contains(tenant), "a tenant id in /metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_embeddings_and_pinecone_calls_and_errors() {
    let s = setup(&[]).await;
    s.tenant("alpha").await;
    let token = s.app.tenant_token("alpha");
    let search = json!({"query": "rockets"});
    let before = scrape(&s.app).await;

    s.app
        .post("/search")
        .bearer(&token)
        .json(&search)
        .send()
        .await
        .assert_status(200);
    s.pinecone.set_mode(Mode::Fail);
    s.app
        .post("/search")
        .bearer(&token)
        .json(&search)
        .send()
        .await
        .assert_error(502, "upstream_error");
    s.pinecone.set_mode(Mode::Normal);
    s.openai.set_mode(Mode::Fail);
    s.app
        .post("/search")
        .bearer(&token)
        .json(&search)
        .send()
        .await
        .assert_error(502, "upstream_error");

    let after = scrape(&s.app).await;
    let moved = |name: &str| series(&after, name) - series(&before, name);
    assert!(moved(r#"upstream_request_duration_seconds_count{upstream="embeddings"}"#) >= 3.0);
    assert!(moved(r#"upstream_request_duration_seconds_count{upstream="pinecone"}"#) >= 2.0);
    assert!(moved(r#"upstream_errors_total{upstream="pinecone",kind="status"}"#) >= 1.0);
    assert!(moved(r#"upstream_errors_total{upstream="embeddings",kind="status"}"#) >= 1.0);
}

/// `gateway_overhead_seconds` is a chat request's duration minus its upstream wait: with an
/// upstream that takes 300 ms, the overhead leaves those 300 ms out.
#[tokio::test(flavor = "multi_thread")]
async fn gateway_overhead_leaves_out_the_upstream_wait() {
    let fake = FakeLlm::start(Script::Slow(std::time::Duration::from_millis(300))).await;
    let app = TestApp::builder()
        .openai(&fake)
        .env("CHAT_MODEL", "gpt-test-mini")
        .build()
        .await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({"retriever": "none"}))
        .await;
    let token = app.tenant_token("acme");
    let before = scrape(&app).await;
    for _ in 0..3 {
        app.post("/v1/chat/completions")
            .bearer(&token)
            .json(
                &json!({"model": "gpt-test-mini", "messages": [{"role": "user", "content": "Hi"}]}),
            )
            .send()
            .await
            .assert_status(200);
    }
    let after = scrape(&app).await;
    let moved = |name: &str| series(&after, name) - series(&before, name);
    let route = r#"route="/v1/chat/completions""#;
    assert!(
        moved(&format!("gateway_overhead_seconds_count{{{route}}}")) >= 3.0,
        "{after}"
    );
    // Other tests' requests only add their own (non-negative) upstream wait to the difference.
    let total = moved(&format!(
        "http_request_duration_seconds_sum{{method=\"POST\",{route}}}"
    ));
    let overhead = moved(&format!("gateway_overhead_seconds_sum{{{route}}}"));
    assert!(
        total - overhead >= 0.9,
        "total {total} s, overhead {overhead} s: the upstream's 3 x 300 ms are not left out"
    );
}
