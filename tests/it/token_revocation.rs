//! Tokens of a user who changes (deactivated, deleted, moved to another tenant, superuser
//! status changed) stop working on every replica within a second, and a psql promotion takes
//! effect within a second: two gateways on one database, one changes, the other refuses.

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use serde_json::json;

use crate::harness::TestApp;

/// Polls `path` on `app` with `token` until it answers `status`; returns how long it took.
async fn wait_for(app: &TestApp, path: &str, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let response = app.get(path).bearer(token).send().await;
        if response.status.as_u16() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: still {} after 3 s: {}",
            response.status,
            response.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_users_tokens_stop_working_on_another_replica_within_a_second() {
    let a = TestApp::new().await;
    let b = TestApp::builder().database_url(&a.db.url).build().await;
    let admin = a.superuser_token().await;
    a.seed_tenant("acme", None).await;
    a.seed_tenant("globex", None).await;
    let changes: [(&str, &str); 4] = [
        (
            "deactivated",
            "UPDATE users SET is_active = false WHERE email = $1",
        ),
        (
            "moved",
            "UPDATE users SET tenant_id = 'globex' WHERE email = $1",
        ),
        (
            "promoted",
            "UPDATE users SET is_superuser = true WHERE email = $1",
        ),
        ("deleted", "DELETE FROM users WHERE email = $1"),
    ];
    for (what, sql) in changes {
        let email = format!("{what}@example.com");
        a.create_user(&email, Some("acme"), false).await;
        let token = b.login_as(&email).await;
        // Warm on both replicas.
        for app in [&a, &b] {
            app.tenant_info(&token).await.assert_status(200);
            app.get("/auth/me")
                .bearer(&token)
                .send()
                .await
                .assert_status(200);
        }
        let sql = sql.replace("$1", &format!("'{email}'"));
        a.conn().await.batch_execute(&sql).await.expect("change");
        let took = wait_for(&b, "/tenant", &token, 401).await;
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
        // The replica that made the change hears its own NOTIFY too, possibly a moment later.
        let took = wait_for(&a, "/tenant", &token, 401).await;
        assert!(
            took < Duration::from_secs(1),
            "{what} (own replica): {took:?}"
        );
        for app in [&a, &b] {
            app.tenant_info(&token)
                .await
                .assert_error(401, "invalid_token");
            app.get("/auth/me")
                .bearer(&token)
                .send()
                .await
                .assert_error(401, "invalid_token");
        }
    }
    // The admin API's changes too (demotion through PUT on the other replica).
    a.create_user("demoted@example.com", None, true).await;
    let demoted = b.login_as("demoted@example.com").await;
    b.get("/admin/tenants")
        .bearer(&demoted)
        .send()
        .await
        .assert_status(200);
    let id = a
        .get("/admin/users")
        .bearer(&admin)
        .send()
        .await
        .json()
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "demoted@example.com")
        .expect("listed")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    a.put(&format!("/admin/users/{id}"))
        .bearer(&admin)
        .json(&json!({"is_superuser": false}))
        .send()
        .await
        .assert_status(200);
    let took = wait_for(&b, "/admin/tenants", &demoted, 401).await;
    assert!(took < Duration::from_secs(1), "demoted: {took:?}");
    // A fresh login works again, with what the user now is.
    let fresh = b.login_as("moved@example.com").await;
    let body = b.tenant_info(&fresh).await;
    body.assert_status(200);
    assert_eq!(body.json()["id"], "globex");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_psql_promotion_takes_effect_on_another_replica_within_a_second() {
    let a = TestApp::new().await;
    let b = TestApp::builder().database_url(&a.db.url).build().await;
    a.create_user("ops@example.com", None, false).await;
    let before = b.login_as("ops@example.com").await;
    // B caches "not a superuser" for this user.
    b.get("/admin/tenants")
        .bearer(&before)
        .send()
        .await
        .assert_error(403, "forbidden");
    a.conn()
        .await
        .batch_execute("UPDATE users SET is_superuser = true WHERE email = 'ops@example.com'")
        .await
        .expect("promote");
    let started = Instant::now();
    loop {
        let token = b.login_as("ops@example.com").await;
        if b.get("/admin/tenants").bearer(&token).send().await.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not promoted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
