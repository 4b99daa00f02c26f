//! `POST /chat` against a stand-in OpenAI: what goes upstream per tenant (system prompt,
//! passages with their ids, history, the server's key and never the caller's credential),
//! the JSON and SSE answers, retrieval-only mode, and upstream failures (502, 504, and the
//! `error` event when a stream breaks off).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::harness::api_key_for;
use crate::harness::chat::{
    FakeLlm, FixedPassages, REPLY, REPLY_CHUNKS, Script, UPSTREAM_KEY, parse_sse, passage,
    post_json, router_with_retriever,
};

async fn app_with(fake: &FakeLlm) -> TestApp {
    TestApp::builder()
        .openai(fake)
        .env("CHAT_MODEL", "gpt-test-mini")
        .build()
        .await
}

fn events(pairs: &[(String, String)]) -> Vec<&str> {
    pairs.iter().map(|(name, _)| name.as_str()).collect()
}

fn data(pair: &(String, String)) -> Value {
    serde_json::from_str(&pair.1).expect("event data is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_gets_its_own_prompt_and_the_server_key_goes_upstream() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", Some("You are the Acme support bot."))
        .await;
    app.seed_tenant("globex", Some("You answer for Globex only."))
        .await;
    let acme_token = app.tenant_token("acme");
    let globex_key = api_key_for(&app, "globex").await;

    let body = json!({
        "message": "How do I reset my password?",
        "history": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
        ],
    });
    let answer = app
        .post("/chat")
        .bearer(&acme_token)
        .json(&body)
        .send()
        .await;
    answer.assert_status(200);
    let answer = answer.json();
    assert_eq!(answer["answer"], REPLY);
    assert_eq!(answer["mode"], "generated");
    assert_eq!(answer["model"], "gpt-test-mini");
    assert_eq!(answer["usage"]["total_tokens"], 18);
    assert_eq!(answer["sources"], json!([]));

    let upstream = fake.last();
    assert_eq!(
        upstream.headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );
    assert!(!upstream.header_text().contains(&acme_token));
    assert_eq!(upstream.body["model"], "gpt-test-mini");
    assert_eq!(upstream.body["stream"], false);
    assert_eq!(
        upstream.messages(),
        vec![
            json!({"role": "system", "content": "You are the Acme support bot."}),
            json!({"role": "user", "content": "Hi"}),
            json!({"role": "assistant", "content": "Hello! How can I help?"}),
            json!({"role": "user", "content": "How do I reset my password?"}),
        ]
    );

    // Another tenant, with an API key as `Authorization: Bearer`: its own prompt, same server key.
    app.post("/chat")
        .bearer(&globex_key)
        .json(&json!({"message": "Who are you?"}))
        .send()
        .await
        .assert_status(200);
    let upstream = fake.last();
    assert_eq!(
        upstream.messages()[0],
        json!({"role": "system", "content": "You answer for Globex only."})
    );
    assert_eq!(
        upstream.headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );
    assert!(!upstream.header_text().contains(&globex_key));
    assert!(!upstream.body.to_string().contains(&globex_key));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn retrieved_passages_go_upstream_under_their_ids_and_come_back_as_sources() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    let retriever = Arc::new(FixedPassages {
        passages: vec![
            passage(
                "kb-17",
                "Password resets",
                "Open Settings, then Security, then Reset.",
            ),
            passage("kb-42", "Two-factor", "Codes expire after 30 seconds."),
            passage("kb-99", "Billing", "Invoices are monthly."),
        ],
        queries: Mutex::new(Vec::new()),
    });
    let router = router_with_retriever(
        app.state.clone(),
        "acme",
        "You are the Acme support bot.",
        retriever.clone(),
    );
    let (status, body) = post_json(
        &router,
        "/chat",
        &json!({"message": "How do I reset my password?", "top_k": 2}),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: Value = serde_json::from_slice(&body).expect("json");
    let ids: Vec<&str> = answer["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["kb-17", "kb-42"]);
    assert_eq!(answer["sources"][0]["title"], "Password resets");
    assert_eq!(answer["sources"][0]["source"], "kb-17.md");
    assert_eq!(answer["sources"][0]["metadata"]["lang"], "en");
    assert_eq!(
        *retriever.queries.lock().expect("lock"),
        ["How do I reset my password?"]
    );

    let messages = fake.last().messages();
    assert_eq!(messages.len(), 2);
    let system = messages[0]["content"].as_str().expect("system text");
    assert!(
        system.starts_with("You are the Acme support bot."),
        "{system}"
    );
    assert!(
        system.contains(
            "[kb-17] Password resets (kb-17.md)\nOpen Settings, then Security, then Reset."
        ),
        "{system}"
    );
    assert!(
        system.contains("[kb-42] Two-factor (kb-42.md)\nCodes expire after 30 seconds."),
        "{system}"
    );
    assert!(
        !system.contains("kb-99"),
        "top_k limits the passages: {system}"
    );
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "How do I reset my password?"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_get_422_and_never_reach_the_upstream() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let cases = [
        (json!({"message": ""}), "message"),
        (json!({"message": "   "}), "message"),
        (json!({}), "message"),
        (json!({"message": 5}), "message"),
        (
            json!({"message": "hi", "history": [{"role": "tool", "content": "x"}]}),
            "history[0].role",
        ),
        (
            json!({"message": "hi", "history": [{"role": "user"}]}),
            "content",
        ),
        (
            json!({"message": "hi", "history": [{"role": "user", "content": " "}]}),
            "history[0].content",
        ),
        (json!({"message": "hi", "top_k": 0}), "top_k"),
        (json!({"message": "hi", "top_k": 51}), "top_k"),
        (json!({"message": "hi", "stream": "yes"}), "stream"),
    ];
    for (body, field) in cases {
        let response = app.post("/chat").bearer(&token).json(&body).send().await;
        response.assert_error(422, "validation_error");
        let named = response.json()["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(named.starts_with(field), "{body}: field {named:?}");
    }
    app.post("/chat")
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .assert_error(401, "missing_token");
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_upstream_key_chat_answers_retrieval_only() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = TestApp::builder()
        .env("OPENAI_BASE_URL", &fake.base_url)
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let answer = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "hello"}))
        .send()
        .await;
    answer.assert_status(200);
    let answer = answer.json();
    assert_eq!(answer["answer"], Value::Null);
    assert_eq!(answer["mode"], "retrieval_only");
    assert_eq!(answer["sources"], json!([]));

    let streamed = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "hello", "stream": true}))
        .send()
        .await;
    streamed.assert_status(200);
    let pairs = parse_sse(streamed.body.clone()).await;
    assert_eq!(events(&pairs), ["sources", "done"]);
    assert_eq!(data(&pairs[0])["mode"], "retrieval_only");
    assert_eq!(data(&pairs[1])["mode"], "retrieval_only");
    assert!(fake.requests().is_empty());

    // The passages still come back: retrieval does not need the LLM.
    let retriever = Arc::new(FixedPassages {
        passages: vec![passage("kb-1", "Hours", "Open 9 to 5.")],
        queries: Mutex::new(Vec::new()),
    });
    let router = router_with_retriever(app.state.clone(), "acme", "Prompt.", retriever);
    let (status, body) = post_json(&router, "/chat", &json!({"message": "hours?"})).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(answer["answer"], Value::Null);
    assert_eq!(answer["sources"][0]["id"], "kb-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_answers_arrive_as_sources_then_deltas_then_done() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", Some("Stream politely.")).await;
    let token = app.tenant_token("acme");
    let response = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "Say hello", "stream": true}))
        .send()
        .await;
    response.assert_status(200);
    assert!(
        response.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let pairs = parse_sse(response.body.clone()).await;
    let mut expected = vec!["sources"];
    expected.extend(std::iter::repeat_n("delta", REPLY_CHUNKS.len()));
    expected.push("done");
    assert_eq!(events(&pairs), expected);
    assert_eq!(data(&pairs[0])["sources"], json!([]));
    let text: String = pairs[1..=REPLY_CHUNKS.len()]
        .iter()
        .map(|pair| data(pair)["content"].as_str().expect("content").to_owned())
        .collect();
    assert_eq!(text, REPLY);
    let done = data(pairs.last().expect("done"));
    assert_eq!(done["usage"]["total_tokens"], 18);
    assert_eq!(done["model"], "gpt-test-mini");
    assert_eq!(done["finish_reason"], "stop");

    let upstream = fake.last();
    assert_eq!(upstream.body["stream"], true);
    assert_eq!(upstream.body["stream_options"]["include_usage"], true);
    assert_eq!(upstream.messages()[0]["content"], "Stream politely.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_breaks_off_ends_with_an_error_event() {
    let fake = FakeLlm::start(Script::BreakOff(vec!["Partial".into(), " answer".into()])).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let response = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "hi", "stream": true}))
        .send()
        .await;
    response.assert_status(200);
    let pairs = parse_sse(response.body.clone()).await;
    assert_eq!(events(&pairs), ["sources", "delta", "delta", "error"]);
    let error = data(pairs.last().expect("error"));
    assert_eq!(error["code"], "upstream_error");
    assert!(
        error["detail"]
            .as_str()
            .expect("detail")
            .contains("broke off")
    );
    assert!(!pairs.iter().any(|(_, d)| d.contains(UPSTREAM_KEY)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_goes_silent_ends_with_a_timeout_error_event() {
    // The gate is never opened: the upstream stalls before its last chunk.
    let fake = FakeLlm::start(Script::Gated(vec!["One".into(), " two".into()])).await;
    let app = TestApp::builder()
        .openai(&fake)
        .env("UPSTREAM_TIMEOUT_SECONDS", "1")
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let response = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "hi", "stream": true}))
        .send()
        .await;
    let pairs = parse_sse(response.body.clone()).await;
    assert_eq!(events(&pairs), ["sources", "delta", "error"]);
    assert_eq!(data(&pairs[2])["code"], "upstream_timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_errors_are_502_and_never_show_the_key() {
    let fake = FakeLlm::start(Script::Status(500)).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    for stream in [false, true] {
        let response = app
            .post("/chat")
            .bearer(&token)
            .json(&json!({"message": "hi", "stream": stream}))
            .send()
            .await;
        response.assert_error(502, "upstream_error");
        assert_eq!(response.json()["detail"], "the LLM upstream failed (500)");
    }
    // A refused key is explained without quoting the upstream (OpenAI's message echoes the key).
    fake.set_script(Script::Status(401));
    let refused = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "hi"}))
        .send()
        .await;
    refused.assert_error(502, "upstream_error");
    assert!(
        refused.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("credentials")
    );
    assert!(!refused.text().contains(UPSTREAM_KEY));

    // An upstream that is not there at all.
    let gone = TestApp::builder()
        .env("OPENAI_API_KEY", UPSTREAM_KEY)
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .build()
        .await;
    gone.seed_tenant("acme", None).await;
    let response = gone
        .post("/chat")
        .bearer(&gone.tenant_token("acme"))
        .json(&json!({"message": "hi"}))
        .send()
        .await;
    response.assert_error(502, "upstream_error");
    assert!(
        response.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("could not be reached")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_upstream_is_504() {
    let fake = FakeLlm::start(Script::Slow(Duration::from_secs(3))).await;
    let app = TestApp::builder()
        .openai(&fake)
        .env("UPSTREAM_TIMEOUT_SECONDS", "1")
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    for stream in [false, true] {
        let started = std::time::Instant::now();
        let response = app
            .post("/chat")
            .bearer(&token)
            .json(&json!({"message": "hi", "stream": stream}))
            .send()
            .await;
        response.assert_error(504, "upstream_timeout");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
            "{waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_the_chat_routes() {
    let app = TestApp::new().await;
    let document = app.get("/openapi.json").send().await.json();
    for path in [
        "/chat",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/models/{model}",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing");
    }
    assert!(document["components"]["schemas"]["ChatRequest"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_cites_only_the_callers_own_documents() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    // Both tenants on the built-in retriever, with documents that match the same question.
    for (tenant, word) in [("acme", "zanzibar"), ("globex", "quixotic")] {
        app.seed_tenant(tenant, Some(&format!("You are the {tenant} bot.")))
            .await;
        let key = api_key_for(&app, tenant).await;
        app.post("/documents")
            .bearer(&key)
            .json(&json!({"documents": [{
                "id": format!("{tenant}-travel"),
                "title": "Travel",
                "text": format!("The {word} policy covers travel refunds within 30 days."),
            }]}))
            .send()
            .await
            .assert_status(201);
    }
    for (tenant, other) in [("acme", "globex"), ("globex", "acme")] {
        let answer = app
            .post("/chat")
            .bearer(&app.tenant_token(tenant))
            .json(&json!({"message": "travel refunds policy"}))
            .send()
            .await;
        answer.assert_status(200);
        let sources = answer.json()["sources"]
            .as_array()
            .cloned()
            .expect("sources");
        assert!(!sources.is_empty(), "{tenant} found nothing");
        for source in &sources {
            let id = source["id"].as_str().expect("id");
            assert!(
                id.starts_with(&format!("{tenant}-travel")),
                "{tenant} got {id}"
            );
        }
        let system = fake.last().messages()[0]["content"]
            .as_str()
            .expect("system text")
            .to_owned();
        assert!(
            system.starts_with(&format!("You are the {tenant} bot.")),
            "{system}"
        );
        assert!(system.contains(&format!("[{tenant}-travel")), "{system}");
        assert!(!system.contains(other), "{tenant} saw {other}: {system}");
    }
}
