//! Token verification and tenant resolution: the table of bad tokens, login, throttling,
//! `TENANT_CLAIM` paths, issuer and audience.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{JWT_SECRET, PASSWORD, TestApp, mint, now};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// Signs `header.payload` with HMAC-SHA256 under `secret`, whatever the header claims.
fn hs256_sign(header: &Value, payload: &Value, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("key");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn claims(tenant: Value) -> Value {
    json!({"sub": "user-1", "tenant_id": tenant, "exp": now() + 600})
}

/// `acme`, and `sleepy`, deactivated.
async fn seed_acme_and_an_inactive_tenant(app: &TestApp) {
    app.seed_tenant("acme", None).await;
    app.seed_tenant("sleepy", None).await;
    {
        let mut conn = app.conn().await;
        tenantgate::services::tenants::set_active(
            &mut conn,
            &tenantgate::services::caches::NoCaches,
            &tenantgate::services::audit::Actor::cli(),
            "sleepy",
            false,
        )
        .await
        .expect("deactivate");
    }
}

/// A row of the bad-token table: name, token, status, code.
type TokenCase = (&'static str, String, u16, &'static str);

/// A valid token for `acme`, and the table of bad tokens (name, token, status, code) made
/// from it.
fn bad_token_cases() -> (String, Vec<TokenCase>) {
    let secret = JWT_SECRET.as_bytes();
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let good = claims(json!("acme"));
    let valid = hs256_sign(&hs, &good, secret);
    let (head, rest) = valid.split_once('.').expect("jwt");
    let (payload, signature) = rest.split_once('.').expect("jwt");

    let tampered_payload = b64(&claims(json!("globex")));
    let cases = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            ),
            401,
            "invalid_token",
        ),
        (
            "alg None",
            format!("{}.{}.", b64(&json!({"alg": "None"})), b64(&good)),
            401,
            "invalid_token",
        ),
        (
            "wrong key",
            hs256_sign(&hs, &good, b"another-secret-entirely-0123456789abcdef"),
            401,
            "invalid_token",
        ),
        (
            "expired",
            hs256_sign(
                &hs,
                &json!({"sub": "u", "tenant_id": "acme", "exp": now() - 3600}),
                secret,
            ),
            401,
            "token_expired",
        ),
        (
            "not yet valid",
            hs256_sign(
                &hs,
                &json!({"sub": "u", "tenant_id": "acme", "exp": now() + 7200, "nbf": now() + 3600}),
                secret,
            ),
            401,
            "invalid_token",
        ),
        (
            "no exp",
            hs256_sign(&hs, &json!({"sub": "u", "tenant_id": "acme"}), secret),
            401,
            "invalid_token",
        ),
        (
            "exp not a number",
            hs256_sign(
                &hs,
                &json!({"sub": "u", "tenant_id": "acme", "exp": "tomorrow"}),
                secret,
            ),
            401,
            "invalid_token",
        ),
        (
            "tampered payload",
            format!("{head}.{tampered_payload}.{signature}"),
            401,
            "invalid_token",
        ),
        (
            "truncated signature",
            format!("{head}.{payload}.{}", &signature[..signature.len() / 2]),
            401,
            "invalid_token",
        ),
        (
            "empty signature",
            format!("{head}.{payload}."),
            401,
            "invalid_token",
        ),
        (
            "RS256 header, HMAC signature",
            hs256_sign(&json!({"alg": "RS256", "typ": "JWT"}), &good, secret),
            401,
            "invalid_token",
        ),
        (
            "ES256 header, HMAC signature",
            hs256_sign(&json!({"alg": "ES256", "typ": "JWT"}), &good, secret),
            401,
            "invalid_token",
        ),
        (
            "unknown alg",
            hs256_sign(&json!({"alg": "HS999"}), &good, secret),
            401,
            "invalid_token",
        ),
        (
            "garbage segments",
            "abc.def.ghi".to_owned(),
            401,
            "invalid_token",
        ),
        ("not a jwt", "not-a-jwt".to_owned(), 401, "invalid_token"),
        (
            "two segments",
            format!("{head}.{payload}"),
            401,
            "invalid_token",
        ),
        (
            "four segments",
            format!("{valid}.extra"),
            401,
            "invalid_token",
        ),
        (
            "header not json",
            format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode("nope")),
            401,
            "invalid_token",
        ),
        (
            "64 KB token",
            format!("{head}.{}.{signature}", "A".repeat(64 * 1024)),
            401,
            "invalid_token",
        ),
        (
            "jku header",
            hs256_sign(
                &json!({"alg": "HS256", "jku": "http://127.0.0.1:9/keys.json"}),
                &good,
                secret,
            ),
            401,
            "invalid_token",
        ),
        (
            "x5u header",
            hs256_sign(
                &json!({"alg": "HS256", "x5u": "http://127.0.0.1:9/cert.pem"}),
                &good,
                secret,
            ),
            401,
            "invalid_token",
        ),
        (
            "embedded jwk",
            hs256_sign(
                &json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
                &good,
                secret,
            ),
            401,
            "invalid_token",
        ),
        (
            "tenant_id missing",
            hs256_sign(&hs, &json!({"sub": "u", "exp": now() + 600}), secret),
            403,
            "no_tenant",
        ),
        (
            "tenant_id empty",
            hs256_sign(&hs, &claims(json!("")), secret),
            403,
            "no_tenant",
        ),
        (
            "tenant_id a number",
            hs256_sign(&hs, &claims(json!(42)), secret),
            403,
            "no_tenant",
        ),
        (
            "tenant_id a list",
            hs256_sign(&hs, &claims(json!(["acme"])), secret),
            403,
            "no_tenant",
        ),
        (
            "tenant_id null",
            hs256_sign(&hs, &claims(Value::Null), secret),
            403,
            "no_tenant",
        ),
        (
            "tenant_id an object",
            hs256_sign(&hs, &claims(json!({"id": "acme"})), secret),
            403,
            "no_tenant",
        ),
        (
            "unknown tenant",
            hs256_sign(&hs, &claims(json!("nobody")), secret),
            403,
            "tenant_unavailable",
        ),
        (
            "inactive tenant",
            hs256_sign(&hs, &claims(json!("sleepy")), secret),
            403,
            "tenant_unavailable",
        ),
        (
            "tenant id not an id",
            hs256_sign(&hs, &claims(json!("../etc/passwd")), secret),
            403,
            "tenant_unavailable",
        ),
    ];
    (valid, cases)
}

/// Each bad token is refused with its status and code (401s with `WWW-Authenticate`).
async fn assert_refused(app: &TestApp, cases: &[TokenCase]) {
    assert!(cases.len() >= 25);
    for (name, token, status, code) in cases {
        let response = app
            .get("/tenant")
            .header("authorization", &format!("Bearer {token}"))
            .send()
            .await;
        assert_eq!(
            response.status.as_u16(),
            *status,
            "{name}: {}",
            response.text()
        );
        assert_eq!(response.code(), *code, "{name}: {}", response.text());
        if *status == 401 {
            assert_eq!(response.headers["www-authenticate"], "Bearer", "{name}");
        }
    }
}

/// Authorization headers that are not a bearer token at all.
async fn assert_non_bearer_headers_refused(app: &TestApp) {
    app.get("/tenant")
        .send()
        .await
        .assert_error(401, "missing_token");
    app.get("/tenant")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .assert_error(401, "invalid_token");
    app.get("/tenant")
        .header("authorization", "Bearer")
        .send()
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_refused_with_the_contract_codes() {
    let app = TestApp::new().await;
    seed_acme_and_an_inactive_tenant(&app).await;
    let (valid, cases) = bad_token_cases();
    assert_refused(&app, &cases).await;
    assert_non_bearer_headers_refused(&app).await;
    // And the control: the valid token works, with the scheme in any case.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let ok = app
            .get("/tenant")
            .header("authorization", &format!("{scheme} {valid}"))
            .send()
            .await;
        ok.assert_status(200);
        assert_eq!(ok.json()["id"], "acme");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_inactive_tenants_answer_alike() {
    let app = TestApp::new().await;
    app.seed_tenant("sleepy", None).await;
    {
        let mut conn = app.conn().await;
        tenantgate::services::tenants::set_active(
            &mut conn,
            &tenantgate::services::caches::NoCaches,
            &tenantgate::services::audit::Actor::cli(),
            "sleepy",
            false,
        )
        .await
        .expect("deactivate");
    }
    let unknown = app.tenant_info(&app.tenant_token("nobody")).await;
    let inactive = app.tenant_info(&app.tenant_token("sleepy")).await;
    assert_eq!(unknown.status, inactive.status);
    assert_eq!(unknown.json(), inactive.json());
}

#[tokio::test(flavor = "multi_thread")]
async fn login_issues_tokens_with_the_contract_claims() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", Some("You are Acme's assistant."))
        .await;
    let user_id = app
        .create_user("Alice@Example.com", Some("acme"), false)
        .await;

    // JSON body, email in another case.
    let response = app.login("alice@example.COM", PASSWORD).await;
    response.assert_status(200);
    let body = response.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let token = body["access_token"].as_str().expect("token").to_owned();
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token).expect("claims");
    assert_eq!(claims["sub"], user_id.to_string());
    assert_eq!(claims["tenant_id"], "acme");
    assert_eq!(claims["email"], "Alice@Example.com");
    assert!(claims["exp"].as_u64().expect("exp") > claims["iat"].as_u64().expect("iat"));

    // The OAuth2 password form.
    let form = app
        .post("/auth/token")
        .raw_body(
            "application/x-www-form-urlencoded",
            format!("username=alice%40example.com&password={PASSWORD}"),
        )
        .send()
        .await;
    form.assert_status(200);

    // The token works on tenant routes and /auth/me.
    let tenant = app.tenant_info(&token).await;
    tenant.assert_status(200);
    assert_eq!(
        tenant.json(),
        json!({"id": "acme", "name": "Tenant acme", "system_prompt": "You are Acme's assistant.", "retriever": "builtin"})
    );
    let me = app.get("/auth/me").bearer(&token).send().await;
    me.assert_status(200);
    assert_eq!(me.json()["id"], user_id.to_string());
    assert_eq!(me.json()["tenant_id"], "acme");
    assert_eq!(me.json()["is_superuser"], false);
    assert!(me.json().get("password_hash").is_none());
    app.get("/auth/me")
        .send()
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = TestApp::new().await;
    app.create_user("bob@example.com", None, false).await;
    let wrong = app.login("bob@example.com", "Pw-SEKRIT-wrong").await;
    let unknown = app.login("nobody@example.com", "Pw-SEKRIT-wrong").await;
    wrong.assert_error(401, "invalid_credentials");
    unknown.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.json(), unknown.json());
    assert_eq!(wrong.headers["www-authenticate"], "Bearer");

    // Same work either way: both run one argon2 verification. Compare the fastest of several
    // tries (the least disturbed by other tests sharing the cores), loosely.
    let mut wrong_times = Vec::new();
    let mut unknown_times = Vec::new();
    for _ in 0..7 {
        let t = std::time::Instant::now();
        app.login("bob@example.com", "Pw-SEKRIT-no").await;
        wrong_times.push(t.elapsed());
        let t = std::time::Instant::now();
        app.login("ghost@example.com", "Pw-SEKRIT-no").await;
        unknown_times.push(t.elapsed());
    }
    wrong_times.sort();
    unknown_times.sort();
    let (w, u) = (wrong_times[2].as_secs_f64(), unknown_times[2].as_secs_f64());
    println!("median login failure: wrong password {w:.4}s, unknown email {u:.4}s");
    assert!(
        u > w * 0.5 && u < w * 2.0,
        "unknown email {u}s vs wrong password {w}s"
    );

    // Missing fields are a 422, not a 401 or a 500.
    app.post("/auth/token")
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .assert_error(422, "validation_error");
    app.post("/auth/token")
        .raw_body("application/json", "{not json")
        .send()
        .await
        .assert_error(422, "validation_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_are_throttled_and_successes_are_not() {
    let app = TestApp::builder()
        .env("LOGIN_MAX_FAILURES", "3")
        .build()
        .await;
    app.create_user("carol@example.com", None, false).await;
    // Successful logins never count.
    for _ in 0..5 {
        app.login_as("carol@example.com").await;
    }
    for _ in 0..3 {
        app.login("carol@example.com", "Pw-SEKRIT-bad")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let limited = app.login("carol@example.com", "Pw-SEKRIT-bad").await;
    limited.assert_error(429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    // Even the right password waits now: the throttle answers before checking.
    app.login("carol@example.com", PASSWORD)
        .await
        .assert_error(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_claim_may_be_a_dotted_path() {
    let app = TestApp::builder()
        .env("TENANT_CLAIM", "app_metadata.tenant_id")
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let nested = app.token_with_claims(
        json!({"sub": "u", "exp": now() + 600, "app_metadata": {"tenant_id": "acme"}}),
    );
    app.tenant_info(&nested).await.assert_status(200);
    let top_level =
        app.token_with_claims(json!({"sub": "u", "exp": now() + 600, "tenant_id": "acme"}));
    app.tenant_info(&top_level)
        .await
        .assert_error(403, "no_tenant");
}

#[tokio::test(flavor = "multi_thread")]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = TestApp::builder()
        .env("JWT_ISSUER", "https://id.example.com")
        .env("JWT_AUDIENCE", "tenantgate")
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let base = |iss: &str, aud: &str| {
        mint(
            &json!({"sub": "u", "tenant_id": "acme", "exp": now() + 600, "iss": iss, "aud": aud}),
            Algorithm::HS256,
            JWT_SECRET.as_bytes(),
        )
    };
    app.tenant_info(&base("https://id.example.com", "tenantgate"))
        .await
        .assert_status(200);
    app.tenant_info(&base("https://evil.example.com", "tenantgate"))
        .await
        .assert_error(401, "invalid_token");
    app.tenant_info(&base("https://id.example.com", "other"))
        .await
        .assert_error(401, "invalid_token");
    let no_iss = app.token_with_claims(
        json!({"sub": "u", "tenant_id": "acme", "exp": now() + 600, "aud": "tenantgate"}),
    );
    app.tenant_info(&no_iss)
        .await
        .assert_error(401, "invalid_token");
    // Tokens the gateway issues carry both.
    app.create_user("dave@example.com", Some("acme"), false)
        .await;
    let issued = app.login_as("dave@example.com").await;
    app.tenant_info(&issued).await.assert_status(200);
}
