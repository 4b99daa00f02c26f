//! The admin API as deployers and operators use it: the walkthrough from a CLI-made superuser
//! to tenants switched off and on again, who may call which admin route, users, the audit
//! log, and a scan of every admin answer for the secrets that went in.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{PASSWORD, TestApp, TestResponse, cli};

/// A real HTTP client against a gateway served over TCP.
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deployer_walkthrough_from_cli_superuser_to_tenant_reactivation() {
    let mut app = TestApp::new().await;
    let addr = app.spawn_server().await;
    let http = Http {
        client: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    use reqwest::Method as M;

    // 1. The deployer makes the first superuser with the CLI, the password on stdin.
    let out = cli::ok(
        &app.db.url,
        &[
            "users",
            "create",
            "--email",
            "Ops@Example.com",
            "--password-stdin",
            "--superuser",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.contains("superuser"), "{out}");
    assert!(
        !out.contains("SEKRIT"),
        "the CLI echoed the password: {out}"
    );

    // 2. Logs in over HTTP (email in another case).
    let (status, body) = http
        .call(
            M::POST,
            "/auth/token",
            None,
            Some(json!({"email": "ops@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().expect("token").to_owned();
    let (_, me) = http.call(M::GET, "/auth/me", Some(&admin), None).await;
    assert_eq!(me["is_superuser"], true);

    // 3. Two tenants with Pinecone settings and system prompts.
    for (id, prompt) in [
        ("acme", "You answer for Acme."),
        ("globex", "You answer for Globex."),
    ] {
        let (status, tenant) = http
            .call(
                M::POST,
                "/admin/tenants",
                Some(&admin),
                Some(json!({
                    "id": id,
                    "name": format!("{id} Inc."),
                    "system_prompt": prompt,
                    "pinecone_api_key": format!("pcsk-test-{id}-walkthrough-0123456789"),
                    "pinecone_environment": "us-east-1",
                    "pinecone_index_name": format!("{id}-docs"),
                    "pinecone_index_host": "http://127.0.0.1:9",
                    "pinecone_namespace": "prod",
                })),
            )
            .await;
        assert_eq!(status, 201, "{tenant}");
        assert_eq!(tenant["id"], id);
        assert_eq!(tenant["retriever"], "pinecone");
        assert_eq!(tenant["has_pinecone_api_key"], true);
        assert_eq!(tenant["pinecone_index_name"], format!("{id}-docs"));
        assert_eq!(tenant["is_active"], true);
        assert_eq!(tenant["version"], 1);
        assert!(tenant.get("pinecone_api_key").is_none());
        assert!(tenant.get("pinecone_api_key_enc").is_none());
    }
    let (status, dup) = http
        .call(
            M::POST,
            "/admin/tenants",
            Some(&admin),
            Some(json!({"id": "acme", "name": "again"})),
        )
        .await;
    assert_eq!((status, dup["code"].as_str()), (409, Some("conflict")));

    // 4. List and read.
    let (status, list) = http
        .call(M::GET, "/admin/tenants", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ids(&list),
        BTreeSet::from(["acme".to_owned(), "globex".to_owned()])
    );
    let (status, acme) = http
        .call(M::GET, "/admin/tenants/acme", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(acme["system_prompt"], "You answer for Acme.");
    let (status, missing) = http
        .call(M::GET, "/admin/tenants/nope", Some(&admin), None)
        .await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));

    // Each tenant gets a user; their tokens reach their tenant.
    let mut tokens = std::collections::HashMap::new();
    for id in ["acme", "globex"] {
        let email = format!("user@{id}.example.com");
        let (status, user) = http
            .call(
                M::POST,
                "/admin/users",
                Some(&admin),
                Some(json!({"email": email, "password": PASSWORD, "tenant_id": id})),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let (_, login) = http
            .call(
                M::POST,
                "/auth/token",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        tokens.insert(
            id,
            login["access_token"].as_str().expect("token").to_owned(),
        );
        let (status, tenant) = http.call(M::GET, "/tenant", Some(&tokens[id]), None).await;
        assert_eq!(status, 200, "{tenant}");
        assert_eq!(tenant["id"], id);
    }

    // 5. Update a prompt: seen at once by the tenant's users.
    let (status, updated) = http
        .call(
            M::PUT,
            "/admin/tenants/acme",
            Some(&admin),
            Some(json!({"system_prompt": "Acme, version two."})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["system_prompt"], "Acme, version two.");
    assert_eq!(updated["version"], 2);
    assert_eq!(
        updated["pinecone_index_name"], "acme-docs",
        "absent fields kept"
    );
    assert_eq!(updated["has_pinecone_api_key"], true);
    let (_, seen) = http
        .call(M::GET, "/tenant", Some(&tokens["acme"]), None)
        .await;
    assert_eq!(seen["system_prompt"], "Acme, version two.");

    // 6. Clear it with null.
    let (status, cleared) = http
        .call(
            M::PATCH,
            "/admin/tenants/acme",
            Some(&admin),
            Some(json!({"system_prompt": null})),
        )
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert!(cleared["system_prompt"].is_null());
    assert_eq!(cleared["version"], 3);
    let (_, seen) = http
        .call(M::GET, "/tenant", Some(&tokens["acme"]), None)
        .await;
    assert!(seen["system_prompt"].is_null(), "{seen}");

    // 7. Deactivate one (twice: idempotent), its users are refused, the other's are not.
    let (status, off) = http
        .call(M::DELETE, "/admin/tenants/globex", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(off["is_active"], false);
    let (status, again) = http
        .call(M::DELETE, "/admin/tenants/globex", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["is_active"], false);
    assert_eq!(again["version"], off["version"], "a repeat changes nothing");
    let (status, refused) = http
        .call(M::GET, "/tenant", Some(&tokens["globex"]), None)
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("tenant_unavailable"))
    );
    let (status, _) = http
        .call(M::GET, "/tenant", Some(&tokens["acme"]), None)
        .await;
    assert_eq!(status, 200);
    let (_, active_only) = http
        .call(
            M::GET,
            "/admin/tenants?include_inactive=false",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(ids(&active_only), BTreeSet::from(["acme".to_owned()]));

    // 8. Reactivate: its users work again at once.
    let (status, on) = http
        .call(
            M::PUT,
            "/admin/tenants/globex",
            Some(&admin),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(on["is_active"], true);
    let (status, back) = http
        .call(M::GET, "/tenant", Some(&tokens["globex"]), None)
        .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["system_prompt"], "You answer for Globex.");

    // The audit log tells the story of globex, newest first, by the CLI-made superuser.
    let (_, log) = http
        .call(M::GET, "/admin/audit?tenant_id=globex", Some(&admin), None)
        .await;
    let actions: Vec<&str> = log
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.update",
            "tenant.deactivate",
            "user.create",
            "tenant.create"
        ]
    );
    let actor = format!("user:{}", me["id"].as_str().expect("id"));
    assert!(
        log.as_array()
            .expect("array")
            .iter()
            .all(|e| e["actor"] == actor)
    );
}

// ---- who may call what ----------------------------------------------------------------------

struct Case {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// What a superuser gets.
    expect: u16,
}

fn case(
    method: &'static str,
    template: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    expect: u16,
) -> Case {
    Case {
        method,
        template,
        path: path.into(),
        body,
        expect,
    }
}

enum Credential<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

async fn send_as(app: &TestApp, case: &Case, credential: &Credential<'_>) -> TestResponse {
    let method = Method::from_bytes(case.method.as_bytes()).expect("method");
    let mut request = app.request(method, &case.path);
    request = match credential {
        Credential::None => request,
        Credential::Bearer(token) => request.bearer(token),
        Credential::ApiKey(key) => request.api_key(key),
    };
    if let Some(body) = &case.body {
        request = request.json(body);
    }
    request.send().await
}

async fn create_key(app: &TestApp, admin: &str, tenant: &str, name: &str) -> Value {
    let response = app
        .post(&format!("/admin/tenants/{tenant}/api-keys"))
        .bearer(admin)
        .json(&json!({"name": name}))
        .send()
        .await;
    response.assert_status(201);
    response.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn authorisation_matrix_covers_every_admin_route() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    app.create_tenant(&admin, "matrix-gone", json!({})).await;
    app.post("/admin/orgs")
        .bearer(&admin)
        .json(&json!({"id": "matrix-org", "name": "Matrix"}))
        .send()
        .await
        .assert_status(201);
    let key = create_key(&app, &admin, "acme", "caller").await;
    let key = key["key"].as_str().expect("key").to_owned();
    let doomed_key = create_key(&app, &admin, "acme", "doomed").await;
    let victim = app.create_user("victim@example.com", None, false).await;
    app.create_user("member@acme.example.com", Some("acme"), false)
        .await;
    let member = app.login_as("member@acme.example.com").await;
    let fallen = app.create_user("fallen@example.com", None, true).await;
    let fallen_token = app.login_as("fallen@example.com").await;
    app.delete(&format!("/admin/users/{fallen}"))
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);

    let doomed = doomed_key["id"].as_str().expect("id");
    // One line per route: a table reads better than rustfmt's vertical layout here.
    #[rustfmt::skip]
    let cases = [
        case("GET", "/admin/tenants", "/admin/tenants", None, 200),
        case("POST", "/admin/tenants", "/admin/tenants", Some(json!({"id": "matrix-new", "name": "New"})), 201),
        case("GET", "/admin/tenants/{id}", "/admin/tenants/acme", None, 200),
        case("PUT", "/admin/tenants/{id}", "/admin/tenants/acme", Some(json!({"system_prompt": "p"})), 200),
        case("PATCH", "/admin/tenants/{id}", "/admin/tenants/acme", Some(json!({"name": "Acme 2"})), 200),
        case("DELETE", "/admin/tenants/{id}", "/admin/tenants/matrix-gone", None, 200),
        case("GET", "/admin/tenants/{id}/api-keys", "/admin/tenants/acme/api-keys", None, 200),
        case("POST", "/admin/tenants/{id}/api-keys", "/admin/tenants/acme/api-keys", Some(json!({"name": "matrix"})), 201),
        case("DELETE", "/admin/tenants/{id}/api-keys/{key_id}", format!("/admin/tenants/acme/api-keys/{doomed}"), None, 200),
        case("GET", "/admin/users", "/admin/users", None, 200),
        case("POST", "/admin/users", "/admin/users", Some(json!({"email": "new@example.com", "password": PASSWORD})), 201),
        case("GET", "/admin/users/{id}", format!("/admin/users/{victim}"), None, 200),
        case("PUT", "/admin/users/{id}", format!("/admin/users/{victim}"), Some(json!({"tenant_id": "acme"})), 200),
        case("PATCH", "/admin/users/{id}", format!("/admin/users/{victim}"), Some(json!({"is_superuser": false})), 200),
        case("POST", "/admin/users/{id}/impersonate", format!("/admin/users/{victim}/impersonate"), None, 200),
        case("DELETE", "/admin/users/{id}", format!("/admin/users/{victim}"), None, 200),
        case("GET", "/admin/orgs", "/admin/orgs", None, 200),
        case("POST", "/admin/orgs", "/admin/orgs", Some(json!({"id": "matrix-org-new", "name": "New"})), 201),
        case("GET", "/admin/orgs/{id}", "/admin/orgs/matrix-org", None, 200),
        case("PUT", "/admin/orgs/{id}", "/admin/orgs/matrix-org", Some(json!({"name": "Matrix"})), 200),
        case("PATCH", "/admin/orgs/{id}", "/admin/orgs/matrix-org", Some(json!({"name": "Matrix 2"})), 200),
        case("GET", "/admin/orgs/{id}/tenants", "/admin/orgs/matrix-org/tenants", None, 200),
        case("DELETE", "/admin/orgs/{id}", "/admin/orgs/matrix-org", None, 200),
        case("GET", "/admin/audit", "/admin/audit", None, 200),
        case("GET", "/admin/tenants/{id}/usage", "/admin/tenants/acme/usage", None, 200),
        case("GET", "/admin/usage", "/admin/usage", None, 200),
    ];
    // Every admin route of the router is in the table, so a new one cannot skip the matrix.
    let covered: BTreeSet<(&str, &str)> = cases.iter().map(|c| (c.method, c.template)).collect();
    let admin_routes: BTreeSet<(&str, &str)> = tenantgate::http::router::ROUTES
        .iter()
        .filter(|(_, p)| p.starts_with("/admin"))
        .copied()
        .collect();
    assert_eq!(covered, admin_routes);

    let audit_before = app
        .get("/admin/audit?limit=1000")
        .bearer(&admin)
        .send()
        .await
        .json();
    #[rustfmt::skip]
    let refused = [
        ("anonymous", Credential::None, 401, "missing_token"),
        ("tenant user", Credential::Bearer(&member), 403, "forbidden"),
        ("API key (X-API-Key)", Credential::ApiKey(&key), 403, "forbidden"),
        ("API key (Bearer)", Credential::Bearer(&key), 403, "forbidden"),
        // Deactivating a user revokes the tokens issued before (DESIGN §10): 401, not 403.
        ("inactive superuser", Credential::Bearer(&fallen_token), 401, "invalid_token"),
        ("forged token", Credential::Bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"), 401, "invalid_token"),
    ];
    for case in &cases {
        for (who, credential, status, code) in &refused {
            let response = send_as(&app, case, credential).await;
            assert_eq!(
                (response.status.as_u16(), response.code().as_str()),
                (*status, *code),
                "{who}: {} {}: {}",
                case.method,
                case.path,
                response.text()
            );
            if *status == 401 {
                assert_eq!(response.headers["www-authenticate"], "Bearer");
            }
        }
    }
    // Nothing the refused callers sent changed anything.
    let audit_after = app
        .get("/admin/audit?limit=1000")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(audit_before, audit_after);

    for case in &cases {
        let response = send_as(&app, case, &Credential::Bearer(&admin)).await;
        assert_eq!(
            response.status.as_u16(),
            case.expect,
            "superuser: {} {}: {}",
            case.method,
            case.path,
            response.text()
        );
    }
}

// ---- secrets never come back ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn no_admin_answer_holds_a_secret_that_went_in() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let run = Uuid::new_v4().simple().to_string();
    let pinecone = [
        format!("pcsk-test-one-{run}"),
        format!("pcsk-test-two-{run}"),
        format!("pcsk-test-rotated-{run}"),
    ];
    let mut bodies: Vec<(String, String)> = Vec::new();
    let mut api_keys: Vec<String> = Vec::new();
    macro_rules! keep {
        ($label:expr, $response:expr) => {{
            let response = $response;
            bodies.push(($label.to_string(), response.text()));
            response
        }};
    }

    for (id, secret) in [("one", &pinecone[0]), ("two", &pinecone[1])] {
        keep!(
            format!("create {id}"),
            app.post("/admin/tenants")
                .bearer(&admin)
                .json(&json!({"id": id, "name": id, "pinecone_api_key": secret, "pinecone_index_host": "http://127.0.0.1:9"}))
                .send()
                .await
        )
        .assert_status(201);
    }
    // Errors with a secret in the request: a duplicate and an invalid host.
    keep!(
        "duplicate",
        app.post("/admin/tenants")
            .bearer(&admin)
            .json(&json!({"id": "one", "name": "x", "pinecone_api_key": pinecone[0], "pinecone_index_host": "http://127.0.0.1:9"}))
            .send()
            .await
    )
    .assert_error(409, "conflict");
    keep!(
        "bad host",
        app.post("/admin/tenants")
            .bearer(&admin)
            .json(&json!({"id": "three", "name": "x", "pinecone_api_key": pinecone[0], "pinecone_index_host": "ftp://nope"}))
            .send()
            .await
    )
    .assert_error(422, "validation_error");
    keep!(
        "rotate",
        app.put("/admin/tenants/one")
            .bearer(&admin)
            .json(&json!({"pinecone_api_key": pinecone[2]}))
            .send()
            .await
    )
    .assert_status(200);
    keep!(
        "list",
        app.get("/admin/tenants").bearer(&admin).send().await
    );
    keep!(
        "show",
        app.get("/admin/tenants/one").bearer(&admin).send().await
    );
    keep!(
        "deactivate",
        app.delete("/admin/tenants/two").bearer(&admin).send().await
    );

    let mut key_ids = Vec::new();
    for name in ["worker", "backup"] {
        let response = app
            .post("/admin/tenants/one/api-keys")
            .bearer(&admin)
            .json(&json!({"name": name}))
            .send()
            .await;
        response.assert_status(201);
        let mut created = response.json();
        // The one place a key may appear: the creation response's `key`.
        let key = created["key"].take();
        api_keys.push(key.as_str().expect("key").to_owned());
        key_ids.push(created["id"].as_str().expect("id").to_owned());
        bodies.push((
            format!("create key {name} (key removed)"),
            created.to_string(),
        ));
        let text = response.text();
        assert_eq!(text.matches(api_keys.last().expect("key")).count(), 1);
    }
    keep!(
        "keys",
        app.get("/admin/tenants/one/api-keys")
            .bearer(&admin)
            .send()
            .await
    );
    keep!(
        "revoke",
        app.delete(&format!("/admin/tenants/one/api-keys/{}", key_ids[0]))
            .bearer(&admin)
            .send()
            .await
    );
    keep!(
        "keys after",
        app.get("/admin/tenants/one/api-keys")
            .bearer(&admin)
            .send()
            .await
    );

    let user = keep!(
        "create user",
        app.post("/admin/users")
            .bearer(&admin)
            .json(&json!({"email": "u@one.example.com", "password": PASSWORD, "tenant_id": "one"}))
            .send()
            .await
    );
    let user_id = user.json()["id"].as_str().expect("id").to_owned();
    keep!(
        "update user",
        app.put(&format!("/admin/users/{user_id}"))
            .bearer(&admin)
            .json(&json!({"password": format!("{PASSWORD}-2")}))
            .send()
            .await
    );
    keep!("users", app.get("/admin/users").bearer(&admin).send().await);
    keep!(
        "user",
        app.get(&format!("/admin/users/{user_id}"))
            .bearer(&admin)
            .send()
            .await
    );
    keep!(
        "delete user",
        app.delete(&format!("/admin/users/{user_id}"))
            .bearer(&admin)
            .send()
            .await
    );
    keep!(
        "audit",
        app.get("/admin/audit?limit=1000")
            .bearer(&admin)
            .send()
            .await
    );
    keep!(
        "audit one",
        app.get("/admin/audit?tenant_id=one")
            .bearer(&admin)
            .send()
            .await
    );

    assert!(bodies.len() >= 20);
    let secrets: Vec<&str> = pinecone
        .iter()
        .chain(api_keys.iter())
        .map(String::as_str)
        .chain([PASSWORD, "SEKRIT", "pcsk-test-", "$argon2"])
        .collect();
    // API keys have a shape: no other `tg_<prefix>_<secret>` can hide in an answer.
    let shape = regex::Regex::new(r"tg_[a-z0-9]{10}_[A-Za-z0-9_-]{20,}").expect("regex");
    for (label, body) in &bodies {
        for secret in &secrets {
            assert!(!body.contains(secret), "{label} holds {secret}: {body}");
        }
        assert!(!shape.is_match(body), "{label} holds an API key: {body}");
    }

    // At rest: ciphertext and hashes only.
    let mut conn = app.conn().await;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use tenantgate::store::schema::{api_keys as keys_table, tenants};
    let stored: Vec<Option<Vec<u8>>> = tenants::table
        .select(tenants::pinecone_api_key_enc)
        .load(&mut conn)
        .await
        .expect("tenants");
    let hashes: Vec<Vec<u8>> = keys_table::table
        .select(keys_table::key_hash)
        .load(&mut conn)
        .await
        .expect("keys");
    for bytes in stored.into_iter().flatten().chain(hashes) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("pcsk-test") && !text.contains("tg_"));
    }

    // The trace-level log of this run (when CI captures it) has none of them either.
    if let Ok(path) = std::env::var("TENANTGATE_TEST_LOG") {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        for secret in pinecone.iter().chain(api_keys.iter()) {
            assert!(!log.contains(secret.as_str()), "{path} holds a secret");
        }
    }
}

// ---- users ------------------------------------------------------------------------------------

/// Jane, created in `acme` through the API: the answer has exactly the view's fields.
async fn create_jane(app: &TestApp, admin: &str) -> Value {
    let created = app
        .post("/admin/users")
        .bearer(admin)
        .json(&json!({"email": "Jane@Acme.example.com", "password": PASSWORD, "tenant_id": "acme"}))
        .send()
        .await;
    created.assert_status(201);
    let jane = created.json();
    let keys: BTreeSet<&str> = jane
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "email",
            "tenant_id",
            "role",
            "org_id",
            "is_superuser",
            "is_active",
            "created_at",
            "updated_at"
        ])
    );
    assert_eq!(jane["tenant_id"], "acme");
    assert_eq!(jane["role"], "member");
    assert_eq!(jane["is_superuser"], false);
    assert_eq!(jane["is_active"], true);
    jane
}

/// A duplicate email (in another case) is 409; bad input is 422 naming the field.
async fn user_writes_refuse_duplicates_and_bad_input(app: &TestApp, admin: &str) {
    // Duplicate email in another case: 409.
    app.post("/admin/users")
        .bearer(admin)
        .json(&json!({"email": "jane@ACME.example.com", "password": PASSWORD}))
        .send()
        .await
        .assert_error(409, "conflict");
    // Bad input: 422 naming the field.
    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "short@example.com", "password": "SEKRIT"}),
            "password",
        ),
        (
            json!({"email": "lost@example.com", "password": PASSWORD, "tenant_id": "nope"}),
            "tenant_id",
        ),
        (json!({"email": "x@example.com"}), "password"),
        (
            json!({"email": "x@example.com", "password": PASSWORD, "role": "god"}),
            "any",
        ),
    ] {
        let response = app
            .post("/admin/users")
            .bearer(admin)
            .json(&body)
            .send()
            .await;
        response.assert_error(422, "validation_error");
        let errors = response.json()["errors"].clone();
        let fields: Vec<&str> = errors
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            field == "any" || fields.contains(&field),
            "{body}: {errors}"
        );
    }
}

/// Bob and Carol join; the list filters by tenant and pages.
async fn users_list_filtered_and_paged(app: &TestApp, admin: &str) {
    // List, filtered and paged.
    app.create_user("bob@globex.example.com", Some("globex"), false)
        .await;
    app.create_user("carol@acme.example.com", Some("acme"), false)
        .await;
    let acme: Value = app
        .get("/admin/users?tenant_id=acme")
        .bearer(admin)
        .send()
        .await
        .json();
    let emails: BTreeSet<&str> = acme
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    assert_eq!(
        emails,
        BTreeSet::from(["Jane@Acme.example.com", "carol@acme.example.com"])
    );
    let all: Value = app.get("/admin/users").bearer(admin).send().await.json();
    assert_eq!(
        all.as_array().expect("array").len(),
        4,
        "admin, jane, bob, carol"
    );
    let page: Value = app
        .get("/admin/users?limit=2&offset=1")
        .bearer(admin)
        .send()
        .await
        .json();
    assert_eq!(page.as_array().expect("array").len(), 2);
    assert_eq!(page[0]["id"], all[1]["id"]);
    app.get("/admin/users?limit=0")
        .bearer(admin)
        .send()
        .await
        .assert_error(422, "validation_error");
    app.get("/admin/users?offset=-1")
        .bearer(admin)
        .send()
        .await
        .assert_error(422, "validation_error");
}

async fn user_reads_and_bad_ids(app: &TestApp, admin: &str, jane: &Value, jane_id: &str) {
    // Read: unknown and malformed ids are 404, never 500.
    let shown = app
        .get(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .send()
        .await;
    shown.assert_status(200);
    assert_eq!(&shown.json(), jane);
    app.get(&format!("/admin/users/{}", Uuid::new_v4()))
        .bearer(admin)
        .send()
        .await
        .assert_error(404, "not_found");
    for bad in [
        "not-a-uuid",
        "1",
        "%20",
        "00000000-0000-0000-0000-00000000000Z",
    ] {
        let path = format!("/admin/users/{bad}");
        for response in [
            app.get(&path).bearer(admin).send().await,
            app.put(&path)
                .bearer(admin)
                .json(&json!({"is_active": true}))
                .send()
                .await,
            app.delete(&path).bearer(admin).send().await,
        ] {
            response.assert_error(404, "not_found");
        }
    }
    app.put(&format!("/admin/users/{}", Uuid::new_v4()))
        .bearer(admin)
        .json(&json!({"is_active": true}))
        .send()
        .await
        .assert_error(404, "not_found");
}

async fn jane_is_moved_renamed_and_detached(app: &TestApp, admin: &str, jane_id: &str) {
    // PUT changes what it names; PATCH too; null detaches from the tenant.
    let moved = app
        .put(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .json(&json!({"tenant_id": "globex", "password": format!("{PASSWORD}-new")}))
        .send()
        .await;
    moved.assert_status(200);
    assert_eq!(moved.json()["tenant_id"], "globex");
    assert_eq!(moved.json()["email"], "Jane@Acme.example.com");
    // The new password works, the old one does not; the new token names the new tenant.
    app.post("/auth/token")
        .json(&json!({"email": "jane@acme.example.com", "password": PASSWORD}))
        .send()
        .await
        .assert_error(401, "invalid_credentials");
    let login = app
        .post("/auth/token")
        .json(&json!({"email": "jane@acme.example.com", "password": format!("{PASSWORD}-new")}))
        .send()
        .await;
    login.assert_status(200);
    let jane_token = login.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        app.get("/tenant").bearer(&jane_token).send().await.json()["id"],
        "globex"
    );
    app.put(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .json(&json!({"email": "BOB@globex.example.com"}))
        .send()
        .await
        .assert_error(409, "conflict");
    app.patch(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .json(&json!({"tenant_id": "nope"}))
        .send()
        .await
        .assert_error(422, "validation_error");
    let detached = app
        .patch(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .json(&json!({"tenant_id": null}))
        .send()
        .await;
    detached.assert_status(200);
    assert!(detached.json()["tenant_id"].is_null());
}

async fn jane_is_deactivated(app: &TestApp, admin: &str, jane_id: &str) {
    // DELETE deactivates (idempotent); a deactivated user cannot log in.
    let gone = app
        .delete(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .send()
        .await;
    gone.assert_status(200);
    assert_eq!(gone.json()["is_active"], false);
    let again = app
        .delete(&format!("/admin/users/{jane_id}"))
        .bearer(admin)
        .send()
        .await;
    again.assert_status(200);
    assert_eq!(again.json(), gone.json(), "a repeat changes nothing");
    app.post("/auth/token")
        .json(&json!({"email": "jane@acme.example.com", "password": format!("{PASSWORD}-new")}))
        .send()
        .await
        .assert_error(401, "invalid_credentials");
    let listed: Value = app.get("/admin/users").bearer(admin).send().await.json();
    assert!(
        listed
            .as_array()
            .expect("array")
            .iter()
            .any(|u| u["id"] == jane_id && u["is_active"] == false)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_created_listed_changed_and_deactivated() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    app.create_tenant(&admin, "globex", json!({})).await;
    let jane = create_jane(&app, &admin).await;
    let jane_id = jane["id"].as_str().expect("id").to_owned();
    user_writes_refuse_duplicates_and_bad_input(&app, &admin).await;
    users_list_filtered_and_paged(&app, &admin).await;
    user_reads_and_bad_ids(&app, &admin, &jane, &jane_id).await;
    jane_is_moved_renamed_and_detached(&app, &admin, &jane_id).await;
    jane_is_deactivated(&app, &admin, &jane_id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn demoted_or_deactivated_superusers_are_refused_at_once() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let other = app.create_user("second@example.com", None, true).await;
    let second = app.login_as("second@example.com").await;
    // Cached as a superuser.
    app.get("/admin/tenants")
        .bearer(&second)
        .send()
        .await
        .assert_status(200);

    let demoted = app
        .put(&format!("/admin/users/{other}"))
        .bearer(&admin)
        .json(&json!({"is_superuser": false}))
        .send()
        .await;
    demoted.assert_status(200);
    assert_eq!(demoted.json()["is_superuser"], false);
    // The change revokes the tokens issued before it (DESIGN §10): refused at once (the
    // superuser cache is dropped by the write), 401 `invalid_token` once the NOTIFY is in.
    refused_then_revoked(&app, "/admin/tenants", &second).await;
    // A fresh token of the demoted user is a member's: 403.
    let second = app.login_as("second@example.com").await;
    app.get("/admin/tenants")
        .bearer(&second)
        .send()
        .await
        .assert_error(403, "forbidden");

    // Promoted again: a fresh token is allowed at once.
    app.patch(&format!("/admin/users/{other}"))
        .bearer(&admin)
        .json(&json!({"is_superuser": true}))
        .send()
        .await
        .assert_status(200);
    let second = app.login_as("second@example.com").await;
    app.get("/admin/tenants")
        .bearer(&second)
        .send()
        .await
        .assert_status(200);

    // Deactivated through PUT is_active: its tokens are refused at once too.
    app.put(&format!("/admin/users/{other}"))
        .bearer(&admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .assert_status(200);
    refused_then_revoked(&app, "/admin/users", &second).await;
}

/// Never admitted again; 401 `invalid_token` within a second (the revocation arrives by NOTIFY).
async fn refused_then_revoked(app: &TestApp, path: &str, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let response = app.get(path).bearer(token).send().await;
        let status = response.status.as_u16();
        assert!(
            status == 401 || status == 403,
            "{path}: {}",
            response.text()
        );
        if status == 401 {
            response.assert_error(401, "invalid_token");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: not revoked within a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ---- the audit log ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn audit_log_names_actor_request_and_changed_fields_only() {
    let app = TestApp::new().await;
    app.create_user("auditor@example.com", None, true).await;
    let admin = app.login_as("auditor@example.com").await;
    let me = app.get("/auth/me").bearer(&admin).send().await.json();
    let actor = format!("user:{}", me["id"].as_str().expect("id"));
    app.create_tenant(&admin, "acme", json!({})).await;
    app.create_tenant(&admin, "globex", json!({})).await;

    let prompt = "The prompt text is a value, not a field name";
    let secret = format!("pcsk-test-audit-{}", Uuid::new_v4().simple());
    app.put("/admin/tenants/acme")
        .bearer(&admin)
        .header("x-request-id", "req-audit-1")
        .json(&json!({"system_prompt": prompt, "pinecone_api_key": secret, "pinecone_index_host": "http://127.0.0.1:9"}))
        .send()
        .await
        .assert_status(200);
    let key = app
        .post("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .header("x-request-id", "req-audit-2")
        .json(&json!({"name": "ingest", "expires_at": "2999-01-01T00:00:00Z"}))
        .send()
        .await;
    key.assert_status(201);
    let key = key.json();
    app.delete(&format!(
        "/admin/tenants/acme/api-keys/{}",
        key["id"].as_str().expect("id")
    ))
    .bearer(&admin)
    .header("x-request-id", "req-audit-3")
    .send()
    .await
    .assert_status(200);
    // A repeat revocation and an empty update change nothing and record nothing.
    app.delete(&format!(
        "/admin/tenants/acme/api-keys/{}",
        key["id"].as_str().expect("id")
    ))
    .bearer(&admin)
    .send()
    .await
    .assert_status(200);
    app.put("/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({}))
        .send()
        .await
        .assert_status(200);

    let log = app
        .get("/admin/audit?tenant_id=acme")
        .bearer(&admin)
        .send()
        .await;
    log.assert_status(200);
    let text = log.text();
    assert!(
        !text.contains(prompt) && !text.contains(&secret) && !text.contains("127.0.0.1"),
        "{text}"
    );
    let log = log.json();
    let entries = log.as_array().expect("array");
    let summary: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action"),
                e["request_id"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("api_key.revoke", Some("req-audit-3")),
            ("api_key.create", Some("req-audit-2")),
            ("tenant.update", Some("req-audit-1")),
            ("tenant.create", entries[3]["request_id"].as_str()),
        ]
    );
    assert!(
        entries[3]["request_id"]
            .as_str()
            .is_some_and(|r| r.len() >= 32),
        "a generated request id"
    );
    for e in entries {
        assert_eq!(e["actor"], actor.as_str());
        assert_eq!(e["tenant_id"], "acme");
        for field in [
            "id",
            "at",
            "actor",
            "action",
            "target",
            "tenant_id",
            "request_id",
            "changed_fields",
        ] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
    }
    assert_eq!(entries[0]["target"], key["id"]);
    assert_eq!(entries[0]["changed_fields"], json!(["revoked_at"]));
    assert_eq!(entries[1]["changed_fields"], json!(["name", "expires_at"]));
    assert_eq!(entries[2]["target"], "acme");
    assert_eq!(
        entries[2]["changed_fields"],
        json!(["system_prompt", "pinecone_index_host", "pinecone_api_key"])
    );

    // Newest first across tenants; limit; bad limits are 422.
    let all: Value = app.get("/admin/audit").bearer(&admin).send().await.json();
    let times: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["at"].as_str().expect("at"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert!(
        all.as_array()
            .expect("array")
            .iter()
            .any(|e| e["tenant_id"] == "globex")
    );
    let one: Value = app
        .get("/admin/audit?limit=1")
        .bearer(&admin)
        .send()
        .await
        .json();
    assert_eq!(one.as_array().expect("array").len(), 1);
    assert_eq!(one[0], all[0]);
    for bad in ["limit=0", "limit=1001", "limit=abc"] {
        app.get(&format!("/admin/audit?{bad}"))
            .bearer(&admin)
            .send()
            .await
            .assert_error(422, "validation_error");
    }
}

/// A client may send back the tenant it read, with one field changed: read-only fields
/// (`id`, `version`, `has_pinecone_api_key`, timestamps) are ignored, not refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_read_can_be_sent_back_with_changes() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let mut tenant = app
        .create_tenant(&admin, "roundtrip", json!({"system_prompt": "old"}))
        .await;
    tenant["system_prompt"] = json!("new");
    let updated = app
        .put("/admin/tenants/roundtrip")
        .bearer(&admin)
        .json(&tenant)
        .send()
        .await;
    updated.assert_status(200);
    assert_eq!(updated.json()["system_prompt"], "new");
    assert_eq!(updated.json()["version"], 2);
}
