//! The OpenAI-compatible surface against a stand-in OpenAI: the tenant's system message in
//! front of the caller's messages, every other field forwarded untouched, the server's key
//! upstream and never the caller's, model pass-through and `ALLOWED_MODELS`, streams relayed
//! chunk by chunk, `/v1/models`, and upstream failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::harness::api_key_for;
use crate::harness::chat::{
    FakeLlm, FixedPassages, REPLY, Script, UPSTREAM_KEY, passage, post_json, router_with_retriever,
};

async fn app_with(fake: &FakeLlm, extra: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder()
        .openai(fake)
        .env("CHAT_MODEL", "gpt-test-mini");
    for (k, v) in extra {
        builder = builder.env(k, v);
    }
    builder.build().await
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_get_the_tenant_prompt_in_front_and_the_rest_untouched() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake, &[]).await;
    app.seed_tenant("acme", Some("You are the Acme support bot."))
        .await;
    app.seed_tenant("globex", Some("You answer for Globex only."))
        .await;
    let acme_token = app.tenant_token("acme");
    let globex_key = api_key_for(&app, "globex").await;

    let caller_messages = json!([
        {"role": "system", "content": "The caller's own instructions."},
        {"role": "user", "content": "What is 2+2?"},
    ]);
    let request = json!({
        "model": "gpt-4o",
        "messages": caller_messages,
        "temperature": 0.2,
        "seed": 42,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "x_vendor_extension": {"keep": ["me", 1]},
    });
    let response = app
        .post("/v1/chat/completions")
        .bearer(&acme_token)
        .json(&request)
        .send()
        .await;
    response.assert_status(200);
    assert!(
        response.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    let completion = response.json();
    assert_eq!(completion["id"], "chatcmpl-fake");
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], "gpt-4o");
    assert_eq!(completion["choices"][0]["message"]["content"], REPLY);
    assert_eq!(completion["usage"]["total_tokens"], 18);

    let upstream = fake.last();
    assert_eq!(
        upstream.headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );
    assert!(!upstream.header_text().contains(&acme_token));
    let mut expected = request.clone();
    expected["messages"] = json!([
        {"role": "system", "content": "You are the Acme support bot."},
        caller_messages[0],
        caller_messages[1],
    ]);
    assert_eq!(upstream.body, expected, "only the system message is added");

    // Another tenant through an API key given as the SDK gives it: its prompt, the server key.
    app.post("/v1/chat/completions")
        .bearer(&globex_key)
        .json(&json!({"messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .assert_status(200);
    let upstream = fake.last();
    assert_eq!(
        upstream.messages(),
        vec![
            json!({"role": "system", "content": "You answer for Globex only."}),
            json!({"role": "user", "content": "Hi"}),
        ]
    );
    assert_eq!(
        upstream.headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );
    assert!(!upstream.header_text().contains(&globex_key));
    assert!(!upstream.body.to_string().contains(&globex_key));
    // No model asked for: CHAT_MODEL.
    assert_eq!(upstream.body["model"], "gpt-test-mini");
}

#[tokio::test(flavor = "multi_thread")]
async fn context_for_the_last_user_message_goes_in_the_system_message() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake, &[]).await;
    let retriever = Arc::new(FixedPassages {
        passages: vec![passage("kb-7", "Refunds", "Refunds take 5 days.")],
        queries: Mutex::new(Vec::new()),
    });
    let router = router_with_retriever(app.state.clone(), "acme", "Acme bot.", retriever.clone());
    let (status, _) = post_json(
        &router,
        "/v1/chat/completions",
        &json!({"messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "How long do refunds take?"},
        ]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        *retriever.queries.lock().expect("lock"),
        ["How long do refunds take?"]
    );
    let messages = fake.last().messages();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().expect("text");
    assert!(system.starts_with("Acme bot."), "{system}");
    assert!(
        system.contains("[kb-7] Refunds (kb-7.md)\nRefunds take 5 days."),
        "{system}"
    );
    assert_eq!(messages[3]["content"], "How long do refunds take?");
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_models_limit_the_choice_and_are_listed() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake, &[("ALLOWED_MODELS", "gpt-test-mini, gpt-4o")]).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let refused = app
        .post("/v1/chat/completions")
        .bearer(&token)
        .json(&json!({"model": "gpt-4-32k", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    refused.assert_error(422, "validation_error");
    assert_eq!(refused.json()["errors"][0]["field"], "model");
    assert!(fake.requests().is_empty());

    app.post("/v1/chat/completions")
        .bearer(&token)
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(fake.last().body["model"], "gpt-4o");

    let models = app.get("/v1/models").bearer(&token).send().await;
    models.assert_status(200);
    assert_eq!(
        models.json(),
        json!({"object": "list", "data": [
            {"id": "gpt-test-mini", "object": "model", "created": 0, "owned_by": "tenantgate"},
            {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "tenantgate"},
        ]})
    );
    app.get("/v1/models/gpt-4o")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    app.get("/v1/models/gpt-4-32k")
        .bearer(&token)
        .send()
        .await
        .assert_error(404, "not_found");
    app.get("/v1/models")
        .send()
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_allowed_models_the_chat_model_is_listed_and_any_model_passes() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake, &[]).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let models = app.get("/v1/models").bearer(&token).send().await.json();
    assert_eq!(models["data"].as_array().expect("data").len(), 1);
    assert_eq!(models["data"][0]["id"], "gpt-test-mini");
    app.post("/v1/chat/completions")
        .bearer(&token)
        .json(&json!({"model": "my-local-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(fake.last().body["model"], "my-local-model");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_completion_requests_get_422() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake, &[]).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    for (body, field) in [
        (json!({}), "messages"),
        (json!({"messages": []}), "messages"),
        (json!({"messages": "hi"}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "model": 4}),
            "model",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}),
            "stream",
        ),
        (json!([1, 2]), "body"),
    ] {
        let response = app
            .post("/v1/chat/completions")
            .bearer(&token)
            .json(&body)
            .send()
            .await;
        response.assert_error(422, "validation_error");
        assert_eq!(response.json()["errors"][0]["field"], field, "{body}");
    }
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_are_relayed_chunk_by_chunk() {
    let fake = FakeLlm::start(Script::Gated(vec![
        "First".into(),
        " middle".into(),
        " Last".into(),
    ]))
    .await;
    let mut app = app_with(&fake, &[]).await;
    app.seed_tenant("acme", Some("Stream it.")).await;
    let token = app.tenant_token("acme");
    let addr = app.spawn_server().await;
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth(&token)
        .json(
            &json!({"messages": [{"role": "user", "content": "Go"}], "stream": true,
                      "stream_options": {"include_usage": true}}),
        )
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // The stand-in holds its last chunk back until released: if the gateway buffered the
    // body, the first chunk would never arrive here.
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.contains(r#""content":"First""#) {
            let bytes = body.next().await.expect("more body").expect("bytes");
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
    })
    .await
    .expect("the first chunk is relayed before the upstream sends its last");
    assert!(!seen.contains("Last"), "{seen}");
    fake.release();
    while let Some(bytes) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&bytes.expect("bytes")));
    }
    assert!(seen.contains(r#""content":" Last""#), "{seen}");
    assert!(seen.contains(r#""total_tokens":18"#), "{seen}");
    assert!(seen.ends_with("data: [DONE]\n\n"), "{seen}");
    let upstream = fake.last();
    assert_eq!(upstream.body["stream"], true);
    assert_eq!(
        upstream.body["stream_options"],
        json!({"include_usage": true})
    );
    assert_eq!(upstream.messages()[0]["content"], "Stream it.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relayed_stream_that_breaks_off_ends_with_an_error_event() {
    let fake = FakeLlm::start(Script::BreakOff(vec!["Partial".into()])).await;
    let app = app_with(&fake, &[]).await;
    app.seed_tenant("acme", None).await;
    let response = app
        .post("/v1/chat/completions")
        .bearer(&app.tenant_token("acme"))
        .json(&json!({"messages": [{"role": "user", "content": "Go"}], "stream": true}))
        .send()
        .await;
    response.assert_status(200);
    let text = response.text();
    assert!(text.contains(r#""content":"Partial""#), "{text}");
    let last = text
        .trim_end()
        .rsplit("data: ")
        .next()
        .expect("a last event");
    let error: Value = serde_json::from_str(last).expect("json");
    assert_eq!(error["error"]["code"], "upstream_error");
    assert_eq!(error["code"], "upstream_error");
    assert!(error["detail"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failures_are_502_and_504() {
    let fake = FakeLlm::start(Script::Status(500)).await;
    let app = app_with(&fake, &[("UPSTREAM_TIMEOUT_SECONDS", "1")]).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    for stream in [false, true] {
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "stream": stream});
        fake.set_script(Script::Status(500));
        let failed = app
            .post("/v1/chat/completions")
            .bearer(&token)
            .json(&body)
            .send()
            .await;
        failed.assert_error(502, "upstream_error");
        assert!(!failed.text().contains(UPSTREAM_KEY));
        fake.set_script(Script::Status(400));
        let rejected = app
            .post("/v1/chat/completions")
            .bearer(&token)
            .json(&body)
            .send()
            .await;
        rejected.assert_error(502, "upstream_error");
        assert!(
            rejected.json()["detail"]
                .as_str()
                .expect("detail")
                .contains("The stand-in was told to fail."),
            "a request error quotes the upstream's explanation"
        );
        fake.set_script(Script::Slow(Duration::from_secs(3)));
        app.post("/v1/chat/completions")
            .bearer(&token)
            .json(&body)
            .send()
            .await
            .assert_error(504, "upstream_timeout");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_upstream_key_completions_are_502() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = TestApp::builder()
        .env("OPENAI_BASE_URL", &fake.base_url)
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let response = app
        .post("/v1/chat/completions")
        .bearer(&app.tenant_token("acme"))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    response.assert_error(502, "upstream_error");
    assert!(
        response.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("OPENAI_API_KEY")
    );
    assert!(fake.requests().is_empty());
}
