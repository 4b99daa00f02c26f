//! The built-in retriever on what people type: queries made only of stop words fall back to
//! the `simple` configuration, the last word matches as a prefix, and a tenant's
//! `search_language` (set through the admin API) stems in that language, documents already
//! stored included.

use serde_json::{Value, json};

use crate::documents::ingest;
use crate::harness::TestApp;
use crate::harness::api_key_for;

fn ids(body: &Value) -> Vec<String> {
    body["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn search(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let response = app
        .post("/search")
        .bearer(token)
        .json(&json!({"query": query, "top_k": 10}))
        .send()
        .await;
    response.assert_status(200);
    ids(&response.json())
}

fn corpus() -> Value {
    json!([
        {"id": "reset", "title": "Password resets", "text": "Open Settings, then Security, and choose Reset password."},
        {"id": "howto", "title": "How to start", "text": "How to get started: install the app and sign in."},
        {"id": "billing", "title": "Billing", "text": "Invoices are sent monthly by email."},
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_words_and_unfinished_words_find_passages() {
    let app = TestApp::new().await;
    let key = app.tenant_with_key("acme").await;
    ingest(&app, &key, corpus()).await;
    let token = app.tenant_token("acme");

    // Only stop words in English: the `simple` fallback still finds the passages holding them.
    let found = search(&app, &token, "how to").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("howto"),
        "{found:?}"
    );
    let found = search(&app, &token, "the").await;
    assert!(found.contains(&"howto".to_owned()), "{found:?}");
    assert!(!found.contains(&"billing".to_owned()), "{found:?}");

    // The last word as a prefix, alone or after whole words.
    assert_eq!(search(&app, &token, "passw").await, ["reset"]);
    assert_eq!(search(&app, &token, "reset passw").await[0], "reset");
    assert_eq!(search(&app, &token, "invoi").await, ["billing"]);
    // Whole words and stemming keep working; operators keep their meaning.
    assert_eq!(search(&app, &token, "invoices").await, ["billing"]);
    assert_eq!(search(&app, &token, "\"reset password\"").await, ["reset"]);
    assert!(search(&app, &token, "password -reset").await.is_empty());
    // Nothing like it: nothing, not an error. Punctuation alone: nothing.
    assert!(search(&app, &token, "zebra").await.is_empty());
    assert!(search(&app, &token, "?!").await.is_empty());
    // A very long query is cut, not refused.
    let long = format!("{} passw", "word ".repeat(100));
    app.post("/search")
        .bearer(&token)
        .json(&json!({"query": long}))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_searches_in_its_own_language() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let created = app
        .create_tenant(&admin, "berlin", json!({"search_language": "german"}))
        .await;
    assert_eq!(created["search_language"], "german");
    let default = app.create_tenant(&admin, "london", json!({})).await;
    assert_eq!(default["search_language"], "english");

    let text = json!([
        {"id": "haus", "title": "Die Häuser", "text": "Die Häuser der Stadt sind alt."},
    ]);
    let berlin_key = api_key_for(&app, "berlin").await;
    let london_key = api_key_for(&app, "london").await;
    ingest(&app, &berlin_key, text.clone()).await;
    ingest(&app, &london_key, text).await;
    let berlin = app.tenant_token("berlin");
    let london = app.tenant_token("london");
    // German stemming: "Haus" finds "Häuser"; English does not stem German.
    assert_eq!(search(&app, &berlin, "Haus").await, ["haus"]);
    assert!(search(&app, &london, "Haus").await.is_empty());
    // "der" is a German stop word alone: the simple fallback finds it.
    assert_eq!(search(&app, &berlin, "der").await, ["haus"]);

    // Switching London to German re-indexes what it already stored.
    let updated = app
        .patch("/admin/tenants/london")
        .bearer(&admin)
        .json(&json!({"search_language": "german"}))
        .send()
        .await;
    updated.assert_status(200);
    assert_eq!(updated.json()["search_language"], "german");
    assert_eq!(search(&app, &london, "Haus").await, ["haus"]);

    // Only configurations from the list: anything else is 422, nothing changes.
    for bad in [
        json!("klingon"),
        json!("english'; --"),
        json!(null),
        json!(5),
    ] {
        let response = app
            .patch("/admin/tenants/london")
            .bearer(&admin)
            .json(&json!({"search_language": bad}))
            .send()
            .await;
        response.assert_error(422, "validation_error");
    }
    let response = app
        .post("/admin/tenants")
        .bearer(&admin)
        .json(&json!({"id": "paris", "name": "Paris", "search_language": "latin"}))
        .send()
        .await;
    response.assert_error(422, "validation_error");
    assert_eq!(response.json()["errors"][0]["field"], "search_language");
    let shown = app
        .get("/admin/tenants/london")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(shown["search_language"], "german");
}

/// `tenantgate tenants create|update --search-language` set what the admin API sets; a name
/// not in the list is refused naming the flag.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_sets_a_tenants_search_language() {
    use crate::harness::cli;
    let app = TestApp::new().await;
    let url = app.db.url.clone();
    let out = cli::ok(
        &url,
        &[
            "tenants",
            "create",
            "--id",
            "berlin",
            "--name",
            "Berlin",
            "--search-language",
            "german",
        ],
        "",
    );
    assert!(out.contains(r#""search_language": "german""#), "{out}");
    cli::ok(
        &url,
        &["tenants", "create", "--id", "madrid", "--name", "Madrid"],
        "",
    );
    let out = cli::ok(
        &url,
        &[
            "tenants",
            "update",
            "madrid",
            "--search-language",
            "spanish",
        ],
        "",
    );
    assert!(out.contains(r#""search_language": "spanish""#), "{out}");
    let refused = cli::run(
        &url,
        &[
            "tenants",
            "update",
            "madrid",
            "--search-language",
            "klingon",
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--search-language"), "{stderr}");
    // The change is what the retriever uses: Spanish stemming finds "casas" from "casa".
    let key = api_key_for(&app, "madrid").await;
    ingest(
        &app,
        &key,
        json!([{"id": "casas", "text": "Las casas de la ciudad son viejas."}]),
    )
    .await;
    assert_eq!(
        search(&app, &app.tenant_token("madrid"), "casa").await,
        ["casas"]
    );
}
