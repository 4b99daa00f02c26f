//! What a newcomer to the command line tripped over: help that tells the truth, errors that
//! name flags, commands that say when nothing changed, and the commands a deployer missed
//! (`tenants update`, `users deactivate`, `users set-password`, `api-keys rotate`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{PASSWORD, TestApp, cli};

/// Polls `GET /tenant` with `key` until it answers `status` (at most 3 s).
async fn wait_for_key_status(app: &TestApp, key: &str, status: u16) {
    let started = Instant::now();
    loop {
        let response = app.get("/tenant").api_key(key).send().await;
        if response.status.as_u16() == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still {} after 3 s",
            response.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stderr_of(url: &str, args: &[&str], stdin: &str) -> String {
    let output = cli::run(url, args, stdin);
    assert_eq!(output.status.code(), Some(1), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_commands_tell_the_truth_and_name_flags() {
    let app = TestApp::new().await;
    let url = app.db.url.clone();
    let help = cli::ok(&url, &["tenants", "create", "--help"], "");
    assert!(
        help.contains("Default: pinecone with --pinecone-api-key-stdin, else")
            && !help.contains("builtin (default)"),
        "{help}"
    );

    let err = stderr_of(
        &url,
        &[
            "tenants",
            "create",
            "--id",
            "bad-host",
            "--name",
            "B",
            "--pinecone-index-host",
            "ftp://nope",
        ],
        "",
    );
    assert!(err.contains("--pinecone-index-host must be"), "{err}");
    assert!(!err.contains("pinecone_index_host"), "{err}");
    let err = stderr_of(
        &url,
        &[
            "tenants",
            "create",
            "--id",
            "keyless",
            "--name",
            "K",
            "--retriever",
            "pinecone",
        ],
        "",
    );
    assert!(
        err.contains("--pinecone-api-key-stdin is required"),
        "{err}"
    );

    // Created with a key: the retriever is pinecone, as the help says.
    let out = cli::ok(
        &url,
        &[
            "tenants",
            "create",
            "--id",
            "acme",
            "--name",
            "Acme",
            "--pinecone-api-key-stdin",
        ],
        "pcsk-test-acme-0123456789\n",
    );
    assert!(out.contains(r#""retriever": "pinecone""#), "{out}");

    // Update: only what is given changes; "" clears; errors name flags; unknown id says so.
    let out = cli::ok(
        &url,
        &[
            "tenants",
            "update",
            "acme",
            "--name",
            "Acme Inc",
            "--pinecone-index-name",
            "acme-index",
            "--system-prompt",
            "Be brief.",
        ],
        "",
    );
    assert!(out.contains("tenants: updated acme (version 2)"), "{out}");
    let tenant = tenantgate::services::tenants::get(&mut *app.conn().await, "acme")
        .await
        .expect("tenant");
    assert_eq!(tenant.name, "Acme Inc");
    assert_eq!(tenant.pinecone_index_name.as_deref(), Some("acme-index"));
    assert_eq!(tenant.system_prompt.as_deref(), Some("Be brief."));
    assert!(tenant.pinecone_api_key_enc.is_some(), "the key is kept");
    let out = cli::ok(
        &url,
        &["tenants", "update", "acme", "--pinecone-index-name", ""],
        "",
    );
    assert!(out.contains(r#""pinecone_index_name": null"#), "{out}");
    let out = cli::ok(&url, &["tenants", "update", "acme"], "");
    assert!(out.contains("tenants: acme unchanged"), "{out}");
    let err = stderr_of(
        &url,
        &[
            "tenants",
            "update",
            "acme",
            "--pinecone-index-host",
            "ftp://nope",
        ],
        "",
    );
    assert!(err.contains("--pinecone-index-host must be"), "{err}");
    let err = stderr_of(&url, &["tenants", "update", "nosuch", "--name", "x"], "");
    assert!(err.contains("no tenant with id nosuch"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_commands_say_what_changed() {
    let app = TestApp::new().await;
    let url = app.db.url.clone();
    let email = "ops@example.com";
    app.create_user(email, None, false).await;

    let out = cli::ok(&url, &["users", "promote", "--email", email], "");
    assert!(out.contains("is now an active superuser"), "{out}");
    let out = cli::ok(&url, &["users", "promote", "--email", email], "");
    assert!(
        out.contains("already an active superuser; nothing changed"),
        "{out}"
    );

    // A forgotten password, set again from the command line.
    let new_password = format!("{PASSWORD}-new");
    let out = cli::ok(
        &url,
        &[
            "users",
            "set-password",
            "--email",
            email,
            "--password-stdin",
        ],
        &format!("{new_password}\n"),
    );
    assert!(
        out.contains("new password set for ops@example.com"),
        "{out}"
    );
    let login = |password: String| {
        app.post("/auth/token")
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    login(new_password.clone()).await.assert_status(200);
    login(PASSWORD.to_owned())
        .await
        .assert_error(401, "invalid_credentials");
    let err = stderr_of(
        &url,
        &["users", "set-password", "--email", email, "--password", "x"],
        "",
    );
    assert!(err.contains("--password/--password-stdin"), "{err}");
    let err = stderr_of(
        &url,
        &[
            "users",
            "create",
            "--email",
            "not-an-email",
            "--password",
            "x",
        ],
        "",
    );
    assert!(err.contains("--email "), "{err}");
    assert!(!err.contains("email:"), "{err}");

    let out = cli::ok(&url, &["users", "deactivate", "--email", email], "");
    assert!(out.contains("is now inactive"), "{out}");
    let out = cli::ok(&url, &["users", "deactivate", "--email", email], "");
    assert!(out.contains("already inactive; nothing changed"), "{out}");
    assert_eq!(login(new_password).await.status.as_u16(), 401);
    let err = stderr_of(
        &url,
        &["users", "deactivate", "--email", "no@example.com"],
        "",
    );
    assert!(err.contains("no user with email no@example.com"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_rotate_prints_a_new_key_and_revokes_the_old() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let url = app.db.url.clone();
    let out = cli::ok(
        &url,
        &["api-keys", "create", "--tenant", "acme", "--name", "worker"],
        "",
    );
    let old_key = out.lines().last().expect("key").trim().to_owned();
    wait_for_key_status(&app, &old_key, 200).await;
    let listed = tenantgate::services::api_keys::list(&mut *app.conn().await, "acme")
        .await
        .expect("list");
    let old_id = listed[0].id.to_string();

    let out = cli::ok(&url, &["api-keys", "rotate", &old_id], "");
    let new_key = out.lines().last().expect("key").trim().to_owned();
    assert!(new_key.starts_with("tg_") && new_key != old_key, "{out}");
    assert_eq!(out.matches(&new_key).count(), 1, "printed once: {out}");
    assert!(out.contains(&format!("revoked {old_id}")), "{out}");
    wait_for_key_status(&app, &new_key, 200).await;
    wait_for_key_status(&app, &old_key, 401).await;
    let listed = tenantgate::services::api_keys::list(&mut *app.conn().await, "acme")
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.name == "worker"));

    let err = stderr_of(&url, &["api-keys", "rotate", &old_id], "");
    assert!(err.contains("revoked already"), "{err}");
    let err = stderr_of(
        &url,
        &["api-keys", "rotate", "00000000-0000-0000-0000-000000000000"],
        "",
    );
    assert!(err.contains("no API key with id"), "{err}");
}

/// `tenantgate <args>` run in `dir` (so `.env` there is read), with only the database's
/// configuration in the environment.
fn run_in(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run tenantgate")
}

/// A Python deployer's `.env` line, an unquoted JSON array, works; so does the quoted form;
/// a broken one says how to write it.
#[tokio::test(flavor = "multi_thread")]
async fn a_json_array_in_dotenv_works_quoted_or_not() {
    let app = TestApp::new().await;
    for (line, works) in [
        (
            r#"BACKEND_CORS_ORIGINS=["https://a.com","https://b.com"]"#,
            true,
        ),
        (
            r#"BACKEND_CORS_ORIGINS='["https://a.com","https://b.com"]'"#,
            true,
        ),
        ("BACKEND_CORS_ORIGINS=https://a.com,https://b.com", true),
        (r#"BACKEND_CORS_ORIGINS='["https://a.com",'"#, false),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(".env"),
            format!(
                "SECRET_KEY={}\nJWT_SECRET_KEY={}\n{line}\n",
                crate::harness::SECRET_KEY,
                crate::harness::JWT_SECRET
            ),
        )
        .expect("write .env");
        let output = run_in(dir.path(), &app.db.url, &["tenants", "list"]);
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), works, "{line}: {err}");
        if !works {
            assert!(
                err.contains("BACKEND_CORS_ORIGINS") && err.contains("quote the array"),
                "{err}"
            );
        }
    }
    // The unquoted form, as the gateway reads it, allows both origins.
    let env: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", app.db.url.as_str()),
        ("SECRET_KEY", crate::harness::SECRET_KEY),
        ("JWT_SECRET_KEY", crate::harness::JWT_SECRET),
        ("BACKEND_CORS_ORIGINS", "[https://a.com,https://b.com]"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = tenantgate::config::Config::from_env(&env).expect("config");
    assert_eq!(config.cors_origins.as_slice().len(), 2);
}

/// `tenantgate ingest` off a terminal names every skipped file and why; ids do not depend on
/// how the folder is written.
#[tokio::test(flavor = "multi_thread")]
async fn ingest_names_skipped_files_and_ids_follow_the_folder() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).expect("mkdir");
    std::fs::write(docs.join("guide.md"), "# Guide\n\nIgnite after ten.").expect("write");
    std::fs::write(docs.join("sub/notes.txt"), "Zeppelin notes.").expect("write");
    std::fs::write(docs.join("broken.txt"), [0xffu8, 0xfe, 0x00, 0x80]).expect("write");
    std::fs::write(docs.join("picture.png"), [0u8, 1, 2]).expect("write");
    let ingest = |cwd: &std::path::Path, args: &[&str]| {
        let mut all = vec!["ingest", "--tenant", "acme"];
        all.extend_from_slice(args);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tenantgate"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &app.db.url)
            .env("SECRET_KEY", crate::harness::SECRET_KEY)
            .env("JWT_SECRET_KEY", crate::harness::JWT_SECRET)
            .current_dir(cwd)
            .args(&all)
            .output()
            .expect("run ingest");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = ingest(dir.path(), &["docs"]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("skipped docs/broken.txt: not UTF-8 text"),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped docs/picture.png: not a .txt, .md, .html or .pdf file"),
        "{stderr}"
    );
    assert!(stderr.contains("1 file(s) were skipped"), "{stderr}");
    assert!(stdout.contains("stored 2 document(s)"), "{stdout}");
    std::fs::remove_file(docs.join("broken.txt")).expect("rm");

    // The same folder written three ways: the same two documents, not copies.
    let absolute = docs.to_string_lossy().into_owned();
    for (cwd, path) in [
        (dir.path().to_path_buf(), "./docs/"),
        (docs.clone(), "."),
        (std::env::temp_dir(), absolute.as_str()),
    ] {
        let (code, stdout, stderr) = ingest(&cwd, &[path]);
        assert_eq!(code, Some(0), "{path}: {stdout}\n{stderr}");
    }
    let token = app.tenant_token("acme");
    let ids = |list: serde_json::Value| -> Vec<String> {
        list["documents"]
            .as_array()
            .expect("documents")
            .iter()
            .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let list = app.get("/documents").bearer(&token).send().await.json();
    assert_eq!(ids(list), vec!["guide.md", "sub/notes.txt"]);

    let (code, _, stderr) = ingest(dir.path(), &["--id-prefix", "handbook/", "docs"]);
    assert_eq!(code, Some(0), "{stderr}");
    let list = app.get("/documents").bearer(&token).send().await.json();
    assert_eq!(
        ids(list),
        vec![
            "guide.md",
            "handbook/guide.md",
            "handbook/sub/notes.txt",
            "sub/notes.txt"
        ]
    );
}

/// `tenantgate migrate` on a server without the database makes it and says so.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_creates_a_missing_database() {
    let app = TestApp::new().await;
    let mut missing = url::Url::parse(&app.db.url).expect("db url");
    let name = format!("{}_fresh", missing.path().trim_start_matches('/'));
    missing.set_path(&format!("/{name}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_in(dir.path(), missing.as_str(), &["migrate"]);
    let out = String::from_utf8_lossy(&output.stdout);
    let drop_it = format!("DROP DATABASE IF EXISTS \"{name}\"");
    let (client, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let created = output.status.success() && out.contains(&format!("created database {name}"));
    let migrated = out.contains("new migration(s)");
    let _ = client.batch_execute(&drop_it).await;
    assert!(
        created && migrated,
        "stdout: {out}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Start-up says what is in effect; a refused CORS origin is logged at debug; `pretty` logs
/// written to a pipe carry no colour codes.
#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_its_settings_and_refused_origins_without_colour_in_a_pipe() {
    use std::io::BufRead;
    let app = TestApp::new().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .env("SECRET_KEY", crate::harness::SECRET_KEY)
        .env("JWT_SECRET_KEY", crate::harness::JWT_SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "pretty")
        .env("RUST_LOG", "tenantgate=debug,info")
        .env("BACKEND_CORS_ORIGINS", "https://app.example.com")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("TRUSTED_PROXY_HOPS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let address = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = received.recv_timeout(left).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("serve did not start: {seen:#?}")
        });
        seen.push(line.clone());
        let plain: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(rest) = plain.split("address=").nth(1)
            && plain.contains("tenantgate listening")
        {
            break rest.split(' ').next().unwrap_or_default().to_owned();
        }
    };
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("http://{address}/tenant"))
        .header("Origin", "https://evil.example.com")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("preflight");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.iter().any(|l| l.contains("https://evil.example.com")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = seen.join("\n");
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe: {log}");
    let settings = seen
        .iter()
        .find(|l| l.contains("settings in effect"))
        .unwrap_or_else(|| panic!("no settings line: {log}"));
    assert!(
        settings.contains("https://app.example.com")
            && settings.contains("http://127.0.0.1:9/v1")
            && settings.contains("llm_configured=false")
            && settings.contains("trusted_proxy_hops=1"),
        "{settings}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("https://evil.example.com") && l.contains("BACKEND_CORS_ORIGINS")),
        "the refused origin is logged: {log}"
    );
}
