//! The request edge: what a caller controls never becomes a metrics label, and a NUL
//! character anywhere in a body, path or query is refused as a client error (never a 500).

use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::harness::api_key_for;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_labels_come_from_fixed_sets() {
    let app = TestApp::new().await;
    // The first scrape installs the process's recorder (as `serve` does at start-up).
    app.get("/metrics").send().await.assert_status(200);
    let marker = format!("ZZMETHOD{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    for i in 0..20 {
        let method = Method::from_bytes(format!("{marker}{i}{}", "X".repeat(200)).as_bytes())
            .expect("method");
        app.request(method, "/health").send().await;
        app.get(&format!("/no/such/path/{marker}{i}")).send().await;
    }
    app.get("/health").send().await.assert_status(200);
    let metrics = app.get("/metrics").send().await.text();
    assert!(
        !metrics.contains(&marker),
        "a caller-chosen method or path became a label"
    );
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
    assert!(metrics.contains(r#"route="/health""#), "{metrics}");
}

/// One place a NUL can reach: the request, and the status it must get (422 or 404).
struct NulCase {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    auth: Auth,
    status: u16,
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Admin,
    Tenant,
    ApiKey,
}

fn case(
    name: &'static str,
    method: Method,
    path: &str,
    body: Option<Value>,
    auth: Auth,
) -> NulCase {
    let status = if body.is_some() || path.contains('?') {
        422
    } else {
        404
    };
    NulCase {
        name,
        method,
        path: path.to_owned(),
        body,
        auth,
        status,
    }
}

/// A text with a NUL character in it.
const NUL: &str = "bad\u{0}value";

/// Who sends the NUL cases: an admin, a tenant user's token and API key, and a user row.
struct Callers {
    admin: String,
    tenant: String,
    key: String,
    user: uuid::Uuid,
}

async fn callers(app: &TestApp) -> Callers {
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "acme", json!({})).await;
    let tenant = app.tenant_token("acme");
    let key = api_key_for(app, "acme").await;
    let user = app
        .create_user("nul-user@example.com", Some("acme"), false)
        .await;
    Callers {
        admin,
        tenant,
        key,
        user,
    }
}

/// Every place a NUL can reach, with the status it must get.
fn nul_cases(user: uuid::Uuid) -> Vec<NulCase> {
    let nul = NUL;
    let doc = |field: &str| {
        let mut d = json!({"id": "d1", "text": "some text"});
        d[field] = if field == "metadata" {
            json!({"note": nul})
        } else {
            json!(nul)
        };
        Some(json!({"documents": [d]}))
    };
    use Auth::*;
    vec![
        case(
            "login email",
            Method::POST,
            "/auth/token",
            Some(json!({"email": nul, "password": "x"})),
            None,
        ),
        case(
            "login password",
            Method::POST,
            "/auth/token",
            Some(json!({"email": "a@example.com", "password": nul})),
            None,
        ),
        case(
            "search query",
            Method::POST,
            "/search",
            Some(json!({"query": nul})),
            Tenant,
        ),
        case(
            "chat message",
            Method::POST,
            "/chat",
            Some(json!({"message": nul})),
            Tenant,
        ),
        case(
            "chat history",
            Method::POST,
            "/chat",
            Some(json!({"message": "hi", "history": [{"role": "user", "content": nul}]})),
            Tenant,
        ),
        case(
            "completions message",
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"messages": [{"role": "user", "content": nul}]})),
            Tenant,
        ),
        case("document id", Method::POST, "/documents", doc("id"), ApiKey),
        case(
            "document text",
            Method::POST,
            "/documents",
            doc("text"),
            ApiKey,
        ),
        case(
            "document title",
            Method::POST,
            "/documents",
            doc("title"),
            ApiKey,
        ),
        case(
            "document source",
            Method::POST,
            "/documents",
            doc("source"),
            ApiKey,
        ),
        case(
            "document metadata",
            Method::POST,
            "/documents",
            doc("metadata"),
            ApiKey,
        ),
        case(
            "metadata key",
            Method::POST,
            "/documents",
            Some(json!({"documents": [{"text": "t", "metadata": {nul: 1}}]})),
            ApiKey,
        ),
        case(
            "tenant id",
            Method::POST,
            "/admin/tenants",
            Some(json!({"id": nul, "name": "n"})),
            Admin,
        ),
        case(
            "tenant name",
            Method::POST,
            "/admin/tenants",
            Some(json!({"id": "t2", "name": nul})),
            Admin,
        ),
        case(
            "tenant prompt",
            Method::POST,
            "/admin/tenants",
            Some(json!({"id": "t2", "name": "n", "system_prompt": nul})),
            Admin,
        ),
        case(
            "tenant namespace",
            Method::POST,
            "/admin/tenants",
            Some(json!({"id": "t2", "name": "n", "pinecone_namespace": nul})),
            Admin,
        ),
        case(
            "tenant update name",
            Method::PUT,
            "/admin/tenants/acme",
            Some(json!({"name": nul})),
            Admin,
        ),
        case(
            "tenant update prompt",
            Method::PATCH,
            "/admin/tenants/acme",
            Some(json!({"system_prompt": nul})),
            Admin,
        ),
        case(
            "user email",
            Method::POST,
            "/admin/users",
            Some(json!({"email": nul, "password": "long-enough-pw-1"})),
            Admin,
        ),
        case(
            "user update email",
            Method::PUT,
            &format!("/admin/users/{user}"),
            Some(json!({"email": nul})),
            Admin,
        ),
        case(
            "api key name",
            Method::POST,
            "/admin/tenants/acme/api-keys",
            Some(json!({"name": nul})),
            Admin,
        ),
        case(
            "tenant path id",
            Method::GET,
            "/admin/tenants/ac%00me",
            Option::None,
            Admin,
        ),
        case(
            "tenant path id (update)",
            Method::PUT,
            "/admin/tenants/ac%00me",
            Option::None,
            Admin,
        ),
        case(
            "tenant path id (delete)",
            Method::DELETE,
            "/admin/tenants/ac%00me",
            Option::None,
            Admin,
        ),
        case(
            "api keys path id",
            Method::GET,
            "/admin/tenants/ac%00me/api-keys",
            Option::None,
            Admin,
        ),
        case(
            "api key path id",
            Method::DELETE,
            "/admin/tenants/acme/api-keys/k%00",
            Option::None,
            Admin,
        ),
        case(
            "user path id",
            Method::GET,
            "/admin/users/u%00",
            Option::None,
            Admin,
        ),
        case(
            "document path id",
            Method::DELETE,
            "/documents/d%001",
            Option::None,
            ApiKey,
        ),
        case(
            "model path id",
            Method::GET,
            "/v1/models/gpt%00",
            Option::None,
            Tenant,
        ),
        case(
            "audit query id",
            Method::GET,
            "/admin/audit?tenant_id=ac%00me",
            Option::None,
            Admin,
        ),
        case(
            "tenant list query",
            Method::GET,
            "/admin/tenants?include_inactive=%00",
            Option::None,
            Admin,
        ),
        case(
            "user list query",
            Method::GET,
            "/admin/users?tenant_id=ac%00me",
            Option::None,
            Admin,
        ),
        case(
            "document list query",
            Method::GET,
            "/documents?limit=%00",
            Option::None,
            Tenant,
        ),
    ]
}

/// Sends each case as its caller; returns a line for each that did not get its status and code.
async fn failures_of(app: &TestApp, callers: &Callers, cases: &[NulCase]) -> Vec<String> {
    let Callers {
        admin, tenant, key, ..
    } = callers;
    use Auth::*;
    let mut failures = Vec::new();
    for case in cases {
        let mut request = app.request(case.method.clone(), &case.path);
        request = match case.auth {
            None => request,
            Admin => request.bearer(admin),
            Tenant => request.bearer(tenant),
            ApiKey => request.api_key(key),
        };
        if let Some(body) = &case.body {
            request = request.json(body);
        } else if matches!(case.method, Method::PUT) {
            request = request.json(&json!({"name": "x"}));
        }
        let response = request.send().await;
        let code = if case.status == 404 {
            "not_found"
        } else {
            "validation_error"
        };
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if response.status.as_u16() != case.status || body["code"] != code {
            failures.push(format!(
                "{}: {} {} -> {} {}",
                case.name,
                case.method,
                case.path,
                response.status,
                response.text()
            ));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_are_refused_at_the_edge() {
    let app = TestApp::new().await;
    let callers = callers(&app).await;
    let Callers { tenant, key, .. } = &callers;
    let nul = NUL;
    let cases = nul_cases(callers.user);
    let failures = failures_of(&app, &callers, &cases).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // The 422s name the field.
    let named = app
        .post("/documents")
        .api_key(key)
        .json(&json!({"documents": [{"text": "t", "metadata": {"note": nul}}]}))
        .send()
        .await;
    assert_eq!(
        named.json()["errors"][0]["field"],
        "documents[0].metadata.note"
    );
    // An escaped backslash followed by "u0000" is text, not a NUL.
    let text = app
        .post("/search")
        .bearer(tenant)
        .json(&json!({"query": "\\u0000 literal"}))
        .send()
        .await;
    text.assert_status(200);
}
