//! The tenant layer's cache: coherence across replicas, no database on a hit, secrets bound to
//! their tenant, key rotation.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use tenantgate::secrets::{KeyRing, SecretKey};
use tenantgate::services::audit::Actor;
use tenantgate::store::schema::tenants;

use crate::harness::outage::Outage;
use crate::harness::{SECRET_KEY, TestApp, TestDb};

const OTHER_KEY: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";

async fn wait_for_status(app: &TestApp, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        if app
            .get("/tenant")
            .bearer(token)
            .send()
            .await
            .status
            .as_u16()
            == status
        {
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
async fn deactivation_reaches_another_replica_within_a_second() {
    let one = TestApp::new().await;
    let two = TestApp::builder().database_url(&one.db.url).build().await;
    let admin = one.superuser_token().await;
    one.create_tenant(&admin, "acme", json!({"system_prompt": "v1"}))
        .await;
    let token = one.tenant_token("acme");
    // Both replicas have the tenant cached.
    one.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    two.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    // Give replica two's listener a moment to be connected (it starts with the app).
    tokio::time::sleep(Duration::from_millis(200)).await;

    one.delete("/admin/tenants/acme")
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);
    // At once on the replica that made the change…
    one.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_error(403, "tenant_unavailable");
    // …and within a second on the other.
    let delay = wait_for_status(&two, &token, 403).await;
    println!("deactivation reached the other replica after {delay:?}");
    assert!(delay < Duration::from_secs(1), "{delay:?}");

    // A prompt update travels the same way (and is never older than what was announced).
    one.patch("/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"is_active": true, "system_prompt": "v2"}))
        .send()
        .await
        .assert_status(200);
    let delay = wait_for_status(&two, &token, 200).await;
    println!("reactivation reached the other replica after {delay:?}");
    assert_eq!(
        two.get("/tenant").bearer(&token).send().await.json()["system_prompt"],
        "v2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_tenant_needs_no_database() {
    let db = TestDb::new().await;
    let outage = Outage::start().await;
    let app = TestApp::builder()
        .database_url(&outage.url_for(&db.url))
        .env("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")
        .build()
        .await;
    app.seed_tenant("acme", Some("cached prompt")).await;
    let token = app.tenant_token("acme");
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);

    outage.cut();
    app.get("/ready")
        .send()
        .await
        .assert_error(503, "unavailable");
    // Token check and tenant lookup are served from memory.
    for _ in 0..20 {
        let response = app.get("/tenant").bearer(&token).send().await;
        response.assert_status(200);
        assert_eq!(response.json()["system_prompt"], "cached prompt");
    }
    // An uncached tenant needs the database: a clean 503, not a hang or a 500.
    app.get("/tenant")
        .bearer(&app.tenant_token("globex"))
        .send()
        .await
        .assert_error(503, "unavailable");
    outage.restore();
}

async fn create_pinecone_tenant(app: &TestApp, keys: &KeyRing, id: &str) {
    let mut conn = app.conn().await;
    let input = serde_json::from_value(json!({
        "id": id,
        "name": format!("Tenant {id}"),
        "retriever": "pinecone",
        "pinecone_index_host": "http://127.0.0.1:9",
        "pinecone_api_key": format!("pcsk-test-{id}-0123456789"),
    }))
    .expect("input");
    tenantgate::services::tenants::create(&mut conn, keys, &Actor::cli(), input)
        .await
        .expect("create");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_copied_into_another_tenant_does_not_decrypt() {
    let app = TestApp::new().await;
    let keys = app.state.config.keys.clone();
    create_pinecone_tenant(&app, &keys, "alpha").await;
    create_pinecone_tenant(&app, &keys, "beta").await;
    {
        let mut conn = app.conn().await;
        let alpha: Vec<u8> = tenants::table
            .find("alpha")
            .select(tenants::pinecone_api_key_enc.assume_not_null())
            .first(&mut conn)
            .await
            .expect("alpha");
        diesel::update(tenants::table.find("beta"))
            .set(tenants::pinecone_api_key_enc.eq(alpha))
            .execute(&mut conn)
            .await
            .expect("copy");
    }
    let response = app
        .get("/tenant")
        .bearer(&app.tenant_token("beta"))
        .send()
        .await;
    response.assert_error(500, "internal_error");
    assert_eq!(
        response.json()["detail"],
        "internal server error",
        "no cause leaks"
    );
    assert!(!response.text().contains("pcsk-test"));
    // The tenant whose secret was copied is unaffected.
    app.get("/tenant")
        .bearer(&app.tenant_token("alpha"))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_every_secret_readable_and_can_stop_half_way() {
    let app = TestApp::new().await;
    let old = app.state.config.keys.clone();
    let ids: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
    for id in &ids {
        create_pinecone_tenant(&app, &old, id).await;
    }
    let rotated = KeyRing::new(
        SecretKey::from_hex(OTHER_KEY).expect("key"),
        vec![SecretKey::from_hex(SECRET_KEY).expect("key")],
    );
    let mut conn = app.conn().await;
    // Stop after one batch of two: nothing is lost.
    let first = tenantgate::services::secrets::rotate(&mut conn, &rotated, 2, Some(1))
        .await
        .expect("rotate");
    assert_eq!(first.rotated, 2);
    assert_eq!(
        tenantgate::services::secrets::count_outdated(&mut conn, &rotated)
            .await
            .expect("count"),
        3
    );
    let during = TestApp::builder()
        .database_url(&app.db.url)
        .env("SECRET_KEY", OTHER_KEY)
        .env("SECRET_KEY_PREVIOUS", SECRET_KEY)
        .build()
        .await;
    for id in &ids {
        during
            .get("/tenant")
            .bearer(&during.tenant_token(id))
            .send()
            .await
            .assert_status(200);
    }
    // Run again: it finishes, skipping what is done.
    let second = tenantgate::services::secrets::rotate(&mut conn, &rotated, 2, None)
        .await
        .expect("rotate");
    assert_eq!((second.rotated, second.already_current), (3, 2));
    assert_eq!(
        tenantgate::services::secrets::count_outdated(&mut conn, &rotated)
            .await
            .expect("count"),
        0
    );
    // The old key can go: everything decrypts under the new key alone.
    let after = TestApp::builder()
        .database_url(&app.db.url)
        .env("SECRET_KEY", OTHER_KEY)
        .build()
        .await;
    for id in &ids {
        after
            .get("/tenant")
            .bearer(&after.tenant_token(id))
            .send()
            .await
            .assert_status(200);
    }
}

/// After the listener reconnects it clears the cache; every tenant loads again, in a loop too.
#[tokio::test(flavor = "multi_thread")]
async fn tenants_load_again_after_the_cache_is_cleared() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    app.seed_tenant("globex", None).await;
    for _ in 0..200 {
        app.state.tenants.clear();
        app.state
            .tenants
            .get("globex")
            .await
            .expect("globex after a clear");
    }
    app.state
        .tenants
        .get("acme")
        .await
        .expect("acme after the clears");
    app.get("/tenant")
        .bearer(&app.tenant_token("acme"))
        .send()
        .await
        .assert_status(200);
}
