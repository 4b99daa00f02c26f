//! Behind PgBouncer in transaction pooling mode (1.18: no prepared-statement tracking): the
//! gateway's queries work when `DATABASE_POOL_MODE=transaction`, and `LISTEN` goes over
//! `DATABASE_LISTEN_URL`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use tenantgate::config::PoolMode;

use crate::harness::TestApp;
use crate::harness::api_key_for;
use crate::harness::pgbouncer::PgBouncer;

/// Ends every server connection PgBouncer holds to `database`, as a failover or
/// `server_lifetime` would: the next transaction runs on a fresh one.
async fn end_server_connections(direct_url: &str, database: &str) {
    let mut conn = tenantgate::store::db::establish(direct_url.to_owned())
        .await
        .expect("direct connection");
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind::<diesel::sql_types::Text, _>(database)
    .execute(&mut conn)
    .await
    .expect("terminate");
    // PgBouncer notices the closed sockets of idle server connections.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn count_tenants(conn: &mut diesel_async::AsyncPgConnection) -> QueryResult<i64> {
    tenantgate::store::schema::tenants::table
        .count()
        .get_result(conn)
        .await
}

/// Why the rewrite exists: a statement diesel-async cached on one server connection is gone
/// on the next one, and the same connection in transaction mode keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn cached_statements_fail_on_a_new_server_connection_unless_unnamed() {
    let app = TestApp::new().await;
    let bouncer = PgBouncer::start(1).await;
    let pooled = bouncer.url_for(&app.db.url);

    let mut named = tenantgate::store::db::establish_with(pooled.clone(), PoolMode::Session)
        .await
        .expect("connect");
    let mut unnamed = tenantgate::store::db::establish_with(pooled.clone(), PoolMode::Transaction)
        .await
        .expect("connect");
    assert_eq!(count_tenants(&mut named).await.expect("first"), 0);
    assert_eq!(count_tenants(&mut unnamed).await.expect("first"), 0);

    end_server_connections(&app.db.url, &app.db.name).await;
    let error = count_tenants(&mut named)
        .await
        .expect_err("the cached statement is not on the new server connection");
    assert!(error.to_string().contains("does not exist"), "{error}");
    for _ in 0..3 {
        assert_eq!(count_tenants(&mut unnamed).await.expect("again"), 0);
        end_server_connections(&app.db.url, &app.db.name).await;
    }
}

async fn gateway_behind(bouncer: &PgBouncer, db_url: &str, listen_direct: bool) -> TestApp {
    let mut builder = TestApp::builder()
        .database_url(&bouncer.url_for(db_url))
        .env("DATABASE_POOL_MODE", "transaction")
        .env("DATABASE_POOL_SIZE", "8");
    if listen_direct {
        builder = builder.env("DATABASE_LISTEN_URL", db_url);
    }
    builder.build().await
}

/// The tenant path, admin writes, documents under row-level security and logins, many at once
/// over two server connections that are ended half-way: every answer is the right one.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_works_through_transaction_pooling() {
    let seed = TestApp::new().await;
    let bouncer = PgBouncer::start(2).await;
    let app = gateway_behind(&bouncer, &seed.db.url, true).await;

    let admin = app.superuser_token().await;
    for id in ["acme", "globex"] {
        app.create_tenant(&admin, id, json!({"system_prompt": format!("{id} prompt")}))
            .await;
    }
    let key = api_key_for(&app, "acme").await;
    app.post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"id": "d1", "title": "Refunds", "text": "Refunds take five days."}]}))
        .send()
        .await
        .assert_status(201);

    for round in 0..2 {
        let mut calls = Vec::new();
        for i in 0..40 {
            let app = &app;
            let (key, admin) = (key.clone(), admin.clone());
            calls.push(async move {
                match i % 4 {
                    0 => {
                        let r = app.get("/tenant").api_key(&key).send().await;
                        r.assert_status(200);
                        assert_eq!(r.json()["system_prompt"], "acme prompt");
                    }
                    1 => {
                        let r = app
                            .post("/search")
                            .api_key(&key)
                            .json(&json!({"query": "refunds"}))
                            .send()
                            .await;
                        r.assert_status(200);
                        assert_eq!(r.json()["matches"][0]["id"], "d1", "{}", r.text());
                    }
                    2 => {
                        let r = app.get("/admin/tenants").bearer(&admin).send().await;
                        r.assert_status(200);
                        assert_eq!(r.json().as_array().map(Vec::len), Some(2));
                    }
                    _ => {
                        app.get("/auth/me")
                            .bearer(&admin)
                            .send()
                            .await
                            .assert_status(200);
                    }
                }
            });
        }
        futures::future::join_all(calls).await;
        if round == 0 {
            end_server_connections(&seed.db.url, &seed.db.name).await;
            app.state.tenants.clear();
        }
    }
    // Another tenant's documents stay invisible (row-level security is per transaction).
    let other = api_key_for(&app, "globex").await;
    let r = app
        .post("/search")
        .api_key(&other)
        .json(&json!({"query": "refunds"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["matches"], json!([]));
}

/// Changes made through the pooler reach another replica whose listener is direct.
#[tokio::test(flavor = "multi_thread")]
async fn deactivation_reaches_a_replica_behind_pgbouncer_within_a_second() {
    let seed = TestApp::new().await;
    let bouncer = PgBouncer::start(2).await;
    let one = gateway_behind(&bouncer, &seed.db.url, true).await;
    let two = gateway_behind(&bouncer, &seed.db.url, true).await;
    let admin = one.superuser_token().await;
    one.create_tenant(&admin, "acme", json!({})).await;
    let token = one.tenant_token("acme");
    two.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    tokio::time::sleep(Duration::from_millis(200)).await;

    one.delete("/admin/tenants/acme")
        .bearer(&admin)
        .send()
        .await
        .assert_status(200);
    let started = Instant::now();
    while two
        .get("/tenant")
        .bearer(&token)
        .send()
        .await
        .status
        .as_u16()
        != 403
    {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still served after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The CLI's one-off connections and `migrate` (over the direct URL) work behind it too.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_works_through_transaction_pooling() {
    let seed = TestApp::new().await;
    let bouncer = PgBouncer::start(1).await;
    let pooled = bouncer.url_for(&seed.db.url);
    let env = [
        ("DATABASE_POOL_MODE", "transaction"),
        ("DATABASE_LISTEN_URL", seed.db.url.as_str()),
    ];
    let out = crate::harness::cli::run_with_env(&pooled, &env, &["migrate"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..2 {
        let out = crate::harness::cli::run_with_env(&pooled, &env, &["tenants", "list"], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `serve` with its listener behind the pooler says so at start-up, naming the fix.
#[tokio::test(flavor = "multi_thread")]
async fn serve_warns_when_listen_goes_through_the_pooler() {
    use std::io::{BufRead, BufReader};
    let seed = TestApp::new().await;
    let bouncer = PgBouncer::start(1).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
        .to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .env_clear()
        .env("DATABASE_URL", bouncer.url_for(&seed.db.url))
        .env("SECRET_KEY", crate::harness::SECRET_KEY)
        .env("JWT_SECRET_KEY", crate::harness::JWT_SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", &port)
        .env("LOG_FORMAT", "json")
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("set DATABASE_LISTEN_URL") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no warning; output: {seen:#?}");
}
