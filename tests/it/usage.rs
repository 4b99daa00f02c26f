//! Usage metering and token budgets (DESIGN.md §9): totals equal what the stand-in upstream
//! reported (plain, streamed, `/v1`), budgets refuse chat but not search, and a SIGTERM to a
//! real `tenantgate serve` writes every answered request before the process exits.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::chat::{FakeLlm, Script};
use crate::harness::{JWT_SECRET, SECRET_KEY, TestApp, cli};

async fn app_with(fake: &FakeLlm) -> TestApp {
    TestApp::builder()
        .openai(fake)
        .env("CHAT_MODEL", "gpt-test-mini")
        .build()
        .await
}

fn chat_body(stream: bool) -> Value {
    json!({"message": "What is the refund policy?", "stream": stream})
}

fn v1_body(stream: bool) -> Value {
    json!({"messages": [{"role": "user", "content": "hello"}], "stream": stream})
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_totals_equal_what_the_upstream_reported() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    app.create_tenant(&admin, "idle", json!({})).await;
    let token = app.tenant_token("acme");

    for stream in [false, true] {
        app.post("/chat")
            .bearer(&token)
            .json(&chat_body(stream))
            .send()
            .await
            .assert_status(200);
        app.post("/v1/chat/completions")
            .bearer(&token)
            .json(&v1_body(stream))
            .send()
            .await
            .assert_status(200);
    }
    // The gateway asked the upstream for usage on the /v1 stream.
    assert_eq!(fake.last().body["stream_options"]["include_usage"], true);
    app.post("/search")
        .bearer(&token)
        .json(&json!({"query": "refund"}))
        .send()
        .await
        .assert_status(200);

    // The stand-in reports 11 prompt and 7 completion tokens per call.
    let report = app
        .get("/admin/tenants/acme/usage")
        .bearer(&admin)
        .send()
        .await;
    report.assert_status(200);
    let report = report.json();
    assert_eq!(
        report["totals"],
        json!({"requests": 5, "chat_requests": 4, "retrievals": 5, "prompt_tokens": 44,
               "completion_tokens": 28, "total_tokens": 72}),
        "{report}"
    );
    assert_eq!(report["tenant_id"], "acme");
    let today = chrono::Utc::now().date_naive().to_string();
    let model_row = report["days"]
        .as_array()
        .expect("days")
        .iter()
        .find(|d| d["model"] == "gpt-test-mini")
        .expect("a row for the model")
        .clone();
    assert_eq!(model_row["day"], today);
    assert_eq!(model_row["total_tokens"], 72);

    // The tenant's own view: the same shape; its own request is counted after it answers.
    let own = app.get("/usage").bearer(&token).send().await;
    own.assert_status(200);
    assert_eq!(own.json()["totals"]["prompt_tokens"], 44);

    let all = app.get("/admin/usage").bearer(&admin).send().await;
    all.assert_status(200);
    let all = all.json();
    assert_eq!(all[0]["tenant_id"], "acme");
    assert_eq!(all[0]["totals"]["total_tokens"], 72);
    assert_eq!(all[1]["tenant_id"], "idle");
    assert_eq!(all[1]["totals"]["requests"], 0);

    // Ranges: inclusive dates, 422 for nonsense, 404 for an unknown tenant.
    let empty = app
        .get("/admin/tenants/acme/usage?from=2020-01-01&to=2020-01-31")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(empty.json()["totals"]["requests"], 0);
    assert_eq!(empty.json()["days"], json!([]));
    for bad in [
        "from=yesterday",
        "from=2026-02-10&to=2026-02-01",
        "from=2000-01-01&to=2026-01-01",
    ] {
        app.get(&format!("/admin/tenants/acme/usage?{bad}"))
            .bearer(&admin)
            .send()
            .await
            .assert_error(422, "validation_error");
    }
    app.get("/admin/tenants/nobody/usage")
        .bearer(&admin)
        .send()
        .await
        .assert_error(404, "not_found");
    app.get("/admin/usage")
        .bearer(&token)
        .send()
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_over_budget_gets_quota_exceeded_on_chat_and_200_on_search() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({"monthly_token_budget": 30}))
        .await;
    let token = app.tenant_token("acme");

    let first = app
        .post("/chat")
        .bearer(&token)
        .json(&chat_body(false))
        .send()
        .await;
    first.assert_status(200);
    assert_eq!(first.headers["x-ratelimit-limit-tokens"], "30");
    assert_eq!(first.headers["x-ratelimit-remaining-tokens"], "30");
    assert!(first.headers.contains_key("x-ratelimit-reset-tokens"));
    // 18 used: still under 30, so one more call goes through (budgets are checked before a
    // call, whose size is unknown until it is answered).
    app.post("/v1/chat/completions")
        .bearer(&token)
        .json(&v1_body(true))
        .send()
        .await
        .assert_status(200);
    let refused = app
        .post("/chat")
        .bearer(&token)
        .json(&chat_body(true))
        .send()
        .await;
    refused.assert_error(429, "quota_exceeded");
    assert_eq!(refused.headers["x-ratelimit-remaining-tokens"], "0");
    app.post("/v1/chat/completions")
        .bearer(&token)
        .json(&v1_body(false))
        .send()
        .await
        .assert_error(429, "quota_exceeded");
    let search = app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "refund"}))
        .send()
        .await;
    search.assert_status(200);
    assert_eq!(search.headers["x-ratelimit-remaining-tokens"], "0");

    // Another replica on the same database learns of it within a few seconds.
    let other = TestApp::builder()
        .openai(&fake)
        .database_url(&app.db.url)
        .build()
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        let response = other
            .post("/chat")
            .bearer(&token)
            .json(&chat_body(false))
            .send()
            .await;
        if response.status == 429 {
            response.assert_error(429, "quota_exceeded");
            break;
        }
        response.assert_status(200);
        assert!(
            std::time::Instant::now() < deadline,
            "the other replica never learnt"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Raising the budget lets chat through again.
    app.patch("/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"monthly_token_budget": null}))
        .send()
        .await
        .assert_status(200);
    app.post("/chat")
        .bearer(&token)
        .json(&chat_body(false))
        .send()
        .await
        .assert_status(200);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_answered_before_sigterm_are_all_in_the_usage_table() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let port = free_port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        // Only the shutdown flush may write: the periodic one would hide a missing one.
        .env("USAGE_FLUSH_SECONDS", "3600")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg("serve")
        .spawn()
        .expect("spawn tenantgate serve");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "server never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    const N: i64 = 25;
    for _ in 0..N {
        let response = client
            .get(format!("{base}/tenant"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }
    let pid = server.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "exited with {status}");

    let json_out = cli::ok(
        &app.db.url,
        &["usage", "--tenant", "acme", "--format", "json"],
        "",
    );
    let report: Value = serde_json::from_str(&json_out).expect("json");
    assert_eq!(report["totals"]["requests"], N, "{report}");
    let csv = cli::ok(&app.db.url, &["usage", "--format", "csv"], "");
    assert!(csv.starts_with("tenant_id,requests,"), "{csv}");
    assert!(csv.contains(&format!("acme,{N},0,0,0,0,0")), "{csv}");
    let table = cli::ok(&app.db.url, &["usage", "--tenant", "acme"], "");
    assert!(table.contains("total "), "{table}");
}
