//! Tokens from an identity provider: ES256 with a PEM public key, or with keys from a JWKS URL
//! (cached; fetched again on an unknown `kid`, at most once per few seconds).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::upstream::Jwks;
use crate::harness::{JWT_SECRET, TestApp, mint, now};

/// A test-only P-256 key pair (generated for these tests; protects nothing).
const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguX6FeBwk6TloKWru
mYuKzurJR+xZEcJNo3nQ3QVE1h+hRANCAAT3ukfVBQrPKe2D8fxtR42aUkplw1Zg
23LW4rlQP+G0XvU/Wc1EHPaZGJe6YaJ/EYu1L54ifSzCU3z7J9/68Vpa
-----END PRIVATE KEY-----
";
pub(crate) const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE97pH1QUKzyntg/H8bUeNmlJKZcNW
YNty1uK5UD/htF71P1nNRBz2mRiXumGifxGLtS+eIn0swlN8+yff+vFaWg==
-----END PUBLIC KEY-----
";
const EC_X: &str = "97pH1QUKzyntg_H8bUeNmlJKZcNWYNty1uK5UD_htF4";
const EC_Y: &str = "9T9ZzUQc9pkYl7phon8Ri7UvniJ9LMJTfPsn3_rxWlo";

fn es256(kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// The provider's key set: the test key pair's public half as kid `k1`.
fn ec_keys() -> Value {
    json!([{"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "k1", "alg": "ES256", "use": "sig"}])
}

fn claims() -> Value {
    json!({"sub": "idp-user", "tenant_id": "acme", "exp": now() + 600})
}

#[tokio::test(flavor = "multi_thread")]
async fn es256_with_a_pem_public_key() {
    let app = TestApp::builder()
        .env("ALGORITHM", "ES256")
        .env("JWT_PUBLIC_KEY", EC_PUBLIC)
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    app.get("/tenant")
        .bearer(&es256(None, &claims()))
        .send()
        .await
        .assert_status(200);
    // An HS256 token signed with what an attacker might guess is the "secret" (the public key).
    let forged = mint(&claims(), Algorithm::HS256, EC_PUBLIC.as_bytes());
    app.tenant_info(&forged)
        .await
        .assert_error(401, "invalid_token");
    let hs = mint(&claims(), Algorithm::HS256, JWT_SECRET.as_bytes());
    app.tenant_info(&hs)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_keys_are_cached_and_refetched_for_unknown_kids_at_most_every_few_seconds() {
    let jwks = Jwks::start(ec_keys()).await;

    let app = TestApp::builder()
        .env("ALGORITHM", "ES256")
        .env("JWKS_URL", &jwks.url)
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    app.get("/tenant")
        .bearer(&es256(Some("k1"), &claims()))
        .send()
        .await
        .assert_status(200);
    assert_eq!(jwks.fetches(), 1);
    // Another token with the same kid: no fetch.
    let other = es256(
        Some("k1"),
        &json!({"sub": "other", "tenant_id": "acme", "exp": now() + 700}),
    );
    app.tenant_info(&other).await.assert_status(200);
    assert_eq!(jwks.fetches(), 1);
    // Unknown kids: refused; the set is fetched again, but not for every such token.
    for i in 0..5 {
        app.get("/tenant")
            .bearer(&es256(Some(&format!("rotated-{i}")), &claims()))
            .send()
            .await
            .assert_error(401, "invalid_token");
    }
    assert_eq!(
        jwks.fetches(),
        1,
        "refetch is rate-limited (first fetch was just now)"
    );
    // Once the interval has passed, an unknown kid makes one new fetch (a key rotation at the
    // provider is picked up), and only one.
    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    for i in 0..3 {
        app.get("/tenant")
            .bearer(&es256(Some(&format!("later-{i}")), &claims()))
            .send()
            .await
            .assert_error(401, "invalid_token");
    }
    assert_eq!(jwks.fetches(), 2);
}

/// `ALGORITHM=RS256,ES256` with a JWKS: a list spanning key families still verifies each token
/// with its own (allowed) algorithm, and an algorithm outside the list is refused.
#[tokio::test(flavor = "multi_thread")]
async fn an_algorithm_list_may_span_key_families_with_a_jwks() {
    let jwks = Jwks::start(ec_keys()).await;
    let app = TestApp::builder()
        .env("ALGORITHM", "RS256,ES256")
        .env("JWKS_URL", &jwks.url)
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    app.get("/tenant")
        .bearer(&es256(Some("k1"), &claims()))
        .send()
        .await
        .assert_status(200);
    let hs = mint(&claims(), Algorithm::HS256, JWT_SECRET.as_bytes());
    app.tenant_info(&hs)
        .await
        .assert_error(401, "invalid_token");
}
