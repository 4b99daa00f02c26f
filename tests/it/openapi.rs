//! `/openapi.json` against the router: `router::ROUTES` (read from the declaration both are
//! made from) is checked against the router itself (every path a handler's `#[utoipa::path]`
//! names is listed, every listed route answers, no unlisted method does) and against the
//! document (both ways); the document's references resolve and
//! it passes openapi-spec-validator (with the Python of `TENANTGATE_TEST_PYTHON`, which CI's
//! `.ci/run` provides; without it that one test says so and passes).

use std::collections::{BTreeSet, HashSet};

use axum::http::Method;
use serde_json::Value;
use tenantgate::http::router::ROUTES;

use crate::harness::TestApp;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A concrete path for a template: `{key_id}` gets a UUID, any other parameter a word.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{key_id}" => "00000000-0000-0000-0000-000000000000",
            s if s.starts_with('{') => "nosuch",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn listed() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_of_the_router_is_in_the_document_and_nothing_else() {
    let app = TestApp::new().await;
    let response = app.get("/openapi.json").send().await;
    response.assert_status(200);
    let doc = response.json();
    assert!(doc["openapi"].as_str().expect("openapi").starts_with("3.1"));

    let listed = listed();
    let documented = documented(&doc);
    let undocumented: Vec<_> = listed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&listed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not in router::ROUTES: {unrouted:?}"
    );
    assert!(listed.len() >= 23, "{} routes", listed.len());

    // Operation ids are unique (PUT and PATCH share a handler but not an id).
    let mut ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                assert!(
                    ids.insert(id.to_owned()),
                    "{method} {path}: duplicate id {id}"
                );
            }
        }
    }
    for id in [
        "update_tenant",
        "update_tenant_patch",
        "update_user",
        "update_user_patch",
    ] {
        assert!(ids.contains(id), "{id} missing: {ids:?}");
    }

    // Admin operations require the bearer scheme, which is defined.
    for (method, path) in &listed {
        if path.starts_with("/admin") {
            let op = &doc["paths"][path][method.to_lowercase()];
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}"
            );
            for status in ["200", "401", "403"] {
                let documented = op["responses"].get(status).is_some()
                    || (status == "200" && op["responses"].get("201").is_some());
                assert!(documented, "{method} {path}: no {status}");
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());

    // What validators insist on: a description on every response, and every `{param}` of a
    // path (and only those) declared `in: path`.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        for (status, response) in op["responses"].as_object().expect("responses") {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status}: no description"
            );
        }
        let mut declared: Vec<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut templated: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        declared.sort();
        templated.sort();
        assert_eq!(declared, templated, "{method} {path}: path parameters");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_passes_openapi_spec_validator() {
    let Ok(python) = std::env::var("TENANTGATE_TEST_PYTHON") else {
        eprintln!(
            "openapi validator test skipped: set TENANTGATE_TEST_PYTHON to a Python with tests/sdk/requirements.txt installed"
        );
        return;
    };
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").send().await;
    doc.assert_status(200);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &doc.body).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/validate_openapi.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(file.path())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("is valid"), "{stdout}");
}

/// Every `$ref` in the document points at a schema it defines.
#[tokio::test(flavor = "multi_thread")]
async fn every_reference_resolves() {
    fn walk(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").send().await.json();
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(refs.len() > 10, "{refs:?}");
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    for schema in [
        "TenantView",
        "UserView",
        "ApiKeyView",
        "CreatedApiKey",
        "AuditEntry",
        "CreateUser",
        "UpdateUser",
        "CreateApiKey",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    // The creation response shows the key; the listing shape has no such field.
    assert!(doc["components"]["schemas"]["CreatedApiKey"]["properties"]["key"].is_object());
    assert!(doc["components"]["schemas"]["ApiKeyView"]["properties"]["key"].is_null());
}

/// `ROUTES` is the router's own list: every path a handler's annotation names is listed (no
/// annotated handler was left out of `router::api()`), every listed route is served (not the
/// fallback, not 405), and every other method on a listed path is 405, so no method of a listed
/// path can be missing from the list.
#[tokio::test(flavor = "multi_thread")]
async fn routes_list_matches_the_router() {
    let pattern =
        regex::Regex::new(r#"#\[utoipa::path\([^"]*path\s*=\s*"([^"]+)""#).expect("regex");
    let listed_paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    let mut seen = 0;
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.expect("src entry");
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(entry.path()).expect("source");
        for capture in pattern.captures_iter(&source) {
            seen += 1;
            // A catch-all segment (`{*id}`) is `{id}` in OpenAPI terms.
            let path = capture[1].replace("{*", "{");
            let path = path.as_str();
            assert!(
                listed_paths.contains(path),
                "{} annotates {path}, which router::ROUTES does not list",
                entry.path().display()
            );
        }
    }
    assert!(seen >= 10, "the scan found only {seen} routes");

    // A route layer wraps the 405 answer too, so the probe carries a credential every layer
    // accepts: a superuser's token that names a tenant.
    let app = TestApp::new().await;
    app.seed_tenant("probe-tenant", None).await;
    app.create_user("probe@example.com", Some("probe-tenant"), true)
        .await;
    let token = app.login_as("probe@example.com").await;
    for path in &listed_paths {
        let url = concrete(path);
        for method in METHODS {
            let is_listed = ROUTES.contains(&(method, *path));
            let response = app
                .request(Method::from_bytes(method.as_bytes()).expect("method"), &url)
                .bearer(&token)
                .send()
                .await;
            let status = response.status.as_u16();
            if is_listed {
                assert_ne!(status, 405, "{method} {path} is listed but not routed");
                assert!(
                    status < 500,
                    "{method} {path}: {status} {}",
                    response.text()
                );
                let fallback = status == 404 && response.text().contains("route not found");
                assert!(!fallback, "{method} {path} is listed but not routed");
            } else {
                assert_eq!(status, 405, "{method} {path} answers but is not listed");
            }
        }
    }
}

/// `POST /documents` is described with both bodies: JSON documents and the file upload form.
#[tokio::test(flavor = "multi_thread")]
async fn document_uploads_are_described() {
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").send().await.json();
    let content = &doc["paths"]["/documents"]["post"]["requestBody"]["content"];
    assert!(
        content["application/json"]["schema"].is_object(),
        "{content}"
    );
    let form = &content["multipart/form-data"]["schema"]["$ref"];
    assert_eq!(form, "#/components/schemas/UploadForm", "{content}");
    let fields = &doc["components"]["schemas"]["UploadForm"]["properties"];
    assert!(
        fields["file"].is_object() && fields["id_prefix"].is_object(),
        "{fields}"
    );
}

/// A user's role and a chat message's role are two schemas: under one name, the document once
/// described users' roles as `user | assistant | system`.
#[tokio::test(flavor = "multi_thread")]
async fn user_roles_and_message_roles_are_separate_schemas() {
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").send().await.json();
    let schemas = &doc["components"]["schemas"];
    let values = |name: &str| -> Vec<String> {
        schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("schema {name} is an enum: {}", schemas[name]))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        values("Role").contains(&"org_admin".to_owned()),
        "{}",
        schemas["Role"]
    );
    assert!(
        values("MessageRole").contains(&"assistant".to_owned()),
        "{}",
        schemas["MessageRole"]
    );
}
