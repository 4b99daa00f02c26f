//! Roles and delegated administration (DESIGN §10): every (role × admin route × own/other
//! object) cell with its expected status, list filtering by scope, and role assignment limits.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{PASSWORD, TestApp, TestResponse};

/// A user with a role, made as `tenantgate users create` would.
pub async fn create_user_with_role(
    app: &TestApp,
    email: &str,
    tenant_id: Option<&str>,
    role: &str,
    org_id: Option<&str>,
) -> Uuid {
    let mut conn = app.conn().await;
    let input = tenantgate::services::users::CreateUser {
        email: email.to_owned(),
        password: PASSWORD.to_owned().into(),
        tenant_id: tenant_id.map(str::to_owned),
        is_superuser: false,
        is_active: None,
        role: Some(role.to_owned()),
        org_id: org_id.map(str::to_owned),
    };
    tenantgate::services::users::create(
        &mut conn,
        &tenantgate::services::audit::Actor::cli(),
        input,
    )
    .await
    .expect("create user")
    .id
}

pub async fn create_org(app: &TestApp, admin: &str, id: &str) {
    app.post("/admin/orgs")
        .bearer(admin)
        .json(&json!({"id": id, "name": format!("Org {id}")}))
        .send()
        .await
        .assert_status(201);
}

async fn create_key(app: &TestApp, admin: &str, tenant: &str) -> String {
    let response = app
        .post(&format!("/admin/tenants/{tenant}/api-keys"))
        .bearer(admin)
        .json(&json!({"name": "k"}))
        .send()
        .await;
    response.assert_status(201);
    response.json()["id"].as_str().expect("id").to_owned()
}

/// The organization world every test here starts from.
pub struct World {
    pub superuser: String,
    pub org_admin: String,
    pub tenant_admin: String,
    pub member: String,
    /// A member of `ta1` (own) and of `tb1` (other), plus ones to deactivate.
    pub own_user: Uuid,
    pub other_user: Uuid,
    pub own_doomed_user: Uuid,
    pub other_doomed_user: Uuid,
    pub own_key: String,
    pub other_key: String,
}

/// `org-a` holds `ta1` (the tenant admin's and member's tenant), `ta-doomed`; `org-b` holds
/// `tb1`, `tb-doomed`. The org admin administers `org-a`.
pub async fn world(app: &TestApp) -> World {
    let superuser = app.superuser_token().await;
    create_org(app, &superuser, "org-a").await;
    create_org(app, &superuser, "org-b").await;
    for (tenant, org) in [
        ("ta1", "org-a"),
        ("ta-doomed", "org-a"),
        ("tb1", "org-b"),
        ("tb-doomed", "org-b"),
    ] {
        let t = app
            .create_tenant(&superuser, tenant, json!({"org_id": org}))
            .await;
        assert_eq!(t["org_id"], org);
    }
    create_user_with_role(app, "oa@a.example.com", None, "org_admin", Some("org-a")).await;
    create_user_with_role(app, "ta@a.example.com", Some("ta1"), "tenant_admin", None).await;
    create_user_with_role(app, "m@a.example.com", Some("ta1"), "member", None).await;
    let own_user =
        create_user_with_role(app, "u1@a.example.com", Some("ta1"), "member", None).await;
    let own_doomed_user =
        create_user_with_role(app, "u2@a.example.com", Some("ta1"), "member", None).await;
    let other_user =
        create_user_with_role(app, "u1@b.example.com", Some("tb1"), "member", None).await;
    let other_doomed_user =
        create_user_with_role(app, "u2@b.example.com", Some("tb1"), "member", None).await;
    World {
        org_admin: app.login_as("oa@a.example.com").await,
        tenant_admin: app.login_as("ta@a.example.com").await,
        member: app.login_as("m@a.example.com").await,
        own_key: create_key(app, &superuser, "ta1").await,
        other_key: create_key(app, &superuser, "tb1").await,
        superuser,
        own_user,
        other_user,
        own_doomed_user,
        other_doomed_user,
    }
}

struct Cell {
    method: &'static str,
    template: &'static str,
    own: String,
    other: String,
    body: Option<Value>,
    other_body: Option<Value>,
    /// Expected status for superuser, org admin, tenant admin, member: own object, other's.
    expect_own: [u16; 4],
    expect_other: [u16; 4],
}

#[allow(clippy::too_many_arguments)]
fn cell(
    method: &'static str,
    template: &'static str,
    own: impl Into<String>,
    other: impl Into<String>,
    body: Option<Value>,
    other_body: Option<Value>,
    expect_own: [u16; 4],
    expect_other: [u16; 4],
) -> Cell {
    Cell {
        method,
        template,
        own: own.into(),
        other: other.into(),
        body,
        other_body,
        expect_own,
        expect_other,
    }
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: &Option<Value>,
) -> TestResponse {
    let mut request = app
        .request(Method::from_bytes(method.as_bytes()).expect("method"), path)
        .bearer(token);
    if let Some(body) = body {
        // `NEW` becomes a fresh name, so creating cells can run once per role.
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let text = body.to_string().replace("NEW", &format!("new{n}"));
        request = request.json(&serde_json::from_str(&text).expect("json"));
    }
    request.send().await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_role_on_every_admin_route_on_own_and_other_objects() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let (ou, xu, odu, xdu) = (
        w.own_user,
        w.other_user,
        w.own_doomed_user,
        w.other_doomed_user,
    );
    let (ok, xk) = (&w.own_key, &w.other_key);
    let new_user = |tenant: &str| {
        Some(json!({"email": "NEW@example.com", "password": PASSWORD, "tenant_id": tenant}))
    };
    // S = superuser, OA = org admin of org-a, TA = tenant admin of ta1, M = member of ta1.
    //                                                          own: [S, OA, TA, M]      other: [S, OA, TA, M]
    #[rustfmt::skip]
    let cells = [
        cell("GET", "/admin/orgs", "/admin/orgs", "/admin/orgs", None, None, [200, 200, 403, 403], [200, 200, 403, 403]),
        cell("POST", "/admin/orgs", "/admin/orgs", "/admin/orgs", Some(json!({"id": "NEW", "name": "N"})), None, [201, 403, 403, 403], [201, 403, 403, 403]),
        cell("GET", "/admin/orgs/{id}", "/admin/orgs/org-a", "/admin/orgs/org-b", None, None, [200, 200, 403, 403], [200, 404, 403, 403]),
        cell("PUT", "/admin/orgs/{id}", "/admin/orgs/org-a", "/admin/orgs/org-b", Some(json!({"name": "Renamed"})), None, [200, 403, 403, 403], [200, 403, 403, 403]),
        cell("PATCH", "/admin/orgs/{id}", "/admin/orgs/org-a", "/admin/orgs/org-b", Some(json!({"name": "Renamed 2"})), None, [200, 403, 403, 403], [200, 403, 403, 403]),
        cell("GET", "/admin/orgs/{id}/tenants", "/admin/orgs/org-a/tenants", "/admin/orgs/org-b/tenants", None, None, [200, 200, 403, 403], [200, 404, 403, 403]),
        cell("GET", "/admin/tenants", "/admin/tenants", "/admin/tenants", None, None, [200, 200, 200, 403], [200, 200, 200, 403]),
        cell("POST", "/admin/tenants", "/admin/tenants", "/admin/tenants", Some(json!({"id": "NEW", "name": "N"})), Some(json!({"id": "NEW", "name": "N", "org_id": "org-b"})), [201, 201, 403, 403], [201, 422, 403, 403]),
        cell("GET", "/admin/tenants/{id}", "/admin/tenants/ta1", "/admin/tenants/tb1", None, None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("PUT", "/admin/tenants/{id}", "/admin/tenants/ta1", "/admin/tenants/tb1", Some(json!({"system_prompt": "p"})), None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("PATCH", "/admin/tenants/{id}", "/admin/tenants/ta1", "/admin/tenants/tb1", Some(json!({"name": "N"})), None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("DELETE", "/admin/tenants/{id}", "/admin/tenants/ta-doomed", "/admin/tenants/tb-doomed", None, None, [200, 200, 403, 403], [200, 404, 403, 403]),
        cell("GET", "/admin/tenants/{id}/api-keys", "/admin/tenants/ta1/api-keys", "/admin/tenants/tb1/api-keys", None, None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("POST", "/admin/tenants/{id}/api-keys", "/admin/tenants/ta1/api-keys", "/admin/tenants/tb1/api-keys", Some(json!({"name": "k"})), None, [201, 201, 201, 403], [201, 404, 404, 403]),
        cell("DELETE", "/admin/tenants/{id}/api-keys/{key_id}", format!("/admin/tenants/ta1/api-keys/{ok}"), format!("/admin/tenants/tb1/api-keys/{xk}"), None, None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("GET", "/admin/users", "/admin/users", "/admin/users", None, None, [200, 200, 200, 403], [200, 200, 200, 403]),
        cell("POST", "/admin/users", "/admin/users", "/admin/users", new_user("ta1"), new_user("tb1"), [201, 201, 201, 403], [201, 422, 422, 403]),
        cell("GET", "/admin/users/{id}", format!("/admin/users/{ou}"), format!("/admin/users/{xu}"), None, None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("PUT", "/admin/users/{id}", format!("/admin/users/{ou}"), format!("/admin/users/{xu}"), Some(json!({"is_active": true})), None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("PATCH", "/admin/users/{id}", format!("/admin/users/{ou}"), format!("/admin/users/{xu}"), Some(json!({"role": "member"})), None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("DELETE", "/admin/users/{id}", format!("/admin/users/{odu}"), format!("/admin/users/{xdu}"), None, None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("POST", "/admin/users/{id}/impersonate", format!("/admin/users/{ou}/impersonate"), format!("/admin/users/{xu}/impersonate"), None, None, [200, 200, 403, 403], [200, 404, 403, 403]),
        cell("GET", "/admin/audit", "/admin/audit", "/admin/audit", None, None, [200, 200, 200, 403], [200, 200, 200, 403]),
        cell("GET", "/admin/tenants/{id}/usage", "/admin/tenants/ta1/usage", "/admin/tenants/tb1/usage", None, None, [200, 200, 200, 403], [200, 404, 404, 403]),
        cell("GET", "/admin/usage", "/admin/usage", "/admin/usage", None, None, [200, 200, 200, 403], [200, 200, 200, 403]),
    ];
    // Every admin route of the router is in the table: a new route cannot skip the matrix.
    let covered: BTreeSet<(&str, &str)> = cells.iter().map(|c| (c.method, c.template)).collect();
    let admin_routes: BTreeSet<(&str, &str)> = tenantgate::http::router::ROUTES
        .iter()
        .filter(|(_, p)| p.starts_with("/admin"))
        .filter(|(m, p)| !(*m == "DELETE" && *p == "/admin/orgs/{id}"))
        .copied()
        .collect();
    assert_eq!(covered, admin_routes);

    // Least powerful first, so a write allowed to a stronger role cannot hide a refusal.
    let roles = [
        (3, "member", &w.member),
        (2, "tenant admin", &w.tenant_admin),
        (1, "org admin", &w.org_admin),
        (0, "superuser", &w.superuser),
    ];
    let mut failures = Vec::new();
    for (index, who, token) in roles {
        for c in &cells {
            for (path, body, expect, which) in [
                (&c.own, &c.body, c.expect_own[index], "own"),
                (
                    &c.other,
                    c.other_body.as_ref().map_or(&c.body, |_| &c.other_body),
                    c.expect_other[index],
                    "other",
                ),
            ] {
                let response = send(&app, c.method, path, token, body).await;
                if response.status.as_u16() != expect {
                    failures.push(format!(
                        "{who} {} {path} ({which}): expected {expect}, got {} {}",
                        c.method,
                        response.status,
                        response.text()
                    ));
                }
                if expect == 403 {
                    assert_eq!(response.code(), "forbidden", "{who} {} {path}", c.method);
                }
                if expect == 404 {
                    assert_eq!(response.code(), "not_found", "{who} {} {path}", c.method);
                }
            }
        }
    }
    // Deactivating an organization: superusers only (the last cell, so nothing above depends
    // on the organizations' state).
    for (who, token, expect) in [
        ("member", &w.member, 403),
        ("tenant admin", &w.tenant_admin, 403),
        ("org admin", &w.org_admin, 403),
        ("superuser", &w.superuser, 200),
    ] {
        for org in ["org-a", "org-b"] {
            let response = send(&app, "DELETE", &format!("/admin/orgs/{org}"), token, &None).await;
            if response.status.as_u16() != expect {
                failures.push(format!(
                    "{who} DELETE /admin/orgs/{org}: expected {expect}, got {}",
                    response.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn field_set(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_show_only_what_the_role_administers() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let get = |path: &'static str, token: &str| {
        let token = token.to_owned();
        let app = &app;
        async move {
            let r = app.get(path).bearer(&token).send().await;
            r.assert_status(200);
            r.json()
        }
    };
    let all = get("/admin/tenants", &w.superuser).await;
    assert_eq!(
        field_set(&all, "id"),
        set(&["ta1", "ta-doomed", "tb1", "tb-doomed"])
    );
    let oa = get("/admin/tenants", &w.org_admin).await;
    assert_eq!(field_set(&oa, "id"), set(&["ta1", "ta-doomed"]));
    let ta = get("/admin/tenants", &w.tenant_admin).await;
    assert_eq!(field_set(&ta, "id"), set(&["ta1"]));

    let orgs = get("/admin/orgs", &w.org_admin).await;
    assert_eq!(field_set(&orgs, "id"), set(&["org-a"]));
    let org_tenants = get("/admin/orgs/org-a/tenants", &w.org_admin).await;
    assert_eq!(field_set(&org_tenants, "id"), set(&["ta1", "ta-doomed"]));

    let users = get("/admin/users", &w.org_admin).await;
    assert_eq!(
        field_set(&users, "email"),
        set(&[
            "oa@a.example.com",
            "ta@a.example.com",
            "m@a.example.com",
            "u1@a.example.com",
            "u2@a.example.com"
        ])
    );
    let users = get("/admin/users", &w.tenant_admin).await;
    assert_eq!(
        field_set(&users, "email"),
        set(&[
            "ta@a.example.com",
            "m@a.example.com",
            "u1@a.example.com",
            "u2@a.example.com"
        ])
    );

    let audit = get("/admin/audit?limit=1000", &w.org_admin).await;
    let tenants = field_set(&audit, "tenant_id");
    assert!(!tenants.is_empty());
    assert!(
        tenants.is_subset(&set(&["ta1", "ta-doomed"])),
        "{tenants:?}"
    );
    let audit = get("/admin/audit?limit=1000&tenant_id=tb1", &w.org_admin).await;
    assert_eq!(audit, json!([]));
    let audit = get("/admin/audit?limit=1000", &w.tenant_admin).await;
    assert_eq!(field_set(&audit, "tenant_id"), set(&["ta1"]));

    // An org admin's tenants land in its organization.
    let created = app
        .post("/admin/tenants")
        .bearer(&w.org_admin)
        .json(&json!({"id": "ta-new", "name": "New"}))
        .send()
        .await;
    created.assert_status(201);
    assert_eq!(created.json()["org_id"], "org-a");
    // ... and it may not move them.
    app.patch("/admin/tenants/ta-new")
        .bearer(&w.org_admin)
        .json(&json!({"org_id": "org-b"}))
        .send()
        .await
        .assert_error(403, "forbidden");
    // A tenant admin changes only name and system prompt.
    app.patch("/admin/tenants/ta1")
        .bearer(&w.tenant_admin)
        .json(&json!({"retriever": "none"}))
        .send()
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_granted_only_up_to_the_granters_reach() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let create = |token: &str, body: Value| {
        let token = token.to_owned();
        let app = &app;
        async move {
            let mut body = body;
            body["password"] = json!(PASSWORD);
            app.post("/admin/users")
                .bearer(&token)
                .json(&body)
                .send()
                .await
        }
    };
    // Superuser: `is_superuser: true` still means the superuser role.
    let r = create(
        &w.superuser,
        json!({"email": "s2@example.com", "is_superuser": true}),
    )
    .await;
    r.assert_status(201);
    assert_eq!(r.json()["role"], "superuser");
    assert_eq!(r.json()["is_superuser"], true);
    let r = create(
        &w.superuser,
        json!({"email": "bad@example.com", "role": "root"}),
    )
    .await;
    r.assert_error(422, "validation_error");
    let r = create(
        &w.superuser,
        json!({"email": "oa2@example.com", "role": "org_admin"}),
    )
    .await;
    r.assert_error(422, "validation_error");

    // Org admin: up to org_admin of its own organization.
    create(
        &w.org_admin,
        json!({"email": "x1@example.com", "role": "superuser"}),
    )
    .await
    .assert_error(403, "forbidden");
    let r = create(
        &w.org_admin,
        json!({"email": "x2@example.com", "role": "org_admin", "org_id": "org-a"}),
    )
    .await;
    r.assert_status(201);
    assert_eq!(r.json()["org_id"], "org-a");
    create(
        &w.org_admin,
        json!({"email": "x3@example.com", "role": "org_admin", "org_id": "org-b"}),
    )
    .await
    .assert_error(422, "validation_error");
    let r = create(
        &w.org_admin,
        json!({"email": "x4@example.com", "role": "tenant_admin", "tenant_id": "ta1"}),
    )
    .await;
    r.assert_status(201);
    // ... and cannot raise one of its users to superuser.
    let id = r.json()["id"].as_str().expect("id").to_owned();
    app.patch(&format!("/admin/users/{id}"))
        .bearer(&w.org_admin)
        .json(&json!({"is_superuser": true}))
        .send()
        .await
        .assert_error(403, "forbidden");

    // Tenant admin: members and tenant admins of its own tenant.
    create(
        &w.tenant_admin,
        json!({"email": "y1@example.com", "role": "org_admin", "org_id": "org-a"}),
    )
    .await
    .assert_error(403, "forbidden");
    let r = create(
        &w.tenant_admin,
        json!({"email": "y2@example.com", "role": "tenant_admin", "tenant_id": "ta1"}),
    )
    .await;
    r.assert_status(201);
    create(
        &w.tenant_admin,
        json!({"email": "y3@example.com", "tenant_id": "ta-doomed"}),
    )
    .await
    .assert_error(422, "validation_error");
    // Moving its user to another tenant is refused like an unknown tenant.
    app.patch(&format!("/admin/users/{}", w.own_user))
        .bearer(&w.tenant_admin)
        .json(&json!({"tenant_id": "tb1"}))
        .send()
        .await
        .assert_error(422, "validation_error");
    // A superuser is invisible to an org admin.
    let r = app.get("/admin/users").bearer(&w.superuser).send().await;
    let su = r
        .json()
        .as_array()
        .expect("array")
        .iter()
        .find(|u| u["role"] == "superuser")
        .expect("superuser")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.get(&format!("/admin/users/{su}"))
        .bearer(&w.org_admin)
        .send()
        .await
        .assert_error(404, "not_found");
}
