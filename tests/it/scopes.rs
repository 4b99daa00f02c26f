//! API key scopes and `/auth/me` permissions (DESIGN §10): every tenant route × every scope,
//! keys created with scopes through the API and the CLI, and what `/auth/me` lists per role.

use serde_json::{Value, json};
use tenantgate::http::tenant_routes::TENANT_ROUTES;
use tenantgate::identity::scopes::ApiScope;

use crate::harness::{TestApp, cli};
use crate::roles::world;

/// A key of `tenant` with `scopes` (None: the default), made through the admin API.
async fn key_with(app: &TestApp, admin: &str, tenant: &str, scopes: Option<&[&str]>) -> Value {
    let mut body = json!({"name": "scoped"});
    if let Some(scopes) = scopes {
        body["scopes"] = json!(scopes);
    }
    let response = app
        .post(&format!("/admin/tenants/{tenant}/api-keys"))
        .bearer(admin)
        .json(&body)
        .send()
        .await;
    response.assert_status(201);
    response.json()
}

/// A request that the route accepts when allowed (a concrete path and a valid body).
fn example(method: &str, template: &str) -> (String, Option<Value>) {
    let path = template
        .replace("{*id}", "no-such-document")
        .replace("{id}", "00000000-0000-0000-0000-000000000000")
        .replace("{model}", "no-such-model");
    let body = match (method, template) {
        ("POST", "/search") => Some(json!({"query": "hello"})),
        ("POST", "/documents") => Some(json!({"documents": [{"text": "hello world"}]})),
        ("POST", "/chat") => Some(json!({"message": "hello"})),
        ("POST", "/conversations") => Some(json!({})),
        ("POST", "/v1/chat/completions") => {
            Some(json!({"messages": [{"role": "user", "content": "hello"}]}))
        }
        _ => None,
    };
    (path, body)
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: &Option<Value>,
    key: &str,
) -> (u16, String) {
    let mut request = app
        .request(
            axum::http::Method::from_bytes(method.as_bytes()).expect("method"),
            path,
        )
        .api_key(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await;
    (response.status.as_u16(), response.code())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tenant_route_refuses_a_key_without_its_scope_and_admits_one_with_it() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let full = key_with(&app, &admin, "acme", None).await;
    let full = full["key"].as_str().expect("key").to_owned();
    // One key per scope, holding that scope alone.
    let mut single = Vec::new();
    for scope in ApiScope::ALL {
        let created = key_with(&app, &admin, "acme", Some(&[scope.as_str()])).await;
        assert_eq!(created["scopes"], json!([scope.as_str()]));
        single.push((scope, created["key"].as_str().expect("key").to_owned()));
    }
    let mut failures = Vec::new();
    for route in TENANT_ROUTES {
        let (path, body) = example(route.method, route.path);
        // What a key with every scope gets: the answer of an allowed key.
        let (allowed, allowed_code) = call(&app, route.method, &path, &body, &full).await;
        assert_ne!(
            allowed_code, "insufficient_scope",
            "{} {path}",
            route.method
        );
        for (scope, key) in &single {
            let (status, code) = call(&app, route.method, &path, &body, key).await;
            let permitted = route.scope.is_none_or(|needed| needed == *scope);
            let ok = if permitted {
                status == allowed && code == allowed_code
            } else {
                status == 403 && code == "insufficient_scope"
            };
            if !ok {
                failures.push(format!(
                    "{} {path} with a `{}` key: got {status} {code} (a full key gets {allowed} {allowed_code})",
                    route.method,
                    scope.as_str()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A user's token is not limited by scopes: the tenant route answers it as before.
    app.get("/usage")
        .bearer(&app.tenant_token("acme"))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_are_set_on_creation_shown_in_lists_and_kept_by_rotation() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let default = key_with(&app, &admin, "acme", None).await;
    assert_eq!(
        default["scopes"],
        json!([
            "chat",
            "search",
            "documents:read",
            "documents:write",
            "usage:read"
        ])
    );
    // Stored in the canonical order, duplicates folded.
    let scoped = key_with(&app, &admin, "acme", Some(&["search", "chat", "search"])).await;
    assert_eq!(scoped["scopes"], json!(["chat", "search"]));
    let listed = app
        .get("/admin/tenants/acme/api-keys")
        .bearer(&admin)
        .send()
        .await;
    listed.assert_status(200);
    let row = listed
        .json()
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["id"] == scoped["id"])
        .cloned()
        .expect("listed");
    assert_eq!(row["scopes"], json!(["chat", "search"]));
    assert!(row.get("key").is_none());

    for bad in [
        json!([]),
        json!(["admin"]),
        json!(["chat", "documents:delete"]),
        json!("chat"),
    ] {
        let response = app
            .post("/admin/tenants/acme/api-keys")
            .bearer(&admin)
            .json(&json!({"name": "bad", "scopes": bad}))
            .send()
            .await;
        response.assert_error(422, "validation_error");
        assert_eq!(response.json()["errors"][0]["field"], "scopes", "{bad}");
    }

    // The CLI: --scopes on creation, a scopes column in the list; rotation keeps them.
    let url = app.db.url.clone();
    let out = cli::ok(
        &url,
        &[
            "api-keys",
            "create",
            "--tenant",
            "acme",
            "--name",
            "reader",
            "--scopes",
            "search,documents:read",
        ],
        "",
    );
    assert!(out.contains("scopes search,documents:read"), "{out}");
    let key = out.lines().last().expect("key").trim().to_owned();
    app.post("/search")
        .api_key(&key)
        .json(&json!({"query": "x"}))
        .send()
        .await
        .assert_status(200);
    app.post("/chat")
        .api_key(&key)
        .json(&json!({"message": "x"}))
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    let listed = cli::ok(&url, &["api-keys", "list", "--tenant", "acme"], "");
    let line = listed
        .lines()
        .find(|l| l.contains("reader"))
        .expect("listed")
        .to_owned();
    assert!(line.ends_with("search,documents:read"), "{listed}");
    let key_id = line.split_whitespace().next().expect("id").to_owned();
    let rotated = cli::ok(&url, &["api-keys", "rotate", &key_id], "");
    let new_key = rotated.lines().last().expect("key").trim().to_owned();
    app.post("/chat")
        .api_key(&new_key)
        .json(&json!({"message": "x"}))
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    let bad = cli::run(
        &url,
        &[
            "api-keys", "create", "--tenant", "acme", "--name", "x", "--scopes", "root",
        ],
        "",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scopes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_me_lists_role_org_and_permissions() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let me = |token: String| {
        let app = &app;
        async move {
            let response = app.get("/auth/me").bearer(&token).send().await;
            response.assert_status(200);
            response.json()
        }
    };
    let names = |v: &Value| -> Vec<String> {
        v["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p.as_str().expect("name").to_owned())
            .collect()
    };
    let member = me(w.member.clone()).await;
    assert_eq!(member["role"], "member");
    assert_eq!(member["tenant_id"], "ta1");
    assert_eq!(
        names(&member),
        vec!["chat", "search", "documents:read", "usage:read"]
    );
    assert!(member.get("impersonator").is_none());

    let oa = me(w.org_admin.clone()).await;
    assert_eq!(oa["role"], "org_admin");
    assert_eq!(oa["org_id"], "org-a");
    assert_eq!(oa["is_superuser"], false);
    let p = names(&oa);
    for has in [
        "admin:orgs:read",
        "admin:tenants:create",
        "admin:users:impersonate",
        "admin:audit",
    ] {
        assert!(p.iter().any(|n| n == has), "org admin lacks {has}: {p:?}");
    }
    assert!(!p.iter().any(|n| n == "admin:orgs:write"), "{p:?}");
    assert!(!p.iter().any(|n| n == "documents:write"), "{p:?}");

    let ta = names(&me(w.tenant_admin.clone()).await);
    for has in [
        "admin:tenants:read",
        "admin:tenants:write",
        "admin:users:write",
        "admin:api_keys",
    ] {
        assert!(
            ta.iter().any(|n| n == has),
            "tenant admin lacks {has}: {ta:?}"
        );
    }
    for lacks in [
        "admin:tenants:create",
        "admin:tenants:deactivate",
        "admin:users:impersonate",
        "admin:orgs:read",
    ] {
        assert!(
            !ta.iter().any(|n| n == lacks),
            "tenant admin has {lacks}: {ta:?}"
        );
    }

    let su = me(w.superuser.clone()).await;
    assert_eq!(su["role"], "superuser");
    assert_eq!(su["is_superuser"], true);
    let p = names(&su);
    assert!(p.iter().any(|n| n == "documents:write"), "{p:?}");
    assert!(p.iter().any(|n| n == "admin:orgs:write"), "{p:?}");
    // Every name is a scope or an `admin:` permission.
    for name in p {
        assert!(
            ApiScope::parse(&name).is_some() || name.starts_with("admin:"),
            "{name}"
        );
    }
}

/// A tenant path with a method it does not take answers an API key 405, as it answers a token
/// (found by `properties::arbitrary_ids_in_paths_and_queries_never_get_a_server_error`: it was
/// a 500 for keys).
#[tokio::test(flavor = "multi_thread")]
async fn a_method_a_tenant_path_does_not_take_is_405_for_keys_too() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let key = key_with(&app, &admin, "acme", None).await;
    let key = key["key"].as_str().expect("key").to_owned();
    let token = app.tenant_token("acme");
    for (method, path) in [
        ("DELETE", "/conversations/"),
        ("DELETE", "/conversations"),
        ("PUT", "/search"),
        ("PATCH", "/tenant"),
    ] {
        let (status, code) = call(&app, method, path, &None, &key).await;
        assert_eq!(
            (status, code.as_str()),
            (405, "method_not_allowed"),
            "{method} {path} with a key"
        );
        let response = app
            .request(
                axum::http::Method::from_bytes(method.as_bytes()).expect("method"),
                path,
            )
            .bearer(&token)
            .send()
            .await;
        assert_eq!(
            response.status.as_u16(),
            405,
            "{method} {path} with a token"
        );
    }
}
