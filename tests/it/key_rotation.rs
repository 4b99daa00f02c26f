//! `SECRET_KEY` rotation as the README tells it (old key → `SECRET_KEY_PREVIOUS`, new
//! `SECRET_KEY`, `secrets rotate`, drop the old key): every tenant API key keeps answering,
//! including one made before API-key hashes stopped depending on `SECRET_KEY`, and `rotate`
//! does not say the old key may go while such a key still needs it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tenantgate::secrets::SecretKey;
use tenantgate::store::schema::api_keys;

use crate::harness::{SECRET_KEY, TestApp, cli};

const NEW_KEY: &str = "b1b2b3b4b5b6b7b8b9babbbcbdbebfc0a1a2a3a4a5a6a7a8a9aaabacadaeafb0";

async fn create_key(app: &TestApp, admin: &str) -> String {
    let response = app
        .post("/admin/tenants/acme/api-keys")
        .bearer(admin)
        .json(&json!({"name": "worker"}))
        .send()
        .await;
    response.assert_status(201);
    response.json()["key"].as_str().expect("key").to_owned()
}

/// Turns a key's row into what the code before SHA-256 stored: an HMAC under a subkey of
/// `SECRET_KEY` (the code's `derive(b"tenantgate api-key hash v1")`).
async fn make_legacy(app: &TestApp, key: &str) {
    let sub = SecretKey::from_hex(SECRET_KEY)
        .expect("key")
        .derive(b"tenantgate api-key hash v1");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(sub.as_slice()).expect("hmac");
    mac.update(key.as_bytes());
    let hash = mac.finalize().into_bytes().to_vec();
    let prefix = &key[..13];
    let updated = diesel::update(api_keys::table.filter(api_keys::prefix.eq(prefix)))
        .set((
            api_keys::key_hash.eq(hash),
            api_keys::hash_scheme.eq("hmac-sha256-v1"),
        ))
        .execute(&mut *app.conn().await)
        .await
        .expect("update");
    assert_eq!(updated, 1);
}

fn rotate(url: &str) -> String {
    let out = cli::run_with_env(
        url,
        &[("SECRET_KEY", NEW_KEY), ("SECRET_KEY_PREVIOUS", SECRET_KEY)],
        &["secrets", "rotate"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_survive_the_readme_rotation_steps() {
    let before = TestApp::new().await;
    let admin = before.superuser_token().await;
    before
        .create_tenant(
            &admin,
            "acme",
            json!({"pinecone_api_key": "pcsk-rotation-test", "retriever": "builtin"}),
        )
        .await;
    let current = create_key(&before, &admin).await;
    let legacy = create_key(&before, &admin).await;
    make_legacy(&before, &legacy).await;
    for key in [&current, &legacy] {
        before
            .get("/tenant")
            .api_key(key)
            .send()
            .await
            .assert_status(200);
    }
    // That use re-hashed the legacy key already: make it legacy again, unused since.
    make_legacy(&before, &legacy).await;
    // `before` stays alive: it owns the database.
    let url = before.db.url.clone();

    // Steps 1-3: old key to SECRET_KEY_PREVIOUS, new SECRET_KEY, rotate. A legacy key that has
    // not been used since still needs the old key: rotate must not say it can go.
    let out = rotate(&url);
    assert!(out.contains("1 API key(s)"), "{out}");
    assert!(!out.contains("may now be removed"), "{out}");

    let during = TestApp::builder()
        .database_url(&url)
        .env("SECRET_KEY", NEW_KEY)
        .env("SECRET_KEY_PREVIOUS", SECRET_KEY)
        .build()
        .await;
    for key in [&current, &legacy] {
        during
            .get("/tenant")
            .api_key(key)
            .send()
            .await
            .assert_status(200);
    }
    drop(during);
    // Used once: re-hashed, so now rotate says the old key may go.
    let out = rotate(&url);
    assert!(out.contains("may now be removed"), "{out}");

    // Step 4: drop the old key. Every key still answers, and so does the tenant's secret.
    let after = TestApp::builder()
        .database_url(&url)
        .env("SECRET_KEY", NEW_KEY)
        .build()
        .await;
    for key in [&current, &legacy] {
        after
            .get("/tenant")
            .api_key(key)
            .send()
            .await
            .assert_status(200);
        after.tenant_info(key).await.assert_status(200);
    }
    after
        .get("/tenant")
        .api_key(&format!("{current}x"))
        .send()
        .await
        .assert_error(401, "invalid_api_key");
}
