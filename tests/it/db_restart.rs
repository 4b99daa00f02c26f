//! A database restart under load, on a Postgres cluster of this test's own (initdb'd into a
//! temporary directory, on a free port; the shared server on 5432 is never touched): cached
//! tenants keep answering while it is down, uncached ones fail fast with 503 `unavailable`, and
//! everything recovers by itself once it is back, `LISTEN` included (an admin change made on
//! another replica reaches this one).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api_key_for;

struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// Runs a Postgres tool, as the `postgres` user when we are root (initdb refuses root).
fn pg_tool(bin: &std::path::Path, tool: &str, args: &[&str]) -> std::process::Output {
    let program = bin.join(tool);
    let root = std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    command.args(args).output().expect("run a Postgres tool")
}

impl Cluster {
    fn bin_dir() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    fn create() -> Option<Self> {
        let bin = Self::bin_dir()?;
        let dir =
            std::env::temp_dir().join(format!("tenantgate-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .output();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let data = dir.to_string_lossy().into_owned();
        let out = pg_tool(
            &bin,
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { bin, dir, port };
        cluster.start();
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let data = self.dir.to_string_lossy().into_owned();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port, data
        );
        let log = format!("{data}/server.log");
        let out = pg_tool(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    fn stop(&self) {
        let data = self.dir.to_string_lossy().into_owned();
        let _ = pg_tool(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn status_of(app: &TestApp, key: &str) -> (u16, String) {
    let response = app.get("/tenant").api_key(key).send().await;
    let code = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (response.status.as_u16(), code)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_under_load_is_survived_and_recovered_from() {
    let Some(cluster) = Cluster::create() else {
        eprintln!("db_restart: no initdb under /usr/lib/postgresql; skipped");
        return;
    };
    tenantgate::store::db::run_migrations(&cluster.url())
        .await
        .expect("migrate the cluster");
    let replica = || {
        TestApp::builder()
            .database_url(&cluster.url())
            .env("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")
            .build()
    };
    let app = Arc::new(replica().await);
    app.seed_tenant("warm", None).await;
    app.seed_tenant("cold", None).await;
    let warm = api_key_for(&app, "warm").await;
    let cold = api_key_for(&app, "cold").await;
    assert_eq!(status_of(&app, &warm).await.0, 200, "warm is cached now");

    // Load on the warm tenant throughout: every answer must be 200.
    let running = Arc::new(AtomicBool::new(true));
    let (ok, other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (app, warm, running, ok, other) = (
            app.clone(),
            warm.clone(),
            running.clone(),
            ok.clone(),
            other.clone(),
        );
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                match status_of(&app, &warm).await.0 {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => other.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop_started = Instant::now();
    tokio::task::block_in_place(|| cluster.stop());
    let stopped_in = stop_started.elapsed();
    // Down: the uncached tenant fails fast with the contract's 503, every time.
    for _ in 0..3 {
        let started = Instant::now();
        let (status, code) = status_of(&app, &cold).await;
        let took = started.elapsed();
        assert_eq!((status, code.as_str()), (503, "unavailable"));
        assert!(took < Duration::from_secs(3), "503 after {took:?}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let down_ok = ok.load(Ordering::Relaxed);

    let restart_started = Instant::now();
    tokio::task::block_in_place(|| cluster.start());
    // Back: the uncached tenant answers again without any restart of the gateway.
    let recovered = loop {
        if status_of(&app, &cold).await.0 == 200 {
            break restart_started.elapsed();
        }
        assert!(
            restart_started.elapsed() < Duration::from_secs(15),
            "cold never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    running.store(false, Ordering::Relaxed);
    let _ = load.await;
    let (ok, other) = (ok.load(Ordering::Relaxed), other.load(Ordering::Relaxed));
    eprintln!(
        "db_restart: stop took {stopped_in:?}; warm tenant {ok} × 200 and {other} × other \
         ({down_ok} answered by the time the database had been down 1 s); cold answered again \
         {recovered:?} after the restart began"
    );
    assert_eq!(
        other, 0,
        "a cached tenant failed while the database was down"
    );

    // LISTEN is back too: another replica deactivates `warm`; this one refuses it soon after.
    let other_replica = replica().await;
    let admin = other_replica.superuser_token().await;
    other_replica
        .patch("/admin/tenants/warm")
        .bearer(&admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .assert_status(200);
    let changed = Instant::now();
    loop {
        let (status, code) = status_of(&app, &warm).await;
        if (status, code.as_str()) == (403, "tenant_unavailable") {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "the change never reached the replica that lost its LISTEN connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "db_restart: the other replica's change arrived in {:?}",
        changed.elapsed()
    );
}
