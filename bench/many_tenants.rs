//! 100,000 tenants in one gateway (issue 14), built as the example `many_tenants` and run by
//! `bench/many_tenants.sh`:
//!
//! 1. makes a database `tenantgate_many` with `TENANTS` tenants (default 100,000), each on the
//!    Pinecone retriever with its own encrypted API key, so a cold load is the whole miss path:
//!    row, AES-256-GCM decryption, retriever and context;
//! 2. loads every tenant once through the tenant cache, timing each load;
//! 3. reads every tenant again (warm), timing each hit;
//! 4. prints the medians and p99s and the process's RSS before and after, against the goals
//!    (RSS < 150 MB with every tenant cached, cold load < 1 ms median).
//!
//! The allocator is the binary's (mimalloc), so the RSS is what `tenantgate serve` would hold.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tenantgate::app::state::AppState;
use tenantgate::config::Config;
use tenantgate::secrets::SecretSlot;
use tenantgate::store::models::tenant::PINECONE_API_KEY_FIELD;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 5_000;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let admin = std::env::var("BENCH_ADMIN_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect to the admin database");
    tokio::spawn(conn);
    client
        .batch_execute("DROP DATABASE IF EXISTS tenantgate_many WITH (FORCE)")
        .await
        .expect("drop");
    client
        .batch_execute("CREATE DATABASE tenantgate_many")
        .await
        .expect("create");
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path("/tenantgate_many");
    tenantgate::store::db::run_migrations(url.as_str())
        .await
        .expect("migrate");
    let env: HashMap<String, String> = [
        ("DATABASE_URL", url.as_str()),
        (
            "SECRET_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("JWT_SECRET_KEY", "many-tenants-jwt-secret-0123456789abcdef"),
        ("TENANT_CACHE_CAPACITY", &(count * 2).to_string()),
        ("TENANT_CACHE_TTL_SECONDS", "3600"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let state = AppState::new(Config::from_env(&env).expect("config")).expect("state");

    let (db, db_conn) = tokio_postgres::connect(url.as_str(), tokio_postgres::NoTls)
        .await
        .expect("connect to the bench database");
    tokio::spawn(db_conn);
    let insert = db
        .prepare(
            "INSERT INTO tenants (id, name, retriever, pinecone_index_host, pinecone_api_key_enc, \
             system_prompt) \
             SELECT id, id, $3, 'https://bench-index.svc.pinecone.io', key, \
                    'You are the assistant of ' || id || '. Answer briefly.' \
             FROM unnest($1::text[], $2::bytea[]) AS t(id, key)",
        )
        .await
        .expect("prepare the insert");
    // RETRIEVER=builtin or none measures the context without the Pinecone retriever.
    let retriever = std::env::var("RETRIEVER").unwrap_or_else(|_| "pinecone".to_owned());
    let started = Instant::now();
    let ids: Vec<String> = (0..count).map(|i| format!("tenant-{i:06}")).collect();
    for chunk in ids.chunks(BATCH) {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|id| {
                state.config.keys.encrypt(
                    SecretSlot {
                        tenant_id: id,
                        field: PINECONE_API_KEY_FIELD,
                    },
                    &SecretString::from(format!("pcsk-bench-{id}-0123456789abcdef")),
                )
            })
            .collect();
        db.execute(&insert, &[&chunk, &keys, &retriever])
            .await
            .expect("insert tenants");
    }
    eprintln!("inserted {count} tenants in {:.1?}", started.elapsed());

    // One load first, so pools, TLS-free connections and lazy statics are not counted.
    state.tenants.get(&ids[0]).await.expect("first tenant");
    let rss_before = rss_mb();
    let mut cold = Vec::with_capacity(count);
    for id in &ids[1..] {
        let t = Instant::now();
        state.tenants.get(id).await.expect("cold load");
        cold.push(t.elapsed());
    }
    let rss_after = rss_mb();
    let mut warm = Vec::with_capacity(count);
    for id in &ids {
        let t = Instant::now();
        let context = state.tenants.get(id).await.expect("warm hit");
        warm.push(t.elapsed());
        std::hint::black_box(context);
    }
    cold.sort();
    warm.sort();
    let cached = state.tenants.entry_count();
    println!("tenants: {count} on the {retriever} retriever (cached after the run: {cached})");
    println!(
        "cold load (row, decrypt, context): median {:.1?}  p99 {:.1?}   goal: median < 1 ms: {}",
        percentile(&cold, 0.5),
        percentile(&cold, 0.99),
        if percentile(&cold, 0.5) < Duration::from_millis(1) {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "warm hit:                          median {:.1?}  p99 {:.1?}",
        percentile(&warm, 0.5),
        percentile(&warm, 0.99)
    );
    println!(
        "RSS: {rss_before:.1} MB with one tenant, {rss_after:.1} MB with all cached \
         ({:.2} KB per tenant)   goal: < 150 MB: {}",
        (rss_after - rss_before) * 1024.0 / count as f64,
        if rss_after < 150.0 { "met" } else { "MISSED" }
    );
    // PROBE=1: what the cache library alone holds per entry (same expiry policy, a tiny value),
    // to tell its share of the RSS from the contexts'.
    if std::env::var("PROBE").is_ok() {
        struct Exp;
        impl moka::Expiry<String, Option<std::sync::Arc<u64>>> for Exp {
            fn expire_after_create(
                &self,
                _: &String,
                _: &Option<std::sync::Arc<u64>>,
                _: Instant,
            ) -> Option<Duration> {
                Some(Duration::from_secs(3600))
            }
        }
        let before = rss_mb();
        let probe: moka::future::Cache<String, Option<std::sync::Arc<u64>>> =
            moka::future::Cache::builder()
                .max_capacity(200_000)
                .expire_after(Exp)
                .build();
        for id in &ids {
            probe.insert(id.clone(), Some(std::sync::Arc::new(1))).await;
        }
        probe.run_pending_tasks().await;
        println!(
            "moka probe: {:.2} KB per entry",
            (rss_mb() - before) * 1024.0 / count as f64
        );
    }
    drop(state);
    let _ = client
        .batch_execute("DROP DATABASE IF EXISTS tenantgate_many WITH (FORCE)")
        .await;
}
