//! Tenant API keys: made by the admin API or the CLI, accepted on tenant routes in either
//! header, refused once revoked (at once here, within a second on another replica), expired
//! or wrong; `last_used_at` written in batches; and who may write a tenant's documents.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantgate::errors::AppError;
use tenantgate::http::error::HttpError as _;
use tenantgate::http::layers::Caller;
use tenantgate::identity::api_keys::ApiKeyGrant;
use tenantgate::identity::jwt::VerifiedToken;
use uuid::Uuid;

use crate::harness::{TestApp, cli};

async fn create_key(app: &TestApp, admin: &str, tenant: &str, body: Value) -> Value {
    let response = app
        .post(&format!("/admin/tenants/{tenant}/api-keys"))
        .bearer(admin)
        .json(&body)
        .send()
        .await;
    response.assert_status(201);
    response.json()
}

fn key_of(created: &Value) -> String {
    created["key"].as_str().expect("key").to_owned()
}

async fn wait_for_status(app: &TestApp, key: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        if app.get("/tenant").api_key(key).send().await.status.as_u16() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no {status} after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_works_in_either_header_until_revoked() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({"system_prompt": "Acme"}))
        .await;

    let created = create_key(&app, &admin, "acme", json!({"name": "ingest-worker"})).await;
    let key = key_of(&created);
    assert!(key.starts_with("tg_"), "{key}");
    assert!(key.starts_with(created["prefix"].as_str().expect("prefix")));
    // 256 random bits in the secret part: 43 base64url characters.
    assert!(key.len() >= "tg_".len() + 10 + 1 + 43, "{key}");
    assert_eq!(created["tenant_id"], "acme");
    assert_eq!(created["name"], "ingest-worker");
    for field in ["expires_at", "last_used_at", "revoked_at"] {
        assert!(created[field].is_null(), "{field}");
    }

    // Both headers reach the key's tenant.
    let by_header = app.get("/tenant").api_key(&key).send().await;
    by_header.assert_status(200);
    assert_eq!(by_header.json()["id"], "acme");
    assert_eq!(by_header.json()["system_prompt"], "Acme");
    let by_bearer = app.get("/tenant").bearer(&key).send().await;
    by_bearer.assert_status(200);
    assert_eq!(by_bearer.json()["id"], "acme");

    // Listed without the key; `last_used_at` appears after the batch is written.
    let listed: Value = app
        .get("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert!(listed[0].get("key").is_none());
    assert!(
        listed[0]["last_used_at"].is_null(),
        "not written per request"
    );
    app.state.api_keys.flush_last_used().await;
    let listed: Value = app
        .get("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert_eq!(listed[0]["id"], created["id"]);

    // Wrong secret behind a right prefix, unknown prefix, junk: all 401 invalid_api_key.
    let mut wrong = key.clone();
    let last = wrong.pop().expect("char");
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = format!("tg_zzzzzzzzzz_{}", &key[14..]);
    for bad in [wrong.as_str(), unknown.as_str(), "tg_short", "tg_"] {
        app.get("/tenant")
            .api_key(bad)
            .send()
            .await
            .assert_error(401, "invalid_api_key");
        app.get("/tenant")
            .bearer(bad)
            .send()
            .await
            .assert_error(401, "invalid_api_key");
    }
    let refused = app.get("/tenant").api_key(&wrong).send().await;
    assert_eq!(refused.headers["www-authenticate"], "Bearer");

    // Revoked: refused at once on this replica, however cached it was.
    let path = format!(
        "/admin/tenants/acme/api-keys/{}",
        created["id"].as_str().expect("id")
    );
    let revoked = app.delete(&path).bearer(&admin).send().await;
    revoked.assert_status(200);
    let revoked = revoked.json();
    assert!(revoked["revoked_at"].is_string());
    assert!(revoked.get("key").is_none());
    app.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_error(401, "invalid_api_key");
    app.get("/tenant")
        .bearer(&key)
        .send()
        .await
        .assert_error(401, "invalid_api_key");
    // Idempotent: the same answer again.
    let again = app.delete(&path).bearer(&admin).send().await;
    again.assert_status(200);
    assert_eq!(again.json(), revoked);
    let listed: Value = app
        .get("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(listed[0]["revoked_at"], revoked["revoked_at"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_belong_to_their_tenant() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    app.create_tenant(&admin, "globex", json!({})).await;
    let acme = create_key(&app, &admin, "acme", json!({"name": "a"})).await;
    let globex = create_key(&app, &admin, "globex", json!({"name": "g"})).await;
    assert_eq!(
        app.get("/tenant")
            .api_key(&key_of(&globex))
            .send()
            .await
            .json()["id"],
        "globex"
    );

    // Another tenant's key id answers 404 like a missing one, and stays valid.
    let acme_id = acme["id"].as_str().expect("id");
    app.delete(&format!("/admin/tenants/globex/api-keys/{acme_id}"))
        .bearer(&admin)
        .send()
        .await
        .assert_error(404, "not_found");
    app.get("/tenant")
        .api_key(&key_of(&acme))
        .send()
        .await
        .assert_status(200);
    for path in [
        format!("/admin/tenants/acme/api-keys/{}", Uuid::new_v4()),
        "/admin/tenants/acme/api-keys/not-a-uuid".to_owned(),
        format!("/admin/tenants/nope/api-keys/{acme_id}"),
    ] {
        app.delete(&path)
            .bearer(&admin)
            .send()
            .await
            .assert_error(404, "not_found");
    }
    // Unknown tenant: 404 for create and list.
    app.post("/admin/tenants/nope/api-keys")
        .bearer(&admin)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_error(404, "not_found");
    app.get("/admin/tenants/nope/api-keys")
        .bearer(&admin)
        .send()
        .await
        .assert_error(404, "not_found");
    let listed: Value = app
        .get("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert_eq!(listed[0]["id"], acme["id"]);

    // Bad input: 422 naming the field.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({}), "name"),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "expires_at": "next tuesday"}),
            "expires_at",
        ),
    ] {
        let response = app
            .post("/admin/tenants/acme/api-keys")
            .bearer(&admin)
            .json(&body)
            .send()
            .await;
        response.assert_error(422, "validation_error");
        assert_eq!(response.json()["errors"][0]["field"], field, "{body}");
    }

    // A key of a deactivated tenant is a valid key for an unavailable tenant.
    app.delete("/admin/tenants/globex")
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);
    app.get("/tenant")
        .api_key(&key_of(&globex))
        .send()
        .await
        .assert_error(403, "tenant_unavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_key_is_refused() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let created = create_key(
        &app,
        &admin,
        "acme",
        json!({"name": "short-lived", "expires_at": expires_at.to_rfc3339()}),
    )
    .await;
    assert!(created["expires_at"].is_string());
    let key = key_of(&created);
    // Valid, and now cached...
    app.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_status(200);
    // ...and refused once its time has passed, cache or not.
    let waited = wait_for_status(&app, &key, 401).await;
    assert!(
        waited >= Duration::from_millis(500),
        "refused too early: {waited:?}"
    );
    app.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_error(401, "invalid_api_key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_reaches_another_replica_within_a_second() {
    let one = TestApp::new().await;
    let two = TestApp::builder().database_url(&one.db.url).build().await;
    let admin = one.superuser_token().await;
    one.create_tenant(&admin, "acme", json!({})).await;
    let created = create_key(&one, &admin, "acme", json!({"name": "shared"})).await;
    let key = key_of(&created);
    one.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_status(200);
    two.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_status(200);
    // Let replica two's listener connect (it starts with the app).
    tokio::time::sleep(Duration::from_millis(200)).await;
    one.delete(&format!(
        "/admin/tenants/acme/api-keys/{}",
        created["id"].as_str().expect("id")
    ))
    .bearer(&admin)
    .send()
    .await
    .assert_status(200);
    let took = wait_for_status(&two, &key, 401).await;
    println!("revocation seen by the other replica after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_creates_lists_and_revokes_keys() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", Some("Acme")).await;
    let url = app.db.url.clone();

    let out = cli::ok(
        &url,
        &[
            "api-keys",
            "create",
            "--tenant",
            "acme",
            "--name",
            "nightly-ingest",
            "--expires-in-days",
            "30",
        ],
        "",
    );
    let key = out.lines().last().expect("key line").trim().to_owned();
    assert!(key.starts_with("tg_"), "{out}");
    assert_eq!(out.matches(&key).count(), 1, "printed once: {out}");
    let response = app.get("/tenant").api_key(&key).send().await;
    response.assert_status(200);
    assert_eq!(response.json()["id"], "acme");

    let listed = cli::ok(&url, &["api-keys", "list", "--tenant", "acme"], "");
    assert!(
        listed.contains(&key[..13])
            && listed.contains("nightly-ingest")
            && listed.contains("active"),
        "{listed}"
    );
    assert!(
        !listed.contains(&key),
        "the list shows prefixes only: {listed}"
    );
    let key_id = listed
        .lines()
        .find(|l| l.contains("nightly-ingest"))
        .and_then(|l| l.split_whitespace().next())
        .expect("id column")
        .to_owned();
    let row = tenantgate::services::api_keys::list(&mut *app.conn().await, "acme")
        .await
        .expect("list");
    assert_eq!(row[0].id.to_string(), key_id);
    let expires = row[0].expires_at.expect("expiry");
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} hours");

    // Revoked from the CLI: this running gateway hears of it through NOTIFY.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = cli::ok(&url, &["api-keys", "revoke", &key_id], "");
    assert!(out.contains("revoked"), "{out}");
    wait_for_status(&app, &key, 401).await;
    let listed = cli::ok(&url, &["api-keys", "list", "--tenant", "acme"], "");
    assert!(listed.contains("revoked"), "{listed}");
    cli::ok(&url, &["api-keys", "revoke", &key_id], "");

    // Failures: one line, exit code 1.
    for args in [
        vec!["api-keys", "create", "--tenant", "nope", "--name", "x"],
        vec!["api-keys", "list", "--tenant", "nope"],
        vec!["api-keys", "revoke", &Uuid::new_v4().to_string()],
    ] {
        let output = cli::run(&url, &args, "");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.starts_with("error: no "), "{args:?}: {err}");
    }
    let output = cli::run(
        &url,
        &[
            "api-keys",
            "create",
            "--tenant",
            "acme",
            "--name",
            "x",
            "--expires-in-days",
            "0",
        ],
        "",
    );
    assert!(!output.status.success());

    // The CLI's changes are audited with actor `cli`.
    let log = tenantgate::services::audit::list(
        &mut *app.conn().await,
        &tenantgate::identity::authz::Scope::All,
        Some("acme"),
        10,
    )
    .await
    .expect("audit");
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions[..2],
        [("api_key.revoke", "cli"), ("api_key.create", "cli")]
    );
}

// ---- require_writer ---------------------------------------------------------------------------

fn user_caller(sub: Option<String>, tenant: &str) -> Caller {
    Caller::User(Arc::new(VerifiedToken {
        sub,
        email: None,
        tenant_id: Some(tenant.into()),
        impersonator: None,
        valid_until: u64::MAX,
        ..Default::default()
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_are_written_by_tenant_keys_and_superusers_only() {
    use tenantgate::http::writers::require_writer;
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let state = &app.state;

    let key = Caller::ApiKey(ApiKeyGrant {
        key_id: Uuid::new_v4(),
        tenant_id: "acme".into(),
        requests_per_minute: None,
        scopes: tenantgate::identity::scopes::ScopeSet::ALL,
    });
    assert!(require_writer(state, &key).await.is_ok());

    let boss = app
        .create_user("boss@acme.example.com", Some("acme"), true)
        .await;
    let member = app
        .create_user("member@acme.example.com", Some("acme"), false)
        .await;
    let retired = app
        .create_user("retired@acme.example.com", Some("acme"), true)
        .await;
    app.delete(&format!("/admin/users/{retired}"))
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);

    assert!(
        require_writer(state, &user_caller(Some(boss.to_string()), "acme"))
            .await
            .is_ok()
    );
    for (who, caller) in [
        ("tenant user", user_caller(Some(member.to_string()), "acme")),
        (
            "inactive superuser",
            user_caller(Some(retired.to_string()), "acme"),
        ),
        (
            "unknown user",
            user_caller(Some(Uuid::new_v4().to_string()), "acme"),
        ),
        (
            "external subject",
            user_caller(Some("auth0|12345".into()), "acme"),
        ),
        ("no subject", user_caller(None, "acme")),
    ] {
        let error = require_writer(state, &caller).await.expect_err(who);
        assert!(matches!(error, AppError::Forbidden(_)), "{who}: {error:?}");
        assert_eq!(
            (error.status().as_u16(), error.code()),
            (403, "forbidden"),
            "{who}"
        );
    }

    // A demotion through the admin API takes effect at once.
    app.put(&format!("/admin/users/{boss}"))
        .bearer(&admin)
        .json(&json!({"is_superuser": false}))
        .send()
        .await
        .assert_status(200);
    let error = require_writer(state, &user_caller(Some(boss.to_string()), "acme"))
        .await
        .expect_err("demoted");
    assert_eq!(error.code(), "forbidden");
}
