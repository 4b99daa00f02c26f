//! The console (`/console`, DESIGN §12): the files and their headers over HTTP, `CONSOLE_ENABLED`,
//! and the whole flow in a real headless Chromium (harness::browser): log in, create a tenant,
//! edit its prompt, create and revoke an API key, see usage, read the audit log, and see a
//! refused action's `detail`. Screenshots land in `target/screenshots/`.

use serde_json::json;

use crate::harness::browser::{Browser, in_browser};
use crate::harness::{PASSWORD, TestApp};

const FILES: &[(&str, &str)] = &[
    ("/console", "text/html; charset=utf-8"),
    ("/console/", "text/html; charset=utf-8"),
    ("/console/index.html", "text/html; charset=utf-8"),
    ("/console/app.js", "text/javascript; charset=utf-8"),
    ("/console/api.js", "text/javascript; charset=utf-8"),
    (
        "/console/pages/tenants.js",
        "text/javascript; charset=utf-8",
    ),
    ("/console/style.css", "text/css; charset=utf-8"),
    ("/console/favicon.svg", "image/svg+xml"),
];

#[tokio::test(flavor = "multi_thread")]
async fn console_files_are_served_with_strict_headers() {
    let app = TestApp::new().await;
    for (path, content_type) in FILES {
        let response = app.get(path).send().await;
        response.assert_status(200);
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), *content_type, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: {directive} missing: {csp}"
            );
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");

        // A strong ETag, and a 304 for a browser that already has this version.
        let etag = header("etag");
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let again = app.get(path).header("if-none-match", &etag).send().await;
        again.assert_status(304);
        assert!(again.body.is_empty());
        let other = app.get(path).header("if-none-match", "\"x\"").send().await;
        other.assert_status(200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_console_files_are_404_and_nothing_outside_the_embedded_folder_is_served() {
    let app = TestApp::new().await;
    for path in [
        "/console/nope.js",
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/pages/../../src/main.rs",
        "/console/pages",
        "/console//etc/passwd",
    ] {
        let response = app.get(path).send().await;
        response.assert_error(404, "not_found");
    }
}

/// The CSP forbids inline script, inline style and inline event handlers; this keeps the
/// embedded files free of them (the browser would refuse them, so the page would break).
#[test]
fn console_files_have_no_inline_script_or_style() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/console");
    let script_tag = regex::Regex::new(r"(?i)<script\b([^>]*)>").expect("regex");
    let inline_handler = regex::Regex::new(r#"(?i)\son[a-z]+\s*="#).expect("regex");
    let mut seen = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("entry");
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let text = std::fs::read_to_string(path).expect("read");
        seen += 1;
        if path.extension().is_some_and(|e| e == "html") {
            for tag in script_tag.captures_iter(&text) {
                assert!(
                    tag[1].contains("src="),
                    "{}: inline <script>",
                    path.display()
                );
            }
            assert!(
                !text.contains("<style"),
                "{}: inline <style>",
                path.display()
            );
            assert!(
                !text.contains(" style="),
                "{}: style attribute",
                path.display()
            );
            assert!(
                !inline_handler.is_match(&text),
                "{}: inline handler",
                path.display()
            );
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{}: a remote URL",
                path.display()
            );
        }
        if path.extension().is_some_and(|e| e == "js") {
            // No HTML parsing of strings: every text goes in as a text node.
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "localStorage",
                "sessionStorage",
                "document.cookie",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{}: uses {forbidden}",
                    path.display()
                );
            }
            // Only this gateway: no CDN, no other origin.
            for line in text.lines() {
                if line.contains("import ") {
                    assert!(
                        !line.contains("//"),
                        "{}: remote import {line}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(seen >= 8, "only {seen} files");
}

#[tokio::test(flavor = "multi_thread")]
async fn console_enabled_false_turns_it_off() {
    let app = TestApp::builder()
        .env("CONSOLE_ENABLED", "false")
        .build()
        .await;
    for path in ["/console", "/console/", "/console/app.js"] {
        app.get(path).send().await.assert_error(404, "not_found");
    }
    // The API is unaffected.
    app.get("/health").send().await.assert_status(200);
}

/// The walkthrough of issue 15 in one browser session.
#[tokio::test(flavor = "multi_thread")]
async fn console_flow_in_a_real_browser() {
    let mut app = TestApp::new().await;
    in_browser(&mut app, flow).await;
}

async fn flow(app: &TestApp, b: &Browser, base: &str) {
    app.create_user("root@example.com", None, true).await;
    let token = app.login_as("root@example.com").await;

    // A wrong password shows the API's own sentence.
    b.goto(&format!("{base}/console")).await;
    b.submit_login("root@example.com", "not-the-password").await;
    let refused = app.login("root@example.com", "not-the-password").await;
    let detail = refused.json()["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    b.wait_text("#login-form .error", &detail).await;

    // Log in.
    b.fill("#login-form input[name=password]", PASSWORD).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("#who", "root@example.com").await;
    b.find("#tenants-table").await;
    // The token is in memory only.
    let stored = b
        .execute("return localStorage.length + sessionStorage.length + document.cookie.length")
        .await;
    assert_eq!(stored, json!(0));

    // Client-side validation speaks the API's rule before sending anything.
    b.fill("#create-tenant input[name=id]", "-bad id").await;
    b.fill("#create-tenant input[name=name]", "Bad").await;
    b.click("#create-tenant button[type=submit]").await;
    b.wait_text(
        "#create-tenant .field-error[data-for=id]",
        "must be 1-64 characters of A-Z a-z 0-9 _ - . starting with a letter or digit",
    )
    .await;

    // Create a tenant.
    b.fill("#create-tenant input[name=id]", "acme").await;
    b.fill("#create-tenant input[name=name]", "Acme Corp").await;
    b.fill(
        "#create-tenant textarea[name=system_prompt]",
        "You are Acme's assistant.",
    )
    .await;
    b.click("#create-tenant button[type=submit]").await;
    b.wait_text(".page-head h1", "Tenant acme").await;
    b.wait_text(".notice", "Tenant acme created.").await;

    // Edit its prompt.
    b.fill(
        "#edit-tenant textarea[name=system_prompt]",
        "Answer as Acme's support desk.",
    )
    .await;
    b.click("#edit-tenant button[type=submit]").await;
    b.wait_text(".notice", "Saved.").await;
    let tenant = app
        .get("/admin/tenants/acme")
        .bearer(&token)
        .send()
        .await
        .json();
    assert_eq!(tenant["system_prompt"], "Answer as Acme's support desk.");
    assert_eq!(tenant["version"], 2);

    // Set a Pinecone key: write-only, never shown back.
    b.fill(
        "#edit-tenant input[name=pinecone_api_key]",
        "pc-SEKRIT-console-key",
    )
    .await;
    b.click("#edit-tenant button[type=submit]").await;
    b.wait_text("#pinecone-key-state", "A Pinecone API key is stored")
        .await;
    assert_eq!(
        b.value("#edit-tenant input[name=pinecone_api_key]").await,
        ""
    );
    let page = b.execute("return document.documentElement.outerHTML").await;
    assert!(!page.to_string().contains("pc-SEKRIT"));

    // Create an API key: shown once, and it works.
    b.fill("#create-key input[name=name]", "ingest-worker")
        .await;
    b.click("#create-key button[type=submit]").await;
    b.wait_text("#created-key .warning", "only time").await;
    let key = b.value("#new-key").await;
    assert!(key.starts_with("tg_"), "{key}");
    b.find("#copy-key").await;
    app.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_status(200);
    b.screenshot("console-tenant").await;

    // Revoke it (with a confirmation step); the key stops working.
    b.click("#keys-table button[data-revoke]").await;
    b.click("#keys-table button[data-confirm-revoke]").await;
    b.wait_text("#api-keys .notice", "revoked").await;
    b.wait_text("#keys-table", "revoked").await;
    assert!(!b.exists("#new-key").await, "the key is not shown again");
    app.get("/tenant")
        .api_key(&key)
        .send()
        .await
        .assert_error(401, "invalid_api_key");

    // A refused action: a duplicate tenant id shows the API's 409 detail.
    b.click("nav a[data-nav=tenants]").await;
    b.wait_text("#tenants-table", "acme").await;
    b.fill("#create-tenant input[name=id]", "acme").await;
    b.fill("#create-tenant input[name=name]", "Acme again")
        .await;
    b.click("#create-tenant button[type=submit]").await;
    let conflict = app
        .post("/admin/tenants")
        .bearer(&token)
        .json(&json!({"id": "acme", "name": "Acme again"}))
        .send()
        .await;
    conflict.assert_error(409, "conflict");
    let detail = conflict.json()["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    b.wait_text("#create-tenant .error", &detail).await;
    b.fill("#create-tenant input[name=id]", "").await;
    b.fill("#create-tenant input[name=name]", "").await;
    app.seed_tenant("globex", Some("Globex prompt")).await;
    b.click("nav a[data-nav=tenants]").await;
    b.wait_text("#tenants-table", "globex").await;
    b.screenshot_for_docs("console-tenants").await;

    // Users: create one for the tenant.
    b.click("nav a[data-nav=users]").await;
    b.find("#create-user").await;
    b.fill("#create-user input[name=email]", "alice@acme.example")
        .await;
    b.fill("#create-user input[name=password]", PASSWORD).await;
    b.select("#create-user select[name=tenant_id]", "acme")
        .await;
    b.click("#create-user button[type=submit]").await;
    b.wait_text("#users-table", "alice@acme.example").await;

    // Usage with real data: today's requests made through the gateway (metered and flushed as
    // a running server does), and earlier days as the usage table holds them.
    let history = usage_history(app, "acme").await;
    let key = crate::harness::api_key_for(app, "acme").await;
    for query in ["anvils", "rockets", "ignition"] {
        app.post("/search")
            .api_key(&key)
            .json(&json!({"query": query}))
            .send()
            .await
            .assert_status(200);
    }
    assert!(app.state.usage.flush().await, "usage written");
    let usage = app
        .get(&format!(
            "/admin/tenants/acme/usage?from={}&to={}",
            history.first().map(|d| d.0.as_str()).unwrap_or_default(),
            today()
        ))
        .bearer(&token)
        .send()
        .await;
    usage.assert_status(200);
    let today_requests = usage.json()["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter(|d| d["day"] == today())
        .map(|d| d["requests"].as_i64().unwrap_or(0))
        .sum::<i64>();
    assert!(today_requests >= 3, "{}", usage.text());

    // The usage page (a link from another page: the hash changes, the page stays).
    b.goto(&format!("{base}/console#/usage/acme")).await;
    b.find("#usage-table").await;
    // One requests bar per day with traffic, each of the API's value.
    let bars = b
        .execute(
            "return [...document.querySelectorAll('#chart-requests rect.bar')]\
             .map(r => [r.dataset.day, Number(r.dataset.value)])",
        )
        .await;
    let bars: Vec<(String, i64)> = serde_json::from_value(bars).expect("bars");
    let mut expected: Vec<(String, i64)> = history
        .iter()
        .map(|(day, requests, _, _)| (day.clone(), *requests))
        .collect();
    expected.push((today(), today_requests));
    assert_eq!(bars, expected);
    // Tokens: prompt and completion stacked, on the days that had chat traffic.
    let token_bars = b
        .execute("return document.querySelectorAll('#chart-tokens rect.bar').length")
        .await;
    assert_eq!(token_bars, json!(history.len() * 2));
    let (day, requests, prompt, completion) = &history[0];
    let row = b
        .wait_text(
            &format!("#usage-table tr[data-day='{day}']"),
            &thousands(*requests),
        )
        .await;
    assert!(
        row.contains(&thousands(*prompt)) && row.contains(&thousands(prompt + completion)),
        "{row}"
    );
    // Tall enough for both charts in one picture.
    b.client.set_window_size(1280, 1320).await.expect("resize");
    b.screenshot_for_docs("console-usage").await;
    b.client.set_window_size(1280, 900).await.expect("resize");

    // The audit log, filtered by tenant.
    b.click("nav a[data-nav=audit]").await;
    b.fill("#audit-filters input[name=tenant_id]", "acme").await;
    b.click("#audit-filters button[type=submit]").await;
    b.wait_text("#audit-table", "tenant.create").await;
    b.wait_text("#audit-table", "api_key.revoke").await;
    let text = b.find("#audit-table").await.text().await.expect("text");
    assert!(!text.contains("globex"), "filtered by tenant: {text}");

    // A reload forgets the in-memory token: log in again.
    b.client.refresh().await.expect("reload");
    b.find("#login-form").await;
    assert!(!b.exists("#tenants-table").await);
    b.submit_login("root@example.com", PASSWORD).await;
    b.wait_text("#audit-table", "tenant.create").await;

    // Log out: back to the login form.
    b.click("#logout").await;
    b.wait_text(".notice", "You have logged out.").await;
}

/// 12345 → "12,345", as the page writes numbers.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Usage rows for some of the last 29 days (not today), as the gateway's meter writes them
/// to `usage_daily`: (day, requests, prompt tokens, completion tokens), oldest first.
async fn usage_history(app: &TestApp, tenant_id: &str) -> Vec<(String, i64, i64, i64)> {
    use diesel::ExpressionMethods;
    use diesel_async::RunQueryDsl;
    use tenantgate::store::schema::usage_daily::dsl as u;
    let today = chrono::Utc::now().date_naive();
    let mut rows = Vec::new();
    for back in (1..29_u64).rev().filter(|b| !b.is_multiple_of(3)) {
        let day = today - chrono::Days::new(back);
        let requests = 40 + (back as i64 * 37) % 90;
        let (prompt, completion) = (requests * 180, requests * 95);
        diesel::insert_into(u::usage_daily)
            .values((
                u::tenant_id.eq(tenant_id),
                u::day.eq(day),
                u::model.eq("gpt-4o-mini"),
                u::requests.eq(requests),
                u::chat_requests.eq(requests / 2),
                u::retrievals.eq(requests),
                u::prompt_tokens.eq(prompt),
                u::completion_tokens.eq(completion),
                u::updated_at.eq(chrono::Utc::now()),
            ))
            .execute(&mut app.conn().await)
            .await
            .expect("insert usage");
        rows.push((day.to_string(), requests, prompt, completion));
    }
    rows
}

/// `GET /docs` (DESIGN §13): the OpenAPI document for people, from the gateway's own files
/// only, served whatever `CONSOLE_ENABLED` says.
#[tokio::test(flavor = "multi_thread")]
async fn docs_page_is_served_from_the_gateway_alone() {
    let app = TestApp::builder()
        .env("CONSOLE_ENABLED", "false")
        .build()
        .await;
    for (path, content_type) in [
        ("/docs", "text/html"),
        ("/docs/", "text/html"),
        ("/docs/docs.js", "text/javascript"),
        ("/docs/style.css", "text/css"),
    ] {
        let response = app.get(path).send().await;
        response.assert_status(200);
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        assert!(
            header("content-security-policy").contains("default-src 'self'"),
            "{path}"
        );
        let text = response.text();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} names an outside URL"
        );
    }
    // Only the page's own files: the console's modules are not reachable through /docs.
    app.get("/docs/app.js")
        .send()
        .await
        .assert_error(404, "not_found");
    let traversal = app.get("/docs/..%2Fconsole%2Fapp.js").send().await;
    assert_eq!(traversal.status.as_u16(), 404, "{}", traversal.text());
}

/// `/docs` renders the API's operations in a real browser, offline.
#[tokio::test(flavor = "multi_thread")]
async fn docs_page_renders_the_operations_in_a_real_browser() {
    let mut app = TestApp::new().await;
    in_browser(
        &mut app,
        async |_app: &TestApp, browser: &Browser, base: &str| {
            browser.goto(&format!("{base}/docs")).await;
            let text = browser.wait_text("main", "POST /admin/tenants").await;
            assert!(text.contains("GET /tenant"), "{text}");
            browser.screenshot("docs").await;
        },
    )
    .await;
}

/// DESIGN §10/§12 in a real browser: an org admin sees its organization's tenants only, a
/// tenant admin its own tenant with only what it may change, a member no administration at
/// all; the navigation offers nothing the role cannot use, and what the API refuses shows
/// its `detail`.
#[tokio::test(flavor = "multi_thread")]
async fn console_shows_each_role_what_it_may_do() {
    let mut app = TestApp::new().await;
    in_browser(&mut app, roles_flow).await;
}

/// The `data-nav` keys and labels of the navigation, in order.
async fn nav_of(b: &Browser) -> Vec<(String, String)> {
    let items = b
        .execute(
            "return [...document.querySelectorAll('#nav a')]\
             .map(a => [a.dataset.nav, a.textContent, a.getAttribute('href')])",
        )
        .await;
    let items: Vec<(String, String, String)> = serde_json::from_value(items).expect("nav");
    items
        .into_iter()
        .map(|(key, label, _)| (key, label))
        .collect()
}

async fn list_of(b: &Browser, script: &str) -> Vec<String> {
    serde_json::from_value(b.execute(script).await).expect("a list of strings")
}

async fn roles_flow(app: &TestApp, b: &Browser, base: &str) {
    let world = crate::roles::world(app).await;
    let nav = |items: &[(&str, &str)]| {
        items
            .iter()
            .map(|(k, l)| (k.to_string(), l.to_string()))
            .collect::<Vec<_>>()
    };

    // The org admin of org-a: its tenants only, and may create one there.
    b.log_in(base, "oa@a.example.com").await;
    b.wait_text("#who", "org admin").await;
    b.wait_text("#tenants-table", "ta1").await;
    assert_eq!(
        nav_of(b).await,
        nav(&[
            ("tenants", "Tenants"),
            ("users", "Users"),
            ("usage", "Usage"),
            ("audit", "Audit log")
        ])
    );
    let api_ids: Vec<String> = app
        .get("/admin/tenants?include_inactive=true")
        .bearer(&world.org_admin)
        .send()
        .await
        .json()
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    let shown = list_of(
        b,
        "return [...document.querySelectorAll('#tenants-table tr[data-tenant]')].map(r => r.dataset.tenant)",
    )
    .await;
    assert_eq!(shown, api_ids);
    let mut sorted = shown.clone();
    sorted.sort();
    assert_eq!(sorted, ["ta-doomed", "ta1"]);
    b.screenshot("console-org-admin").await;
    // A tenant it creates is in its organization.
    b.fill("#create-tenant input[name=id]", "ta-new").await;
    b.fill("#create-tenant input[name=name]", "New in org A")
        .await;
    b.click("#create-tenant button[type=submit]").await;
    b.wait_text(".notice", "Tenant ta-new created.").await;
    let created = app
        .get("/admin/tenants/ta-new")
        .bearer(&world.superuser)
        .send()
        .await
        .json();
    assert_eq!(created["org_id"], "org-a");
    b.click("nav a[data-nav=tenants]").await;
    b.wait_text("#tenants-table", "ta-new").await;
    // Another organization's tenant: the API's 404, in its words.
    let refused = app
        .get("/admin/tenants/tb1")
        .bearer(&world.org_admin)
        .send()
        .await;
    refused.assert_error(404, "not_found");
    let detail = refused.json()["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    b.goto(&format!("{base}/console#/tenants/tb1")).await;
    b.wait_text("#main .error", &detail).await;
    // Users: only its organization's, and roles up to org admin.
    b.click("nav a[data-nav=users]").await;
    b.wait_text("#users-table", "u1@a.example.com").await;
    let users = b.find("#users-table").await.text().await.expect("text");
    assert!(!users.contains("b.example.com"), "{users}");
    let roles = list_of(
        b,
        "return [...document.querySelectorAll('#create-user select[name=role] option')].map(o => o.value)",
    )
    .await;
    assert_eq!(roles, ["member", "tenant_admin", "org_admin"]);
    let tenants = list_of(
        b,
        "return [...document.querySelectorAll('#create-user select[name=tenant_id] option')].map(o => o.value).filter(Boolean).sort()",
    )
    .await;
    assert_eq!(tenants, ["ta-doomed", "ta-new", "ta1"]);
    // Usage: a choice among its own tenants only.
    b.click("nav a[data-nav=usage]").await;
    b.find("#usage-body").await;
    let usage_tenants = list_of(
        b,
        "return [...document.querySelectorAll('#usage-tenant option')].map(o => o.value).sort()",
    )
    .await;
    assert_eq!(usage_tenants, ["ta-doomed", "ta-new", "ta1"]);
    b.log_out().await;

    // The tenant admin of ta1: its tenant's page, name and prompt only, no tenant list.
    b.log_in(base, "ta@a.example.com").await;
    b.wait_text("#who", "tenant admin").await;
    b.wait_text(".page-head h1", "Tenant ta1").await;
    assert_eq!(
        nav_of(b).await,
        nav(&[
            ("tenants", "Tenant"),
            ("users", "Users"),
            ("usage", "Usage"),
            ("audit", "Audit log")
        ])
    );
    let href = b
        .execute("return document.querySelector('nav a[data-nav=tenants]').getAttribute('href')")
        .await;
    assert_eq!(href, json!("#/tenants/ta1"));
    b.find("#edit-tenant textarea[name=system_prompt]").await;
    for hidden in [
        "#edit-tenant select[name=retriever]",
        "#edit-tenant input[name=pinecone_api_key]",
        "#toggle-active",
        "a[href='#/tenants']",
    ] {
        assert!(!b.exists(hidden).await, "{hidden} shown to a tenant admin");
    }
    // What it may change, it can: the prompt.
    b.fill(
        "#edit-tenant textarea[name=system_prompt]",
        "Tenant admins may edit this.",
    )
    .await;
    b.click("#edit-tenant button[type=submit]").await;
    b.wait_text(".notice", "Saved.").await;
    let tenant = app
        .get("/admin/tenants/ta1")
        .bearer(&world.superuser)
        .send()
        .await
        .json();
    assert_eq!(tenant["system_prompt"], "Tenant admins may edit this.");
    b.screenshot("console-tenant-admin").await;
    b.click("nav a[data-nav=users]").await;
    b.find("#create-user").await;
    let roles = list_of(
        b,
        "return [...document.querySelectorAll('#create-user select[name=role] option')].map(o => o.value)",
    )
    .await;
    assert_eq!(roles, ["member", "tenant_admin"]);
    let users = b.find("#users-table").await.text().await.expect("text");
    assert!(
        users.contains("u1@a.example.com") && !users.contains("oa@a.example.com"),
        "{users}"
    );
    // The tenant list is not for it: no creation form, only its own tenant.
    b.goto(&format!("{base}/console#/tenants")).await;
    b.wait_text("#tenants-table", "ta1").await;
    assert!(!b.exists("#create-tenant").await);
    let shown = list_of(
        b,
        "return [...document.querySelectorAll('#tenants-table tr[data-tenant]')].map(r => r.dataset.tenant)",
    )
    .await;
    assert_eq!(shown, ["ta1"]);
    b.log_out().await;

    // A member: no administration at all, and nothing in the navigation.
    b.log_in(base, "m@a.example.com").await;
    b.wait_text("#main", "No administration rights").await;
    assert!(nav_of(b).await.is_empty());
    assert!(!b.exists("#tenants-table").await);
}
