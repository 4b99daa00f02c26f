//! The per-request path of a tenant route, piece by piece and whole:
//!
//! - `jwt/verify_uncached`: one HS256 signature check and claims parse (what a cache miss costs);
//! - `jwt/verify_cached`: the verified-token cache hit every later request takes;
//! - `tenant_cache/hit`: tenant id → `Arc<TenantContext>`;
//! - `tenant_cache/miss_read_and_decrypt`: a miss: database read, AES-GCM decrypt, context build;
//! - `router/health` vs `router/tenant`: whole requests through the router in-process, so the
//!   difference is exactly what the tenant layer adds.
//!
//! Needs Postgres (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`): it
//! creates and migrates a database `tenantgate_bench` of its own.
//! Run: `cargo bench --bench tenant_path`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tenantgate::app::state::AppState;
use tenantgate::config::Config;
use tower::ServiceExt;

const JWT_SECRET: &str = "bench-jwt-secret-0123456789-abcdefghijklmnop";

fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn prepare() -> (AppState, String) {
    let admin = server_url();
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let _ = client
        .batch_execute("DROP DATABASE IF EXISTS tenantgate_bench WITH (FORCE)")
        .await;
    client
        .batch_execute("CREATE DATABASE tenantgate_bench")
        .await
        .expect("create");
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path("/tenantgate_bench");
    tenantgate::store::db::run_migrations(url.as_str())
        .await
        .expect("migrate");
    let env: HashMap<String, String> = [
        ("DATABASE_URL", url.as_str()),
        (
            "SECRET_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("JWT_SECRET_KEY", JWT_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let state = AppState::new(Config::from_env(&env).expect("config")).expect("state");
    let mut conn = state.pool.get().await.expect("conn");
    let input =
        serde_json::from_value(json!({"id": "acme", "name": "Acme", "system_prompt": "Be brief."}))
            .expect("input");
    tenantgate::services::tenants::create(
        &mut conn,
        &state.config.keys,
        &tenantgate::services::audit::Actor::cli(),
        input,
    )
    .await
    .expect("tenant");
    // A tenant with an encrypted key, so a cache miss includes the AES-GCM decryption.
    let input = serde_json::from_value(json!({
        "id": "acme-secret", "name": "Acme with a key", "retriever": "none",
        "pinecone_index_host": "http://127.0.0.1:9", "pinecone_api_key": "pcsk-bench-0123456789",
    }))
    .expect("input");
    tenantgate::services::tenants::create(
        &mut conn,
        &state.config.keys,
        &tenantgate::services::audit::Actor::cli(),
        input,
    )
    .await
    .expect("tenant");
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "bench", "tenant_id": "acme", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("token");
    (state, token)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (state, token) = rt.block_on(prepare());
    let router = tenantgate::http::router::build(state.clone());

    let validation = {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.validate_aud = false;
        v
    };
    let key = jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes());
    c.bench_function("jwt/verify_uncached", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                &token,
                &key,
                &validation,
            )
            .expect("valid")
        })
    });
    rt.block_on(state.tokens.verify(&token)).expect("warm");
    c.bench_function("jwt/verify_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { state.tokens.verify(&token).await.expect("valid") })
    });
    rt.block_on(state.tenants.get("acme")).expect("warm");
    c.bench_function("tenant_cache/hit", |b| {
        b.to_async(&rt)
            .iter(|| async { state.tenants.get("acme").await.expect("tenant") })
    });

    // A miss: database read + decrypt + context build (the cache is emptied before each get).
    c.bench_function("tenant_cache/miss_read_and_decrypt", |b| {
        b.to_async(&rt).iter(|| async {
            state.tenants.clear();
            state.tenants.get("acme-secret").await.expect("tenant")
        })
    });
    rt.block_on(state.tenants.get("acme")).expect("warm again");

    let bearer = format!("Bearer {token}");
    let mut group = c.benchmark_group("router");
    group.bench_function("health", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::get("/health")
                .body(Body::empty())
                .expect("request");
            let response = router.clone().oneshot(request).await.expect("response");
            assert_eq!(response.status(), 200);
        })
    });
    group.bench_function("tenant", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::get("/tenant")
                .header("authorization", &bearer)
                .body(Body::empty())
                .expect("request");
            let response = router.clone().oneshot(request).await.expect("response");
            assert_eq!(response.status(), 200);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
