//! The foundation: probes, errors, CORS, request ids, migrations, start-up configuration,
//! readiness across a database outage, graceful shutdown.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::outage::Outage;
use crate::harness::{JWT_SECRET, SECRET_KEY, TestApp, TestDb};

#[tokio::test(flavor = "multi_thread")]
async fn health_and_ready_answer() {
    let app = TestApp::new().await;
    let health = app.get("/health").send().await;
    health.assert_status(200);
    assert_eq!(health.json(), json!({"status": "ok"}));
    app.get("/ready").send().await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_the_contract_shape() {
    let app = TestApp::new().await;
    app.get("/no/such/route")
        .send()
        .await
        .assert_error(404, "not_found");
    let wrong_method = app.delete("/health").send().await;
    assert_eq!(wrong_method.status.as_u16(), 405);
    assert!(wrong_method.json()["detail"].is_string());
    let admin = app.superuser_token().await;
    app.post("/admin/tenants")
        .bearer(&admin)
        .raw_body("application/json", "{\"id\": ")
        .send()
        .await
        .assert_error(422, "validation_error");
    let wrong_type = app
        .post("/admin/tenants")
        .bearer(&admin)
        .json(&json!({"id": 5, "name": "x"}))
        .send()
        .await;
    wrong_type.assert_error(422, "validation_error");
    assert_eq!(wrong_type.json()["errors"][0]["field"], "id");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_get_413() {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "2048")
        .build()
        .await;
    let admin = app.superuser_token().await;
    let big = json!({"id": "acme", "name": "x".repeat(4096)});
    app.post("/admin/tenants")
        .bearer(&admin)
        .json(&big)
        .send()
        .await
        .assert_error(413, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_kept_or_made() {
    let app = TestApp::new().await;
    let given = app
        .get("/health")
        .header("x-request-id", "req-123")
        .send()
        .await;
    assert_eq!(given.headers["x-request-id"], "req-123");
    let made = app.get("/health").send().await;
    assert!(made.headers["x-request-id"].to_str().expect("ascii").len() >= 32);
    let error = app
        .get("/missing")
        .header("x-request-id", "req-456")
        .send()
        .await;
    assert_eq!(error.headers["x-request-id"], "req-456");
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_listed_origins_only() {
    let app = TestApp::builder()
        .env(
            "BACKEND_CORS_ORIGINS",
            r#"["http://localhost:3000","https://app.example.com"]"#,
        )
        .build()
        .await;
    let preflight = app
        .request(axum::http::Method::OPTIONS, "/tenant")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await;
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = preflight.headers["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    let other = app
        .request(axum::http::Method::OPTIONS, "/tenant")
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    let simple = app
        .get("/health")
        .header("origin", "http://localhost:3000")
        .send()
        .await;
    assert_eq!(
        simple.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_is_3_1() {
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").send().await;
    doc.assert_status(200);
    assert!(
        doc.json()["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
}

// ---- the binary: migrations, configuration, shutdown ---------------------------------------

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantgate"));
    // Only what each test sets: never the developer's own .env or environment.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.current_dir(std::env::temp_dir());
    cmd
}

fn base_env(cmd: &mut Command, db: &TestDb) {
    cmd.env("DATABASE_URL", &db.url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("JWT_SECRET_KEY", JWT_SECRET);
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_twice_is_a_no_op() {
    let db = TestDb::new().await;
    // The template is migrated already: a fresh empty database shows the first run too.
    let empty = crate::harness::db::with_database(&db.url, &format!("{}_empty", db.name));
    let admin = crate::harness::db::server_url();
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let empty_name = format!("{}_empty", db.name);
    client
        .batch_execute(&format!("CREATE DATABASE {empty_name}"))
        .await
        .expect("create");
    let first = binary()
        .env("DATABASE_URL", &empty)
        .arg("migrate")
        .output()
        .expect("run");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first_out = String::from_utf8_lossy(&first.stdout);
    assert!(first_out.contains("applied"), "{first_out}");
    let second = binary()
        .env("DATABASE_URL", &empty)
        .arg("migrate")
        .output()
        .expect("run");
    assert!(second.status.success());
    let second_out = String::from_utf8_lossy(&second.stdout);
    assert!(
        second_out.contains("up to date") && !second_out.contains("applied"),
        "{second_out}"
    );
    client
        .batch_execute(&format!("DROP DATABASE {empty_name} WITH (FORCE)"))
        .await
        .expect("drop");
}

fn startup_error(vars: &[(&str, &str)], unset: &[&str]) -> (i32, String) {
    let mut cmd = binary();
    for (k, v) in [
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ),
        ("SECRET_KEY", SECRET_KEY),
        ("JWT_SECRET_KEY", JWT_SECRET),
        ("PORT", "0"),
    ] {
        if !unset.contains(&k) {
            cmd.env(k, v);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let output = cmd.arg("serve").output().expect("run");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_stops_start_up_naming_the_variable() {
    let (code, err) = startup_error(&[("SECRET_KEY", "abc")], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("SECRET_KEY must be 64 hex characters (32 bytes); got 3"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    let (code, err) = startup_error(&[], &["DATABASE_URL"]);
    assert_eq!(code, 1);
    assert!(err.contains("DATABASE_URL"), "{err}");

    let (code, err) = startup_error(&[("BACKEND_CORS_ORIGINS", "[\"http://ok.com\", 5]")], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("BACKEND_CORS_ORIGINS"), "{err}");

    let (code, err) = startup_error(&[("BACKEND_CORS_ORIGINS", "not-an-origin")], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("BACKEND_CORS_ORIGINS"), "{err}");
}

/// Starts `tenantgate serve` on a free port; returns the child and its address.
fn spawn_serve(db: &TestDb, extra: &[(&str, &str)]) -> (std::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut cmd = binary();
    base_env(&mut cmd, db);
    cmd.env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("LOG_FORMAT", "json");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    (child, format!("127.0.0.1:{port}"))
}

async fn wait_ready(addr: &str) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/ready")).send().await
            && r.status() == 200
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gateway never became ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_request_in_flight_finish() {
    let db = TestDb::new().await;
    let (mut child, addr) = spawn_serve(&db, &[]);
    let ready_after = wait_ready(&addr).await;
    println!("start-up to ready: {ready_after:?}");

    // A slow request: headers now, body later.
    let body = br#"{"email":"nobody@example.com","password":"Pw-SEKRIT-x"}"#;
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    stream.write_all(&body[..10]).expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[10..]).expect("finish the body");
    let mut response = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "in-flight request answered: {response}"
    );
    assert!(response.contains("invalid_credentials"));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "exit code after SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_ready_fails_while_requests_are_still_served() {
    let db = TestDb::new().await;
    let (mut child, addr) = spawn_serve(&db, &[("SHUTDOWN_DRAIN_SECONDS", "2")]);
    wait_ready(&addr).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let signalled = Instant::now();
    // During the drain, on new connections: readiness fails, everything else is answered.
    let deadline = signalled + Duration::from_secs(1);
    let mut ready_503 = false;
    while Instant::now() < deadline {
        let ready = client
            .get(format!("http://{addr}/ready"))
            .send()
            .await
            .expect("still accepting during the drain");
        if ready.status() == 503 {
            let body: serde_json::Value = ready.json().await.expect("json");
            assert_eq!(body["code"], "unavailable");
            ready_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready_503, "/ready answers 503 once draining");
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect("still accepting during the drain");
    assert_eq!(health.status(), 200);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "exit code after the drain");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "stopped before the drain was over: {:?}",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_follows_the_database() {
    let db = TestDb::new().await;
    let outage = Outage::start().await;
    let app = TestApp::builder()
        .database_url(&outage.url_for(&db.url))
        .env("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")
        .build()
        .await;
    app.get("/ready").send().await.assert_status(200);
    outage.cut();
    let down = app.get("/ready").send().await;
    down.assert_error(503, "unavailable");
    outage.restore();
    let started = Instant::now();
    loop {
        if app.get("/ready").send().await.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(db);
}
