//! The authentication findings of the outside review (issue 9), each with the test that shows
//! it fixed: client addresses behind proxies, login throttling and email normalisation, bounded
//! password hashing, no password oracle without a signing key, strict token headers and
//! algorithms, tenant ids unique whatever their case, and negative caches that spare the
//! database.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::outage::Outage;
use crate::harness::{JWT_SECRET, PASSWORD, TestApp, TestDb, cli, mint, now};

/// A failed login over real TCP (so the gateway sees a peer address), with an optional
/// `X-Forwarded-For`; returns the status.
async fn login_over_tcp(
    addr: SocketAddr,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/auth/token"))
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.expect("login").status().as_u16()
}

// ---- 1. X-Forwarded-For is believed only as far as TRUSTED_PROXY_HOPS says ------------------

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_is_trusted_only_for_the_configured_hops() {
    struct Case {
        hops: &'static str,
        /// `X-Forwarded-For` of the n-th failing login (different emails each time).
        failing: fn(usize) -> String,
        probe: Option<&'static str>,
        blocked: bool,
    }
    let cases = [
        // Default: the header is ignored, rotating it does not escape the per-address limit.
        Case {
            hops: "0",
            failing: |n| format!("203.0.113.{n}"),
            probe: None,
            blocked: true,
        },
        // ... and a spoofed header cannot get someone else's address blocked.
        Case {
            hops: "0",
            failing: |_| "198.51.100.7".to_owned(),
            probe: None,
            blocked: true,
        },
        // One proxy: the client is the rightmost entry; what the client wrote before it is
        // not believed, in either direction.
        Case {
            hops: "1",
            failing: |n| format!("10.{n}.0.1, 203.0.113.1"),
            probe: Some("203.0.113.1"),
            blocked: true,
        },
        Case {
            hops: "1",
            failing: |_| "198.51.100.7, 203.0.113.1".to_owned(),
            probe: Some("198.51.100.7"),
            blocked: false,
        },
        // Two proxies: the second entry from the right.
        Case {
            hops: "2",
            failing: |n| format!("6.6.6.{n}, 203.0.113.5, 10.0.0.{n}"),
            probe: Some("1.1.1.1, 203.0.113.5, 10.0.0.200"),
            blocked: true,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut app = TestApp::builder()
            .env("TRUSTED_PROXY_HOPS", case.hops)
            .env("LOGIN_MAX_FAILURES_PER_ADDRESS", "3")
            .build()
            .await;
        let addr = app.spawn_server().await;
        for n in 0..4 {
            let xff = (case.failing)(n);
            login_over_tcp(
                addr,
                &format!("u{n}@example.com"),
                "Pw-SEKRIT-bad",
                Some(&xff),
            )
            .await;
        }
        let status = login_over_tcp(addr, "probe@example.com", "Pw-SEKRIT-bad", case.probe).await;
        let expected = if case.blocked { 429 } else { 401 };
        assert_eq!(
            status, expected,
            "case {i}: hops {} probe {:?}",
            case.hops, case.probe
        );
    }
}

// ---- 2. Login throttling by (email, address), with one email normalisation ------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_stranger_cannot_lock_a_user_out() {
    let mut app = TestApp::builder()
        .env("TRUSTED_PROXY_HOPS", "1")
        .env("LOGIN_MAX_FAILURES", "3")
        .build()
        .await;
    app.create_user("victim@example.com", None, false).await;
    let addr = app.spawn_server().await;
    let mut stranger = Vec::new();
    for _ in 0..10 {
        stranger.push(
            login_over_tcp(
                addr,
                "victim@example.com",
                "Pw-SEKRIT-bad",
                Some("203.0.113.66"),
            )
            .await,
        );
    }
    assert_eq!(&stranger[..3], [401, 401, 401]);
    assert!(stranger[3..].iter().all(|s| *s == 429), "{stranger:?}");
    // The victim, from their own address, is not locked out.
    let victim = login_over_tcp(addr, "victim@example.com", PASSWORD, Some("198.51.100.1")).await;
    assert_eq!(victim, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_spread_over_addresses_meet_the_per_email_ceiling() {
    let mut app = TestApp::builder()
        .env("TRUSTED_PROXY_HOPS", "1")
        .env("LOGIN_MAX_FAILURES", "3")
        .env("LOGIN_MAX_FAILURES_PER_EMAIL", "6")
        .build()
        .await;
    app.create_user("target@example.com", None, false).await;
    let addr = app.spawn_server().await;
    for n in 0..7 {
        let xff = format!("203.0.113.{n}");
        login_over_tcp(addr, "target@example.com", "Pw-SEKRIT-bad", Some(&xff)).await;
    }
    let status = login_over_tcp(addr, "target@example.com", PASSWORD, Some("198.51.100.9")).await;
    assert_eq!(status, 429);
}

/// Spellings of `victim@example.com`: the same account (same throttle bucket) or another one,
/// never a second door to the same account.
const SPELLINGS: [(&str, bool); 5] = [
    ("VICTIM@EXAMPLE.COM", true),
    (" Victim@Example.com ", true),
    ("\u{ff56}ictim@example.com", true), // fullwidth v: NFKC makes it "v"
    ("v\u{130}ctim@example.com", false), // İ: Rust lowercases it to "i" + U+0307, not "i"
    ("victim@exampl\u{0117}.com", false),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_an_email_shares_one_throttle_bucket() {
    let app = TestApp::builder()
        .env("LOGIN_MAX_FAILURES", "3")
        .build()
        .await;
    app.create_user("victim@example.com", None, false).await;
    for _ in 0..4 {
        app.login("victim@example.com", "Pw-SEKRIT-bad").await;
    }
    for (spelling, same_account) in SPELLINGS {
        let response = app.login(spelling, PASSWORD).await;
        if same_account {
            response.assert_error(429, "rate_limited");
        } else {
            // Another account (none here): never a login to the victim's.
            response.assert_error(401, "invalid_credentials");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_are_stored_and_looked_up_under_one_normalisation() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.post("/admin/users")
        .bearer(&admin)
        .json(&json!({"email": "Victim@Example.com", "password": PASSWORD}))
        .send()
        .await
        .assert_status(201);
    for (spelling, same_account) in SPELLINGS {
        let created = app
            .post("/admin/users")
            .bearer(&admin)
            .json(&json!({"email": spelling, "password": PASSWORD}))
            .send()
            .await;
        let login = app.login(spelling, PASSWORD).await;
        if same_account {
            created.assert_error(409, "conflict");
            login.assert_status(200);
        } else {
            // A distinct address: its own account, created and logged in on its own.
            created.assert_status(201);
            login.assert_status(200);
            assert_eq!(login_email(&login.json()), created.json()["email"]);
        }
    }
    // The email is shown as written.
    let me = app.login_as("victim@example.com").await;
    let shown = app.get("/auth/me").bearer(&me).send().await.json();
    assert_eq!(shown["email"], "Victim@Example.com");
}

fn login_email(token_response: &Value) -> Value {
    use base64::Engine;
    let token = token_response["access_token"].as_str().expect("token");
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice::<Value>(&bytes).expect("claims")["email"].clone()
}

// ---- 3. Password hashing is bounded --------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn parallel_logins_are_bounded_and_tenant_routes_unaffected() {
    let mut app = TestApp::builder()
        .env("PASSWORD_HASH_CONCURRENCY", "1")
        .env("PASSWORD_HASH_QUEUE", "3")
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    let addr = app.spawn_server().await;
    let client = reqwest::Client::new();
    let logins: Vec<_> = (0..48)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let response = client
                    .post(format!("http://{addr}/auth/token"))
                    .json(&json!({"email": format!("rand{n}@example.com"), "password": "Pw-SEKRIT-x"}))
                    .send()
                    .await
                    .expect("login");
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let body: Value = response.json().await.expect("json");
                (status, retry_after, body["code"].as_str().unwrap_or("").to_owned())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let status = client
            .get(format!("http://{addr}/tenant"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("tenant")
            .status();
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, 200);
    }
    let mut refused = 0;
    for login in logins {
        let (status, retry_after, code) = login.await.expect("task");
        match status {
            401 => assert_eq!(code, "invalid_credentials"),
            429 => {
                assert_eq!(code, "rate_limited");
                assert!(retry_after, "429 without Retry-After");
                refused += 1;
            }
            other => panic!("login answered {other}"),
        }
    }
    assert!(refused > 0, "no login was refused: hashing is not bounded");
    eprintln!("48 parallel logins: {refused} refused; slowest /tenant {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "/tenant took {slowest:?}");
}

// ---- 4. No password oracle where the gateway issues no tokens -------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_issues_no_tokens_answers_every_login_alike() {
    let app = TestApp::builder()
        .env("ALGORITHM", "ES256")
        .env("JWT_PUBLIC_KEY", crate::identity_provider::EC_PUBLIC)
        .build()
        .await;
    app.create_user("idp-user@example.com", None, false).await;
    let answer = |password: &'static str, email: &'static str| {
        let app = &app;
        async move {
            let r = app.login(email, password).await;
            (r.status.as_u16(), r.text())
        }
    };
    let right = answer(PASSWORD, "idp-user@example.com").await;
    let wrong = answer("Pw-SEKRIT-wrong", "idp-user@example.com").await;
    let unknown = answer(PASSWORD, "nobody@example.com").await;
    assert_eq!(right, wrong);
    assert_eq!(right, unknown);
    assert_eq!(right.0, 403);
}

// ---- 5. Tokens: crit, algorithms, the missing claim named ----------------------------------

fn hs_token(alg: Algorithm, crit: Option<Vec<String>>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.crit = crit;
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_use_only_the_configured_algorithms_and_no_crit_extensions() {
    let claims = json!({"sub": "u", "tenant_id": "acme", "exp": now() + 600});
    let crit = Some(vec!["exp".to_owned()]);
    // (ALGORITHM, token, expected status, a word the detail must hold)
    let cases: [(&str, String, u16, &str); 8] = [
        ("HS256", hs_token(Algorithm::HS256, None, &claims), 200, ""),
        (
            "HS256",
            hs_token(Algorithm::HS384, None, &claims),
            401,
            "algorithm",
        ),
        (
            "HS256",
            hs_token(Algorithm::HS512, None, &claims),
            401,
            "algorithm",
        ),
        (
            "HS256",
            hs_token(Algorithm::HS256, crit.clone(), &claims),
            401,
            "crit",
        ),
        (
            "HS256",
            mint(
                &json!({"sub": "u", "tenant_id": "acme"}),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
            401,
            "claim: exp",
        ),
        (
            "HS256,HS512",
            hs_token(Algorithm::HS512, None, &claims),
            200,
            "",
        ),
        (
            "HS256,HS512",
            hs_token(Algorithm::HS384, None, &claims),
            401,
            "algorithm",
        ),
        (
            "HS256,HS512",
            hs_token(Algorithm::HS512, crit, &claims),
            401,
            "crit",
        ),
    ];
    for (algorithm, token, status, word) in cases {
        let app = TestApp::builder().env("ALGORITHM", algorithm).build().await;
        app.seed_tenant("acme", None).await;
        let response = app.tenant_info(&token).await;
        if status == 200 {
            response.assert_status(200);
        } else {
            response.assert_error(status, "invalid_token");
            let detail = response.json()["detail"].as_str().unwrap_or("").to_owned();
            assert!(
                detail.contains(word),
                "{algorithm}: {detail:?} lacks {word:?}"
            );
        }
    }
}

// ---- 6. Tenant ids are unique whatever their case -------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn tenant_ids_differing_only_in_case_conflict() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "ClientA", json!({})).await;
    for id in ["clienta", "CLIENTA", "ClientA"] {
        app.post("/admin/tenants")
            .bearer(&admin)
            .json(&json!({"id": id, "name": "again"}))
            .send()
            .await
            .assert_error(409, "conflict");
    }
    let output = cli::run(
        &app.db.url,
        &["tenants", "create", "--id", "CLIENTa", "--name", "again"],
        "",
    );
    assert!(!output.status.success(), "the CLI created a case twin");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    // Another id still works.
    app.create_tenant(&admin, "clientb", json!({})).await;
}

// ---- 7. Unknown tenants and API-key prefixes are answered from memory -----------------------

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tenants_and_api_keys_are_cached_briefly() {
    let db = TestDb::new().await;
    let outage = Outage::start().await;
    let app = TestApp::builder()
        .database_url(&outage.url_for(&db.url))
        .env("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")
        .build()
        .await;
    let ghost = app.tenant_token("ghost");
    let unknown_key = "tg_zzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    app.tenant_info(&ghost)
        .await
        .assert_error(403, "tenant_unavailable");
    app.get("/tenant")
        .api_key(unknown_key)
        .send()
        .await
        .assert_error(401, "invalid_api_key");
    // With the database gone, the same answers come from memory (not 503): repeated unknown
    // credentials cost no SQL.
    outage.cut();
    for _ in 0..10 {
        app.tenant_info(&ghost)
            .await
            .assert_error(403, "tenant_unavailable");
        app.get("/tenant")
            .api_key(unknown_key)
            .send()
            .await
            .assert_error(401, "invalid_api_key");
    }
    outage.restore();
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_tenant_ends_its_negative_cache_entry() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let token = app.tenant_token("latecomer");
    app.tenant_info(&token)
        .await
        .assert_error(403, "tenant_unavailable");
    app.create_tenant(&admin, "latecomer", json!({})).await;
    app.tenant_info(&token).await.assert_status(200);
}
