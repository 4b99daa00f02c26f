//! Request limits per tenant and per API key (DESIGN.md §9): counted locally, or in Redis for
//! all replicas together, and locally again while Redis is away.

use std::time::Duration;

use serde_json::json;

use crate::harness::outage::Outage;
use crate::harness::{TestApp, TestResponse};

const REDIS: &str = "redis://127.0.0.1:6379";

/// Keeps a test's requests inside one minute of the counter (a window that turns mid-test
/// would let part of the previous minute decay).
pub(crate) async fn avoid_minute_boundary() {
    let ms = tenantgate::limits::window::split(
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("ms"),
    )
    .1;
    if ms > 50_000 {
        tokio::time::sleep(Duration::from_millis(60_500 - ms)).await;
    }
}

fn prefix() -> String {
    format!("tgtest:{}:", uuid::Uuid::new_v4().simple())
}

fn header<'a>(response: &'a TestResponse, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_after_the_limit_is_refused_with_openai_headers() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let tenant = app
        .create_tenant(&admin, "acme", json!({"requests_per_minute": 3}))
        .await;
    assert_eq!(tenant["requests_per_minute"], 3);
    assert!(tenant["monthly_token_budget"].is_null());
    let token = app.tenant_token("acme");
    avoid_minute_boundary().await;
    for remaining in ["2", "1", "0"] {
        let response = app.get("/tenant").bearer(&token).send().await;
        response.assert_status(200);
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), "3");
        assert_eq!(
            header(&response, "x-ratelimit-remaining-requests"),
            remaining
        );
        assert!(header(&response, "x-ratelimit-reset-requests").ends_with('s'));
    }
    let refused = app.get("/tenant").bearer(&token).send().await;
    refused.assert_error(429, "rate_limited");
    let retry: u64 = header(&refused, "retry-after").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header(&refused, "x-ratelimit-remaining-requests"), "0");
    // Every tenant route counts, not only /tenant.
    app.post("/search")
        .bearer(&token)
        .json(&json!({"query": "x"}))
        .send()
        .await
        .assert_error(429, "rate_limited");

    // Raising the limit takes effect at once; clearing it falls back to the server default
    // (none here: unlimited, no headers).
    app.patch("/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"requests_per_minute": null}))
        .send()
        .await
        .assert_status(200);
    let free = app.get("/tenant").bearer(&token).send().await;
    free.assert_status(200);
    assert!(free.headers.get("x-ratelimit-limit-requests").is_none());

    for bad in [json!(0), json!(-1), json!("many"), json!(5_000_000_000_i64)] {
        app.patch("/admin/tenants/acme")
            .bearer(&admin)
            .json(&json!({"requests_per_minute": bad}))
            .send()
            .await
            .assert_error(422, "validation_error");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_has_its_own_limit_and_tenants_get_the_default() {
    let app = TestApp::builder()
        .env("TENANT_REQUESTS_PER_MINUTE", "5")
        .build()
        .await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let created = app
        .post("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .json(&json!({"name": "worker", "requests_per_minute": 2}))
        .send()
        .await;
    created.assert_status(201);
    assert_eq!(created.json()["requests_per_minute"], 2);
    let key = created.json()["key"].as_str().expect("key").to_owned();
    let listed = app
        .get("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(listed.json()[0]["requests_per_minute"], 2);

    avoid_minute_boundary().await;
    for remaining in ["1", "0"] {
        let response = app.get("/tenant").api_key(&key).send().await;
        response.assert_status(200);
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), "2");
        assert_eq!(
            header(&response, "x-ratelimit-remaining-requests"),
            remaining
        );
    }
    app.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_error(429, "rate_limited");
    // The tenant's own window (the default of 5) has 3 left for its other callers: the key's
    // refused request did not count against it.
    let token = app.tenant_token("acme");
    let response = app.get("/tenant").bearer(&token).send().await;
    response.assert_status(200);
    assert_eq!(header(&response, "x-ratelimit-limit-requests"), "5");
    assert_eq!(header(&response, "x-ratelimit-remaining-requests"), "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_on_one_redis_allow_the_limit_once() {
    let prefix = prefix();
    let one = TestApp::builder()
        .env("REDIS_URL", REDIS)
        .env("REDIS_KEY_PREFIX", &prefix)
        .build()
        .await;
    let two = TestApp::builder()
        .env("REDIS_URL", REDIS)
        .env("REDIS_KEY_PREFIX", &prefix)
        .database_url(&one.db.url)
        .build()
        .await;
    let admin = one.superuser_token().await;
    one.create_tenant(&admin, "acme", json!({"requests_per_minute": 4}))
        .await;
    let token = one.tenant_token("acme");
    avoid_minute_boundary().await;
    let mut allowed = 0;
    for i in 0..10 {
        let app = if i % 2 == 0 { &one } else { &two };
        let response = app.get("/tenant").bearer(&token).send().await;
        match response.status.as_u16() {
            200 => allowed += 1,
            429 => response.assert_error(429, "rate_limited"),
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    assert_eq!(allowed, 4, "two replicas together allow the limit once");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_going_away_falls_back_to_local_counting_without_errors() {
    tenantgate::metrics::install();
    let proxy = Outage::start_to("127.0.0.1:6379").await;
    let url = format!("redis://{}", proxy.addr);
    let app = TestApp::builder()
        .env("REDIS_URL", &url)
        .env("REDIS_KEY_PREFIX", &prefix())
        .build()
        .await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({"requests_per_minute": 3}))
        .await;
    let token = app.tenant_token("acme");
    avoid_minute_boundary().await;
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);

    proxy.cut();
    let fallbacks_before = fallbacks();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.get("/tenant")
                .bearer(&token)
                .send()
                .await
                .status
                .as_u16(),
        );
    }
    // Counted alone: this replica's own 3, then refusals; never a 5xx.
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert!(
        fallbacks() > fallbacks_before,
        "fallbacks are counted in /metrics"
    );

    proxy.restore();
    // Redis is tried again a second after the last failure (the connection manager reconnects
    // meanwhile). Its window still holds 1 of 3 where the local one is full, so the first 200
    // is the shared window answering again.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.get("/tenant").bearer(&token).send().await;
        assert!(response.status.as_u16() < 500, "{}", response.text());
        if response.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Redis never came back"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_error(429, "rate_limited");
}

fn fallbacks() -> u64 {
    tenantgate::metrics::render()
        .lines()
        .find(|l| l.starts_with("ratelimit_redis_fallbacks_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Failed logins are counted for the fleet: with `REDIS_URL`, failures spread over two
/// replicas meet one ceiling (`LOGIN_MAX_FAILURES` = 3 allows 3 in all, not 3 per replica),
/// and a replica that saw none of them refuses too.
#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_on_one_redis_share_the_login_throttle() {
    let prefix = prefix();
    let replica = || {
        TestApp::builder()
            .env("REDIS_URL", REDIS)
            .env("REDIS_KEY_PREFIX", &prefix)
            .env("LOGIN_MAX_FAILURES", "3")
    };
    let one = replica().build().await;
    let two = replica().database_url(&one.db.url).build().await;
    let three = replica().database_url(&one.db.url).build().await;
    one.create_user("user@example.com", None, false).await;
    let wrong = json!({"email": "user@example.com", "password": "not-the-password"});
    let mut statuses = Vec::new();
    for i in 0..4 {
        let app = if i % 2 == 0 { &one } else { &two };
        statuses.push(
            app.post("/auth/token")
                .json(&wrong)
                .send()
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429], "one ceiling for the fleet");
    // The third replica never saw a failure, and still refuses: even the right password waits.
    let right = json!({"email": "user@example.com", "password": crate::harness::PASSWORD});
    let response = three.post("/auth/token").json(&right).send().await;
    response.assert_error(429, "rate_limited");
    assert!(
        response.headers.get("retry-after").is_some(),
        "429 carries Retry-After"
    );
}
