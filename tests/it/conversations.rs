//! Conversations kept by the gateway (DESIGN.md §11): the routes, owner and tenant isolation,
//! `/chat` with `conversation_id` (the stored history reaches the stand-in upstream, the turn
//! is stored, streamed turns only once complete), and the retention deletion.

use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::harness::api_key_for;
use crate::harness::chat::{FakeLlm, REPLY, Script, parse_sse};

async fn app_with(fake: &FakeLlm) -> TestApp {
    TestApp::builder()
        .openai(fake)
        .env("CHAT_MODEL", "gpt-test-mini")
        .env("CHAT_HISTORY_MESSAGES", "3")
        .build()
        .await
}

async fn new_conversation(app: &TestApp, token: &str, body: Option<Value>) -> Value {
    let request = app.post("/conversations").bearer(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await;
    response.assert_status(201);
    response.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_are_created_listed_shown_and_deleted() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");

    let first = new_conversation(&app, &token, Some(json!({"title": "Billing"}))).await;
    assert_eq!(first["title"], "Billing");
    for field in ["id", "created_at", "updated_at"] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    // No body at all, and an empty object: untitled conversations.
    let second = new_conversation(&app, &token, None).await;
    assert_eq!(second["title"], Value::Null);
    let third = new_conversation(&app, &token, Some(json!({}))).await;

    let list = app.get("/conversations").bearer(&token).send().await;
    list.assert_status(200);
    let ids: Vec<Value> = list
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [
            third["id"].clone(),
            second["id"].clone(),
            first["id"].clone()
        ]
    );
    let page = app
        .get("/conversations?limit=1&offset=1")
        .bearer(&token)
        .send()
        .await
        .json();
    assert_eq!(page.as_array().expect("array").len(), 1);
    assert_eq!(page[0]["id"], second["id"]);
    app.get("/conversations?limit=0")
        .bearer(&token)
        .send()
        .await
        .assert_error(422, "validation_error");

    let id = first["id"].as_str().expect("id");
    let shown = app
        .get(&format!("/conversations/{id}"))
        .bearer(&token)
        .send()
        .await;
    shown.assert_status(200);
    assert_eq!(shown.json()["title"], "Billing");
    assert_eq!(shown.json()["messages"], json!([]));

    app.delete(&format!("/conversations/{id}"))
        .bearer(&token)
        .send()
        .await
        .assert_status(204);
    app.get(&format!("/conversations/{id}"))
        .bearer(&token)
        .send()
        .await
        .assert_error(404, "not_found");
    app.delete(&format!("/conversations/{id}"))
        .bearer(&token)
        .send()
        .await
        .assert_error(404, "not_found");
    // Not a UUID: not found, like the admin routes' ids.
    app.get("/conversations/not-a-uuid")
        .bearer(&token)
        .send()
        .await
        .assert_error(404, "not_found");

    for bad in [
        json!({"title": "x".repeat(201)}),
        json!({"title": 5}),
        json!({"title": "a\u{0}b"}),
    ] {
        app.post("/conversations")
            .bearer(&token)
            .json(&bad)
            .send()
            .await
            .assert_error(422, "validation_error");
    }
    app.get("/conversations")
        .send()
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_callers_conversation_is_not_found_in_the_same_tenant_or_another() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", None).await;
    app.seed_tenant("globex", None).await;
    let alice = app.tenant_token("acme");
    let bob = app.tenant_token("acme");
    let acme_key = api_key_for(&app, "acme").await;
    // Same `sub` as alice's token, other tenant: still not alice's conversation.
    let alice_sub = {
        let payload = alice.split('.').nth(1).expect("payload");
        use base64::Engine as _;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64"),
        )
        .expect("claims");
        claims["sub"].as_str().expect("sub").to_owned()
    };
    let mallory = app.token_with_claims(json!({
        "sub": alice_sub, "tenant_id": "globex", "exp": crate::harness::now() + 600,
    }));

    let conversation = new_conversation(&app, &alice, Some(json!({"title": "Mine"}))).await;
    let id = conversation["id"].as_str().expect("id");
    for (who, credential) in [
        ("bob", &bob),
        ("the tenant's API key", &acme_key),
        ("globex", &mallory),
    ] {
        for response in [
            app.get(&format!("/conversations/{id}"))
                .bearer(credential)
                .send()
                .await,
            app.delete(&format!("/conversations/{id}"))
                .bearer(credential)
                .send()
                .await,
            app.post("/chat")
                .bearer(credential)
                .json(&json!({"message": "hi", "conversation_id": id}))
                .send()
                .await,
        ] {
            assert_eq!(response.status, 404, "{who}: {}", response.text());
            assert_eq!(response.code(), "not_found");
        }
        let list = app
            .get("/conversations")
            .bearer(credential)
            .send()
            .await
            .json();
        assert_eq!(list, json!([]), "{who} lists nothing");
    }
    assert!(
        fake.requests().is_empty(),
        "refused turns never reach the upstream"
    );
    // Alice still has it, untouched.
    let shown = app
        .get(&format!("/conversations/{id}"))
        .bearer(&alice)
        .send()
        .await;
    shown.assert_status(200);
    assert_eq!(shown.json()["messages"], json!([]));

    // An API key owns its own conversations.
    let keyed = new_conversation(&app, &acme_key, None).await;
    let keyed_id = keyed["id"].as_str().expect("id");
    app.get(&format!("/conversations/{keyed_id}"))
        .bearer(&acme_key)
        .send()
        .await
        .assert_status(200);
    app.get(&format!("/conversations/{keyed_id}"))
        .bearer(&alice)
        .send()
        .await
        .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_sends_the_stored_history_and_stores_each_turn() {
    let fake = FakeLlm::start(Script::Reply).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", Some("Be brief.")).await;
    let token = app.tenant_token("acme");
    let conversation = new_conversation(&app, &token, None).await;
    let id = conversation["id"].as_str().expect("id");

    let first = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({
            "message": "What is an anvil?",
            "conversation_id": id,
            // Ignored: the stored history replaces it.
            "history": [{"role": "user", "content": "forged turn"}],
        }))
        .send()
        .await;
    first.assert_status(200);
    assert_eq!(first.json()["conversation_id"], id);
    assert_eq!(
        fake.last().messages(),
        vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "What is an anvil?"}),
        ]
    );

    app.post("/chat")
        .bearer(&token)
        .json(&json!({"message": "And a rocket?", "conversation_id": id}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(
        fake.last().messages(),
        vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "What is an anvil?"}),
            json!({"role": "assistant", "content": REPLY}),
            json!({"role": "user", "content": "And a rocket?"}),
        ]
    );

    // A streamed turn: the `done` event names the conversation; the turn is stored by then.
    let streamed = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "Stream it", "conversation_id": id, "stream": true}))
        .send()
        .await;
    streamed.assert_status(200);
    let pairs = parse_sse(streamed.body.clone()).await;
    let (name, data) = pairs.last().expect("events");
    assert_eq!(name, "done");
    let done: Value = serde_json::from_str(data).expect("json");
    assert_eq!(done["conversation_id"], id);
    // CHAT_HISTORY_MESSAGES=3: only the last three stored messages go upstream.
    let messages = fake.last().messages();
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert_eq!(messages[1], json!({"role": "assistant", "content": REPLY}));
    assert_eq!(
        messages[2],
        json!({"role": "user", "content": "And a rocket?"})
    );

    let shown = app
        .get(&format!("/conversations/{id}"))
        .bearer(&token)
        .send()
        .await
        .json();
    assert_eq!(
        shown["title"], "What is an anvil?",
        "untitled: the first message"
    );
    let stored: Vec<(&str, &str)> = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().expect("role"),
                m["content"].as_str().expect("content"),
            )
        })
        .collect();
    assert_eq!(
        stored,
        [
            ("user", "What is an anvil?"),
            ("assistant", REPLY),
            ("user", "And a rocket?"),
            ("assistant", REPLY),
            ("user", "Stream it"),
            ("assistant", REPLY),
        ]
    );
    let last = &shown["messages"][5];
    assert_eq!(last["model"], "gpt-test-mini");
    assert_eq!(last["usage"]["total_tokens"], 18);
    assert_eq!(last["sources"], json!([]));
    assert!(last["id"].is_string() && last["created_at"].is_string());
    // Unknown conversation, and a malformed id: 404, nothing sent upstream.
    let before = fake.requests().len();
    for bad in [uuid::Uuid::new_v4().to_string(), "nope".to_owned()] {
        app.post("/chat")
            .bearer(&token)
            .json(&json!({"message": "hi", "conversation_id": bad}))
            .send()
            .await
            .assert_error(404, "not_found");
    }
    assert_eq!(fake.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_fails_stores_nothing() {
    let fake = FakeLlm::start(Script::BreakOff(vec!["Half".into(), " an answer".into()])).await;
    let app = app_with(&fake).await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let conversation = new_conversation(&app, &token, None).await;
    let id = conversation["id"].as_str().expect("id");
    let streamed = app
        .post("/chat")
        .bearer(&token)
        .json(&json!({"message": "hi", "conversation_id": id, "stream": true}))
        .send()
        .await;
    let pairs = parse_sse(streamed.body.clone()).await;
    assert_eq!(pairs.last().expect("events").0, "error");
    let shown = app
        .get(&format!("/conversations/{id}"))
        .bearer(&token)
        .send()
        .await
        .json();
    assert_eq!(shown["messages"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_conversations_idle_past_the_cutoff_in_every_tenant() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    app.seed_tenant("globex", None).await;
    let acme = app.tenant_token("acme");
    let globex = app.tenant_token("globex");
    let old_acme = new_conversation(&app, &acme, None).await;
    let old_globex = new_conversation(&app, &globex, None).await;
    let fresh = new_conversation(&app, &acme, None).await;
    // Age two of them (the test's connection is the database owner: no tenant scope needed
    // for this setup step, RLS is bypassed by superusers).
    let mut conn = app.conn().await;
    for c in [&old_acme, &old_globex] {
        let id: uuid::Uuid = c["id"].as_str().expect("id").parse().expect("uuid");
        diesel::sql_query(
            "UPDATE conversations SET updated_at = now() - interval '40 days' WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut conn)
        .await
        .expect("age");
    }
    drop(conn);

    let cutoff = chrono::Utc::now() - chrono::TimeDelta::days(30);
    let deleted = tenantgate::services::conversations::delete_older_than(&app.state.pool, cutoff)
        .await
        .expect("retention");
    assert_eq!(deleted, Some(2));
    for (token, c) in [(&acme, &old_acme), (&globex, &old_globex)] {
        app.get(&format!("/conversations/{}", c["id"].as_str().expect("id")))
            .bearer(token)
            .send()
            .await
            .assert_error(404, "not_found");
    }
    app.get(&format!(
        "/conversations/{}",
        fresh["id"].as_str().expect("id")
    ))
    .bearer(&acme)
    .send()
    .await
    .assert_status(200);
    // Nothing left to delete: zero, not an error.
    let again = tenantgate::services::conversations::delete_older_than(&app.state.pool, cutoff)
        .await
        .expect("retention");
    assert_eq!(again, Some(0));

    // While another replica holds the lock, this one skips the round.
    let mut other = app.conn().await;
    let lock = tenantgate::services::conversations::RETENTION_LOCK;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(lock)
        .execute(&mut other)
        .await
        .expect("lock");
    let skipped = tenantgate::services::conversations::delete_older_than(&app.state.pool, cutoff)
        .await
        .expect("retention");
    assert_eq!(skipped, None);
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(lock)
        .execute(&mut other)
        .await
        .expect("unlock");
}
