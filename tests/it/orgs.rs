//! Organizations (DESIGN §10): deactivation reaching every replica within a second (two
//! gateways on one database, the change made through one, or through the CLI), and the CLI
//! `tenantgate orgs …`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{TestApp, cli};
use crate::roles::create_org;

/// Polls `GET /tenant` on `app` with `token` until it answers `status`; returns how long it took.
async fn wait_for(app: &TestApp, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let response = app.get("/tenant").bearer(token).send().await;
        if response.status.as_u16() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still {} after 3 s: {}",
            response.status,
            response.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivating_an_org_reaches_another_replica_within_a_second() {
    let a = TestApp::new().await;
    let b = TestApp::builder().database_url(&a.db.url).build().await;
    let admin = a.superuser_token().await;
    create_org(&a, &admin, "org-a").await;
    create_org(&a, &admin, "org-b").await;
    a.create_tenant(&admin, "ta1", json!({"org_id": "org-a"}))
        .await;
    a.create_tenant(&admin, "ta2", json!({"org_id": "org-a"}))
        .await;
    a.create_tenant(&admin, "tb1", json!({"org_id": "org-b"}))
        .await;
    let tokens: Vec<(&str, String)> = ["ta1", "ta2", "tb1"]
        .into_iter()
        .map(|t| (t, a.tenant_token(t)))
        .collect();
    // Warm both replicas' tenant caches.
    for app in [&a, &b] {
        for (_, token) in &tokens {
            app.get("/tenant")
                .bearer(token)
                .send()
                .await
                .assert_status(200);
        }
    }
    // Let replica b's listener connect (it starts with the app).
    tokio::time::sleep(Duration::from_millis(200)).await;

    a.delete("/admin/orgs/org-a")
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);
    // At once on the replica that made the change.
    for (_, token) in &tokens[..2] {
        a.get("/tenant")
            .bearer(token)
            .send()
            .await
            .assert_error(403, "tenant_unavailable");
    }
    for (tenant, token) in &tokens[..2] {
        let took = wait_for(&b, token, 403).await;
        println!("org deactivation of {tenant} seen by the other replica after {took:?}");
        assert!(took < Duration::from_secs(1), "{tenant}: {took:?}");
    }
    b.get("/tenant")
        .bearer(&tokens[0].1)
        .send()
        .await
        .assert_error(403, "tenant_unavailable");
    // Another organization's tenant is untouched.
    b.get("/tenant")
        .bearer(&tokens[2].1)
        .send()
        .await
        .assert_status(200);

    // Reactivating restores them, on both replicas.
    a.patch("/admin/orgs/org-a")
        .bearer(&admin)
        .json(&json!({"is_active": true}))
        .send()
        .await
        .assert_status(200);
    for (tenant, token) in &tokens[..2] {
        let took = wait_for(&b, token, 200).await;
        assert!(took < Duration::from_secs(1), "{tenant} back: {took:?}");
        a.get("/tenant")
            .bearer(token)
            .send()
            .await
            .assert_status(200);
    }

    // The CLI's deactivation (a process of its own) reaches both running replicas.
    let url = a.db.url.clone();
    let out =
        tokio::task::spawn_blocking(move || cli::ok(&url, &["orgs", "deactivate", "org-a"], ""))
            .await
            .expect("cli");
    assert!(out.contains("org-a is inactive"), "{out}");
    for app in [&a, &b] {
        let took = wait_for(app, &tokens[0].1, 403).await;
        assert!(took < Duration::from_secs(1), "cli: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_creates_lists_shows_updates_and_deactivates_orgs() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let url = app.db.url.clone();

    let out = cli::ok(
        &url,
        &[
            "orgs",
            "create",
            "--id",
            "acme-group",
            "--name",
            "Acme Group",
        ],
        "",
    );
    assert!(out.starts_with("orgs: created acme-group"), "{out}");
    assert!(out.contains("\"name\": \"Acme Group\""), "{out}");
    // The API sees it, and tenants join it from the CLI too.
    app.get("/admin/orgs/acme-group")
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);
    cli::ok(
        &url,
        &[
            "tenants",
            "create",
            "--id",
            "acme",
            "--name",
            "Acme",
            "--org",
            "acme-group",
        ],
        "",
    );
    cli::ok(
        &url,
        &["orgs", "create", "--id", "globex", "--name", "Globex"],
        "",
    );

    let listed = cli::ok(&url, &["orgs", "list"], "");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("acme-group") && l.contains("true")),
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.starts_with("globex")), "{listed}");
    assert!(listed.contains("orgs: 2 organization(s)"), "{listed}");

    let shown = cli::ok(&url, &["orgs", "show", "acme-group"], "");
    assert!(shown.contains("orgs: 1 tenant(s): acme"), "{shown}");

    let out = cli::ok(
        &url,
        &["orgs", "update", "acme-group", "--name", "Acme Holdings"],
        "",
    );
    assert!(
        out.starts_with("orgs: updated acme-group (version 2)"),
        "{out}"
    );
    let out = cli::ok(
        &url,
        &["orgs", "update", "acme-group", "--name", "Acme Holdings"],
        "",
    );
    assert!(out.starts_with("orgs: unchanged acme-group"), "{out}");

    let token = app.tenant_token("acme");
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = cli::ok(&url, &["orgs", "deactivate", "acme-group"], "");
    assert!(
        out.contains("acme-group is inactive") && out.contains("1 tenant(s) answer 403"),
        "{out}"
    );
    wait_for(&app, &token, 403).await;
    let out = cli::ok(&url, &["orgs", "activate", "acme-group"], "");
    assert!(out.contains("acme-group is active"), "{out}");
    wait_for(&app, &token, 200).await;

    // Audited like the API's changes, with actor `cli`.
    let log = app
        .get("/admin/audit?limit=100")
        .bearer(&admin)
        .send()
        .await
        .json();
    let actions: Vec<&str> = log
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["actor"] == "cli" && e["target"] == "acme-group")
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        ["org.activate", "org.deactivate", "org.update", "org.create"]
    );

    // Failures: one line, exit code 1.
    for (args, says) in [
        (
            vec!["orgs", "create", "--id", "acme-group", "--name", "Again"],
            "exists already",
        ),
        (vec!["orgs", "create", "--id=bad id", "--name", "Bad"], "id"),
        (vec!["orgs", "show", "nope"], "no organization with id nope"),
        (
            vec!["orgs", "update", "nope", "--name", "X"],
            "no organization with id nope",
        ),
        (
            vec!["orgs", "deactivate", "nope"],
            "no organization with id nope",
        ),
    ] {
        let output = cli::run(&url, &args, "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// An `org_id` naming no organization is the caller's mistake: 422 on `org_id`, never 500
/// (found by the property tests in CI: `PUT /admin/tenants/other {"org_id":"¡"}`).
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_org_id_is_422_on_every_write_that_takes_one() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "other", json!({})).await;
    let writes = [
        (
            "POST",
            "/admin/tenants",
            json!({"id": "t-new", "name": "T", "org_id": "nope"}),
        ),
        ("PUT", "/admin/tenants/other", json!({"org_id": "¡"})),
        ("PATCH", "/admin/tenants/other", json!({"org_id": "nope"})),
        (
            "POST",
            "/admin/users",
            json!({"email": "oa@example.com", "password": "a long password 1", "role": "org_admin", "org_id": "nope"}),
        ),
    ];
    for (method, path, body) in writes {
        let request = match method {
            "POST" => app.post(path),
            "PUT" => app.put(path),
            _ => app.patch(path),
        };
        let response = request.bearer(&admin).json(&body).send().await;
        assert_eq!(
            response.status.as_u16(),
            422,
            "{method} {path} {body}: {}",
            response.text()
        );
        assert!(
            response.text().contains("org_id"),
            "{method} {path}: the error names the field: {}",
            response.text()
        );
    }
}
