//! A database per test, cloned from a migrated template.
//!
//! The template is named after a hash of `migrations/`, made once (under an advisory lock, so
//! parallel test processes agree) and reused until the migrations change. Each test's database
//! is `CREATE DATABASE … TEMPLATE …` (milliseconds) and is dropped when the `TestDb` goes.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use tokio_postgres::NoTls;

/// The server tests talk to: `DATABASE_URL`, or the local default.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

fn migrations_hash() -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut entries: Vec<_> = walk(&dir);
    entries.sort();
    for path in entries {
        path.hash(&mut hasher);
        std::fs::read(&path)
            .expect("read migration")
            .hash(&mut hasher);
    }
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .expect("connect to the test Postgres server (is it running? see README)");
    tokio::spawn(connection);
    client
}

fn template_name() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // Made on a runtime of its own so any test's runtime can wait for it.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(make_template())
        })
        .join()
        .expect("template thread")
    })
}

async fn make_template() -> String {
    let name = format!("tenantgate_tpl_{}", migrations_hash());
    let client = admin_client().await;
    client
        .execute("SELECT pg_advisory_lock(7411)", &[])
        .await
        .expect("lock");
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("query")
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        for statement in [
            format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
            format!("CREATE DATABASE {building}"),
        ] {
            client
                .batch_execute(&statement)
                .await
                .expect("create template");
        }
        tenantgate::store::db::run_migrations(&with_database(&server_url(), &building))
            .await
            .expect("migrate template");
        client
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
            .await
            .expect("publish template");
    }
    client
        .execute("SELECT pg_advisory_unlock(7411)", &[])
        .await
        .expect("unlock");
    name
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let template = template_name();
        let name = format!("tenantgate_test_{}", uuid::Uuid::new_v4().simple());
        let client = admin_client().await;
        let mut attempts = 0;
        loop {
            match client
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .await
            {
                Ok(()) => break,
                // Two copies of one template at the same instant can collide; try again.
                Err(e) if attempts < 20 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempts)).await;
                }
                Err(e) => panic!("create test database: {e}"),
            }
        }
        let url = with_database(&server_url(), &name);
        Self { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&server_url(), NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}
