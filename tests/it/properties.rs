//! Property-based tests (proptest): arbitrary tokens, credential headers, JSON bodies of every
//! route that takes one, and ids in paths and queries never make the gateway answer a 5xx (a
//! panic would be a 500 from the catch-panic layer, so it is covered too).
//!
//! Bounded for CI: `PROPTEST_CASES` cases per property (default 256); each test prints how many
//! cases it ran. Failing inputs are shrunk and printed, not persisted to files.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::Method;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use crate::harness::chat::{FakeLlm, Script};
use crate::harness::{TestApp, TestResponse};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// A gateway with a tenant (`acme`, built-in retriever, one document), its API key, a superuser
/// token and a stand-in LLM that answers, so valid inputs get 2xx and nothing else is a 5xx.
struct World {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    _llm: FakeLlm,
    key: String,
    admin: String,
    /// A member user's id, for the `{user}` routes.
    user: String,
}

impl World {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (app, llm, key, admin, user) = runtime.block_on(async {
            let llm = FakeLlm::start(Script::Reply).await;
            let app = TestApp::builder()
                .openai(&llm)
                .env("TENANT_REQUESTS_PER_MINUTE", "1000000")
                .build()
                .await;
            let key = app.tenant_with_key("acme").await;
            app.post("/documents")
                .api_key(&key)
                .json(&json!({"documents": [{"id": "d", "text": "rockets and anvils"}]}))
                .send()
                .await
                .assert_status(201);
            let admin = app.superuser_token().await;
            app.post("/admin/orgs")
                .bearer(&admin)
                .json(&json!({"id": "org-x", "name": "Org X"}))
                .send()
                .await
                .assert_status(201);
            let user = app
                .post("/admin/users")
                .bearer(&admin)
                .json(&json!({"email": "member@example.com", "password": "a long password 1"}))
                .send()
                .await;
            user.assert_status(201);
            let user = user.json()["id"].to_string().trim_matches('"').to_owned();
            (app, llm, key, admin, user)
        });
        Self {
            runtime,
            app,
            _llm: llm,
            key,
            admin,
            user,
        }
    }

    /// Runs `property` over `strategy`, counting cases; panics with the shrunk input on failure.
    fn check<S: Strategy>(
        &self,
        name: &str,
        strategy: S,
        property: impl Fn(&Self, S::Value) -> Result<(), TestCaseError>,
    ) where
        S::Value: std::fmt::Debug,
    {
        let ran = AtomicUsize::new(0);
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |input| {
            ran.fetch_add(1, Ordering::Relaxed);
            property(self, input)
        });
        eprintln!(
            "properties::{name}: {} cases run (shrinking included)",
            ran.load(Ordering::Relaxed)
        );
        if let Err(failure) = result {
            panic!("{name}: {failure}");
        }
    }

    fn send(&self, request: crate::harness::TestRequest<'_>) -> TestResponse {
        self.runtime.block_on(request.send())
    }
}

fn no_server_error(what: &str, response: &TestResponse) -> Result<(), TestCaseError> {
    prop_assert!(
        response.status.as_u16() < 500,
        "{what}: {} {}",
        response.status,
        response.text().chars().take(300).collect::<String>()
    );
    Ok(())
}

/// Any JSON: scalars (strings with any Unicode, NUL included), arrays and objects, nested.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[a-z0-9 _-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The field names the routes read, so generated objects reach the validation of each field.
const FIELDS: &[&str] = &[
    "message",
    "query",
    "documents",
    "id",
    "text",
    "title",
    "source",
    "metadata",
    "model",
    "messages",
    "role",
    "content",
    "stream",
    "top_k",
    "conversation_id",
    "name",
    "system_prompt",
    "email",
    "password",
    "username",
    "tenant_id",
    "pinecone_api_key",
    "pinecone_index_host",
    "pinecone_namespace",
    "is_active",
    "is_superuser",
    "requests_per_minute",
    "expires_at",
    "scopes",
    "language",
    "limit",
    "max_tokens",
    "temperature",
    "org_id",
    "monthly_token_budget",
];

/// Objects keyed by known field names (plus arbitrary ones) with arbitrary values; sometimes a
/// valid-looking nested document or message.
fn shaped_json() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        3 => any_json(),
        1 => any_json().prop_map(|v| json!([{"id": "x", "text": v, "role": "user", "content": v}])),
    ];
    prop::collection::btree_map(field, value, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>()))
}

/// Routes with a body: (method, path, who calls: "key" tenant API key, "admin", or "public").
const BODY_ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/auth/token", "public"),
    ("POST", "/search", "key"),
    ("POST", "/documents", "key"),
    ("POST", "/chat", "key"),
    ("POST", "/conversations", "key"),
    ("POST", "/v1/chat/completions", "key"),
    ("POST", "/admin/tenants", "admin"),
    ("PUT", "/admin/tenants/other", "admin"),
    ("PATCH", "/admin/tenants/other", "admin"),
    ("POST", "/admin/tenants/other/api-keys", "admin"),
    ("POST", "/admin/users", "admin"),
    ("POST", "/admin/orgs", "admin"),
    ("PUT", "/admin/orgs/org-x", "admin"),
    ("PATCH", "/admin/orgs/org-x", "admin"),
    ("PUT", "/admin/users/{user}", "admin"),
    ("PATCH", "/admin/users/{user}", "admin"),
    ("POST", "/admin/users/{user}/impersonate", "admin"),
];

fn request<'a>(
    world: &'a World,
    method: &str,
    path: &str,
    who: &str,
) -> crate::harness::TestRequest<'a> {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let path = path.replace("{user}", &world.user);
    let request = world.app.request(method, &path);
    match who {
        "key" => request.api_key(&world.key),
        "admin" => request.bearer(&world.admin),
        _ => request,
    }
}

#[test]
fn arbitrary_json_bodies_never_get_a_server_error() {
    let world = World::new();
    world.send(
        world
            .app
            .post("/admin/tenants")
            .bearer(&world.admin)
            .json(&json!({"id": "other", "name": "Other"})),
    );
    let body = prop_oneof![shaped_json(), any_json()];
    world.check(
        "json_bodies",
        (prop::sample::select(BODY_ROUTES), body),
        |world, ((method, path, who), body)| {
            let response = world.send(request(world, method, path, who).json(&body));
            no_server_error(&format!("{method} {path} {body}"), &response)
        },
    );
    // Bodies that are not JSON at all, with a JSON or form content type.
    world.check(
        "raw_bodies",
        (
            prop::sample::select(BODY_ROUTES),
            prop::collection::vec(any::<u8>(), 0..200),
            prop::sample::select(
                &[
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                ][..],
            ),
        ),
        |world, ((method, path, who), bytes, content_type)| {
            let response =
                world.send(request(world, method, path, who).raw_body(content_type, bytes.clone()));
            no_server_error(
                &format!("{method} {path} {content_type} {bytes:?}"),
                &response,
            )
        },
    );
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens: random text, JWT-shaped segments of arbitrary JSON, and tokens signed with the
/// gateway's own secret whose claims are arbitrary (so claim parsing itself is exercised).
fn any_token(secret: &'static [u8]) -> impl Strategy<Value = String> {
    let claims = prop_oneof![
        shaped_json(),
        (any_json(), any_json(), any_json()).prop_map(|(tenant, exp, sub)| {
            json!({"tenant_id": tenant, "exp": exp, "sub": sub})
        }),
        (any::<i64>(), "[A-Za-z0-9]{0,8}").prop_map(|(exp, tenant)| {
            json!({"tenant_id": tenant, "exp": exp, "sub": "x", "nbf": exp})
        }),
    ];
    prop_oneof![
        "[ -~]{0,80}",
        (
            any_json(),
            any_json(),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(header, claims, signature)| {
                format!(
                    "{}.{}.{}",
                    b64(header.to_string().as_bytes()),
                    b64(claims.to_string().as_bytes()),
                    b64(&signature)
                )
            }),
        claims.prop_map(move |claims| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap_or_default()
        }),
    ]
}

#[test]
fn arbitrary_tokens_and_credential_headers_never_get_a_server_error() {
    let world = World::new();
    let routes = [
        ("GET", "/tenant"),
        ("GET", "/auth/me"),
        ("POST", "/search"),
        ("GET", "/admin/tenants"),
        ("GET", "/v1/models"),
    ];
    world.check(
        "bearer_tokens",
        (
            prop::sample::select(routes.to_vec()),
            any_token(crate::harness::JWT_SECRET.as_bytes()),
        ),
        |world, ((method, path), token)| {
            let request = request(world, method, path, "public")
                .header("authorization", &format!("Bearer {token}"))
                .json(&json!({"query": "rockets"}));
            let response = world.send(request);
            let status = response.status.as_u16();
            prop_assert!(
                matches!(status, 401 | 403),
                "{method} {path} with {token:?}: {status} {}",
                response.text()
            );
            Ok(())
        },
    );
    // Any header value bytes (visible ASCII and obs-text) in each credential header.
    let value = prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..120);
    let names = ["authorization", "x-api-key", "cookie"];
    world.check(
        "credential_headers",
        (
            prop::sample::select(routes.to_vec()),
            prop::sample::select(names.to_vec()),
            value,
        ),
        |world, ((method, path), name, value)| {
            let Ok(header) = axum::http::HeaderValue::from_bytes(&value) else {
                return Ok(());
            };
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let mut request = axum::http::Request::builder().method(method).uri(path);
            request = request.header(name, header);
            let request = request.body(axum::body::Body::empty()).expect("request");
            let response = world.runtime.block_on(async {
                use tower::ServiceExt;
                world
                    .app
                    .router
                    .clone()
                    .oneshot(request)
                    .await
                    .expect("infallible")
            });
            let status = response.status().as_u16();
            prop_assert!(status < 500, "{path} {name}: {value:?} → {status}");
            Ok(())
        },
    );
}

/// A path segment or query value: safe characters and percent escapes of any byte (so `%00`,
/// `%FF`, `%2F` and broken UTF-8 all occur).
fn any_segment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => "[A-Za-z0-9._~-]".prop_map(|s| s),
            1 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
            1 => any::<char>().prop_map(|c| {
                let mut buffer = [0u8; 4];
                c.encode_utf8(&mut buffer)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

#[test]
fn arbitrary_ids_in_paths_and_queries_never_get_a_server_error() {
    let world = World::new();
    let templates = [
        ("DELETE", "/documents/{}", "key"),
        ("GET", "/conversations/{}", "key"),
        ("DELETE", "/conversations/{}", "key"),
        ("GET", "/v1/models/{}", "key"),
        ("GET", "/documents?limit={}", "key"),
        ("GET", "/usage?from={}", "key"),
        ("GET", "/admin/tenants/{}", "admin"),
        ("GET", "/admin/tenants/{}/api-keys", "admin"),
        ("DELETE", "/admin/tenants/acme/api-keys/{}", "admin"),
        ("GET", "/admin/tenants/{}/usage", "admin"),
        ("GET", "/admin/users/{}", "admin"),
        ("GET", "/admin/orgs/{}", "admin"),
        ("GET", "/admin/orgs/{}/tenants", "admin"),
        ("GET", "/admin/audit?tenant_id={}&limit=5", "admin"),
        ("GET", "/admin/audit?limit={}", "admin"),
        ("GET", "/admin/tenants?include_inactive={}&limit=2", "admin"),
        ("GET", "/admin/tenants?offset={}", "admin"),
        ("GET", "/admin/users?tenant_id={}", "admin"),
        ("GET", "/admin/users?offset={}", "admin"),
        ("GET", "/conversations?limit={}", "key"),
        ("GET", "/admin/usage?from={}", "admin"),
        ("GET", "/admin/tenants/acme/usage?to={}", "admin"),
        ("PATCH", "/admin/users/{}", "admin"),
        ("DELETE", "/admin/users/{}", "admin"),
        ("POST", "/admin/users/{}/impersonate", "admin"),
        ("PATCH", "/admin/orgs/{}", "admin"),
        ("DELETE", "/admin/orgs/{}", "admin"),
        ("DELETE", "/admin/tenants/{}", "admin"),
        ("PATCH", "/admin/tenants/{}", "admin"),
    ];
    world.check(
        "ids",
        (prop::sample::select(templates.to_vec()), any_segment()),
        |world, ((method, template, who), id)| {
            let path = template.replace("{}", &id);
            if axum::http::Uri::try_from(path.as_str()).is_err() {
                return Ok(());
            }
            let response = world.send(request(world, method, &path, who));
            no_server_error(&format!("{method} {path}"), &response)
        },
    );
}
