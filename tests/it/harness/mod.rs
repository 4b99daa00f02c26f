#![allow(dead_code)] // Helpers shared by test modules; not every module uses each.

//! The test harness: `TestApp` (a gateway on a fresh database, called in-process or over
//! real TCP) and helpers named for what users do.

pub mod browser;
pub mod chat;
pub mod cli;
pub mod db;
pub mod logs;
pub mod outage;
pub mod pgbouncer;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tenantgate::app::state::AppState;
use tenantgate::config::Config;
use tower::ServiceExt;

pub use db::TestDb;

pub const SECRET_KEY: &str = "6f1d0c5e8a7b4c3d2e1f00112233445566778899aabbccddeeff001122334455";
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789-abcdefghijklmnop";
/// Every password in the tests contains this marker, so the log scan can find leaks.
pub const PASSWORD: &str = "Pw-SEKRIT-correct-horse";

pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
    pub router: Router,
    pub env: HashMap<String, String>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

pub struct TestAppBuilder {
    env: HashMap<String, String>,
    db: Option<TestDb>,
}

impl TestAppBuilder {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Points the gateway's chat client at `llm` with the test upstream key.
    pub fn openai(self, llm: &upstream::FakeLlm) -> Self {
        self.env("OPENAI_API_KEY", chat::UPSTREAM_KEY)
            .env("OPENAI_BASE_URL", &llm.base_url)
    }

    /// Shares an existing database (e.g. two gateways on one database).
    pub fn database_url(mut self, url: &str) -> Self {
        self.env.insert("DATABASE_URL".to_owned(), url.to_owned());
        self
    }

    pub async fn build(self) -> TestApp {
        logs::init();
        let mut env = self.env;
        let db = match self.db {
            Some(db) => db,
            None => TestDb::new().await,
        };
        env.entry("DATABASE_URL".to_owned())
            .or_insert_with(|| db.url.clone());
        let config = Config::from_env(&env).expect("test configuration is valid");
        let state = AppState::new(config).expect("state");
        let background = state.spawn_background();
        let router = tenantgate::http::router::build(state.clone());
        TestApp {
            db,
            state,
            router,
            env,
            background,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The contract's error `code`.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.code(), code, "body: {}", self.text());
        assert!(
            self.json()["detail"].is_string(),
            "detail missing: {}",
            self.text()
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        self
    }
}

pub struct TestRequest<'a> {
    app: &'a TestApp,
    request: axum::http::request::Builder,
    body: Body,
}

impl TestRequest<'_> {
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn api_key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
        self
    }

    pub fn json(mut self, value: &Value) -> Self {
        self.request = self
            .request
            .header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(value).expect("json"));
        self
    }

    pub fn raw_body(mut self, content_type: &str, body: impl Into<Body>) -> Self {
        self.request = self.request.header(header::CONTENT_TYPE, content_type);
        self.body = body.into();
        self
    }

    pub async fn send(self) -> TestResponse {
        let request = self.request.body(self.body).expect("request");
        let response = self
            .app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        let mut env = HashMap::new();
        for (k, v) in [
            ("SECRET_KEY", SECRET_KEY),
            ("JWT_SECRET_KEY", JWT_SECRET),
            ("LOG_LEVEL", "trace"),
            // Tests log in often from one address; throttling has its own test.
            ("LOGIN_MAX_FAILURES", "1000"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("PINECONE_API_URL", "http://127.0.0.1:9"),
        ] {
            env.insert(k.to_owned(), v.to_owned());
        }
        TestAppBuilder { env, db: None }
    }

    pub async fn new() -> Self {
        Self::builder().build().await
    }

    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        TestRequest {
            app: self,
            request: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, path)
    }

    /// Serves the gateway over real TCP on a free port; stops when the app is dropped.
    pub async fn spawn_server(&mut self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = self.router.clone();
        let header_read_timeout = self.state.config.header_read_timeout;
        // The server's own connection handling (timeouts included), as `tenantgate serve` runs it.
        self.background.push(tokio::spawn(async move {
            let _ = tenantgate::http::server::serve_router(
                listener,
                router,
                header_read_timeout,
                std::future::pending(),
            )
            .await;
        }));
        addr
    }

    pub async fn conn(&self) -> tenantgate::store::db::PooledConnection {
        self.state.pool.get().await.expect("connection")
    }

    // ---- what users do -------------------------------------------------------------------

    /// Creates a user directly (as `tenantgate users create` would) and returns its id.
    pub async fn create_user(
        &self,
        email: &str,
        tenant_id: Option<&str>,
        superuser: bool,
    ) -> uuid::Uuid {
        let mut conn = self.conn().await;
        let input = tenantgate::services::users::CreateUser {
            email: email.to_owned(),
            password: PASSWORD.to_owned().into(),
            tenant_id: tenant_id.map(str::to_owned),
            is_superuser: superuser,
            is_active: None,
            role: None,
            org_id: None,
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

    /// `POST /auth/token` with these credentials, whatever it answers.
    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post("/auth/token")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
    }

    /// `GET /tenant` with this bearer token, whatever it answers.
    pub async fn tenant_info(&self, token: &str) -> TestResponse {
        self.get("/tenant").bearer(token).send().await
    }

    pub async fn login_as(&self, email: &str) -> String {
        let response = self.login(email, PASSWORD).await;
        response.assert_status(200);
        response.json()["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A superuser, logged in: returns the token.
    pub async fn superuser_token(&self) -> String {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        self.create_user(&email, None, true).await;
        self.login_as(&email).await
    }

    /// Creates a tenant through the admin API with the given extra fields.
    pub async fn create_tenant(&self, admin_token: &str, id: &str, extra: Value) -> Value {
        let mut body = json!({"id": id, "name": format!("Tenant {id}")});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        let response = self
            .post("/admin/tenants")
            .bearer(admin_token)
            .json(&body)
            .send()
            .await;
        response.assert_status(201);
        response.json()
    }

    /// Creates a tenant directly in the database (no admin API needed).
    pub async fn seed_tenant(&self, id: &str, system_prompt: Option<&str>) {
        let mut conn = self.conn().await;
        let input: tenantgate::services::tenants::CreateTenant = serde_json::from_value(json!({
            "id": id, "name": format!("Tenant {id}"), "system_prompt": system_prompt,
        }))
        .expect("input");
        tenantgate::services::tenants::create(
            &mut conn,
            &tenantgate::services::caches::NoCaches,
            &self.state.config.keys,
            &tenantgate::services::audit::Actor::cli(),
            input,
        )
        .await
        .expect("seed tenant");
    }

    /// A tenant seeded in the database and an API key for it (every scope): returns the key.
    pub async fn tenant_with_key(&self, id: &str) -> String {
        self.seed_tenant(id, None).await;
        api_key_for(self, id).await
    }

    /// A token as an identity provider would mint it, with the test secret.
    pub fn token_with_claims(&self, claims: Value) -> String {
        mint(
            &claims,
            jsonwebtoken::Algorithm::HS256,
            JWT_SECRET.as_bytes(),
        )
    }

    /// A valid user token for `tenant_id`, without a user row (as from an external IdP).
    pub fn tenant_token(&self, tenant_id: &str) -> String {
        self.token_with_claims(json!({
            "sub": uuid::Uuid::new_v4().to_string(),
            "tenant_id": tenant_id,
            "exp": now() + 600,
        }))
    }
}

/// A tenant API key, inserted directly (as `tenantgate api-keys create` would).
pub async fn api_key_for(app: &TestApp, tenant_id: &str) -> String {
    use diesel_async::RunQueryDsl;
    use secrecy::ExposeSecret;
    let generated = app.state.api_keys.generate();
    let mut conn = app.conn().await;
    diesel::insert_into(tenantgate::store::schema::api_keys::table)
        .values(tenantgate::store::models::api_key::NewApiKey {
            id: uuid::Uuid::new_v4(),
            tenant_id: tenantgate::domain::TenantId::parse(tenant_id).expect("tenant id"),
            name: "tests".to_owned(),
            prefix: generated.prefix.clone(),
            key_hash: generated.hash.clone(),
            expires_at: None,
            requests_per_minute: None,
            scopes: tenantgate::identity::scopes::ScopeSet::ALL.names(),
        })
        .execute(&mut conn)
        .await
        .expect("insert api key");
    generated.plaintext.expose_secret().to_owned()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn mint(claims: &Value, alg: jsonwebtoken::Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("encode")
}
