//! Postgres: the connection pool, TLS, embedded migrations and the readiness probe.
//!
//! Connections go through diesel-async over tokio-postgres (no libpq). A URL with
//! `sslmode=require` is encrypted with rustls without certificate checks, as libpq does for
//! `require` (managed Postgres such as Railway's uses certificates no public root signs);
//! `verify-ca`/`verify-full` check the certificate against the Mozilla roots.

use std::sync::Arc;
use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use tokio_postgres::config::SslMode;

use crate::config::{DatabaseConfig, PoolMode};

pub mod unnamed_statements;

pub type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;
pub type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary but fixed: every replica takes this advisory lock while migrating, so two
/// replicas starting together do not apply the same migration twice.
const MIGRATION_LOCK_ID: i64 = 0x7465_6e61_6e74_6777; // "tenantgw"

pub fn build_pool(config: &DatabaseConfig) -> Result<Pool, String> {
    let mut manager_config = ManagerConfig::default();
    let mode = config.pool_mode;
    manager_config.custom_setup = Box::new(move |url: &str| establish_with(url.to_owned(), mode));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        config.url.expose_secret(),
        manager_config,
    );
    diesel_async::pooled_connection::deadpool::Pool::builder(manager)
        .max_size(config.pool_size)
        .wait_timeout(Some(config.connect_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| format!("could not build the database pool: {e}"))
}

/// Opens one direct connection (session state kept), with TLS when the URL asks for it.
pub fn establish(url: String) -> BoxFuture<'static, Result<AsyncPgConnection, ConnectionError>> {
    establish_with(url, PoolMode::Session)
}

/// Opens one connection for a server behind `mode`: through a transaction pooler the wire
/// protocol is rewritten so that no named prepared statement is used.
pub fn establish_with(
    url: String,
    mode: PoolMode,
) -> BoxFuture<'static, Result<AsyncPgConnection, ConnectionError>> {
    if mode == PoolMode::Transaction {
        return establish_unnamed(url);
    }
    async move {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string()))?;
        let tls = tls_for(&config);
        match tls {
            Some(client_config) => {
                let connector = tokio_postgres_rustls::MakeRustlsConnect::new(client_config);
                let (client, connection) = config
                    .connect(connector)
                    .await
                    .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            None => AsyncPgConnection::establish(&url).await,
        }
    }
    .boxed()
}

/// The TLS a URL's `sslmode` asks for: none, encryption only (`require`, as libpq), or a
/// certificate checked against the Mozilla roots (`verify-ca`, `verify-full`).
fn tls_for(config: &tokio_postgres::Config) -> Option<rustls::ClientConfig> {
    match config.get_ssl_mode() {
        SslMode::Require => Some(tls::insecure_config()),
        mode if format!("{mode:?}").starts_with("Verify") => Some(tls::verified_config()),
        _ => None,
    }
}

/// Runs the connection task tokio-postgres hands back until the connection closes.
fn drive(
    connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
}

/// A connection whose statements are all unnamed (`unnamed_statements`). tokio-postgres is
/// given a socket we opened, wrapped (inside TLS when the URL asks for it), and diesel-async
/// the client; the connection task is ours to drive.
fn establish_unnamed(
    url: String,
) -> BoxFuture<'static, Result<AsyncPgConnection, ConnectionError>> {
    use unnamed_statements::UnnamedStatements;
    let bad = |e: String| ConnectionError::BadConnection(e);
    async move {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => {
                return Err(bad(
                    "DATABASE_POOL_MODE=transaction needs a TCP host in the URL".to_owned(),
                ));
            }
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let socket = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| bad(format!("timed out connecting to {host}:{port}")))?
            .map_err(|e| bad(format!("could not connect to {host}:{port}: {e}")))?;
        let _ = socket.set_nodelay(true);
        let tls = tls_for(&config);
        let client = match tls {
            Some(client_config) => {
                let mut make = tokio_postgres_rustls::MakeRustlsConnect::new(client_config);
                let connector =
                    tokio_postgres::tls::MakeTlsConnect::<tokio::net::TcpStream>::make_tls_connect(
                        &mut make, &host,
                    )
                    .map_err(|e| bad(e.to_string()))?;
                let (client, connection) = config
                    .connect_raw(socket, unnamed_tls::Wrap(connector))
                    .await
                    .map_err(|e| bad(e.to_string()))?;
                drive(connection);
                client
            }
            None => {
                let (client, connection) = config
                    .connect_raw(UnnamedStatements::new(socket), tokio_postgres::NoTls)
                    .await
                    .map_err(|e| bad(e.to_string()))?;
                drive(connection);
                client
            }
        };
        AsyncPgConnection::try_from(client).await
    }
    .boxed()
}

mod unnamed_tls {
    //! A TLS connector whose stream carries the unnamed-statement rewrite inside the TLS layer.
    use std::future::Future;
    use std::pin::Pin;

    use futures::FutureExt;
    use tokio_postgres::tls::TlsConnect;

    use super::unnamed_statements::UnnamedStatements;

    pub struct Wrap<T>(pub T);

    impl<S, T> TlsConnect<S> for Wrap<T>
    where
        T: TlsConnect<S> + Send + 'static,
        T::Future: Send + 'static,
        S: Send + 'static,
    {
        type Stream = UnnamedStatements<T::Stream>;
        type Error = T::Error;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, T::Error>> + Send>>;

        fn connect(self, stream: S) -> Self::Future {
            self.0
                .connect(stream)
                .map(|r| r.map(UnnamedStatements::new))
                .boxed()
        }
    }
}

/// Applies pending migrations under an advisory lock; returns the versions applied.
/// Must run on a multi-thread runtime (the harness uses `block_in_place`).
pub async fn run_migrations(url: &str) -> Result<Vec<String>, String> {
    let mut conn = establish(url.to_owned())
        .await
        .map_err(|e| format!("could not connect to the database: {e}"))?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("could not take the migration lock: {e}"))?;
    let (conn, result) = tokio::task::spawn_blocking(move || {
        let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
        let result = harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| format!("migration failed: {e}"));
        (harness.into_inner(), result)
    })
    .await
    .map_err(|e| format!("migration task failed: {e}"))?;
    let mut conn = conn;
    let result = match result {
        Ok(applied) => rekey_non_ascii_emails(&mut conn).await.map(|()| applied),
        Err(e) => Err(e),
    };
    let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
        .execute(&mut conn)
        .await;
    result
}

/// Recomputes `users.email_key` with the gateway's own normalisation for emails that are not
/// plain ASCII: the migration that added the column could only use Postgres `lower()`, which
/// differs from Rust's on some letters. ASCII rows are exact already; this touches only the rest.
async fn rekey_non_ascii_emails(conn: &mut AsyncPgConnection) -> Result<(), String> {
    use crate::store::schema::users;
    use diesel::{ExpressionMethods, QueryDsl};
    let rows: Vec<(uuid::Uuid, String, String)> = users::table
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "octet_length(email) <> char_length(email)",
        ))
        .select((users::id, users::email, users::email_key))
        .load(conn)
        .await
        .map_err(|e| format!("could not read user emails: {e}"))?;
    for (id, email, stored) in rows {
        let key = crate::domain::email_key(&email);
        if key != stored {
            diesel::update(users::table.find(id))
                .set(users::email_key.eq(key))
                .execute(conn)
                .await
                .map_err(|e| format!("could not normalise the email of user {id}: {e}"))?;
        }
    }
    Ok(())
}

/// Creates the database `url` names when it does not exist, through the server's `postgres`
/// maintenance database; `Some(name)` when it made it. For `migrate` and `demo` on a fresh server.
pub async fn create_database_if_missing(url: &str) -> Result<Option<String>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad database URL: {e}"))?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || name == "postgres" {
        return Ok(None);
    }
    let mut maintenance = parsed.clone();
    maintenance.set_path("/postgres");
    let target = describe_url(url);
    let (client, connection) = tokio_postgres::connect(maintenance.as_str(), tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            format!(
                "could not connect to Postgres at {target} ({e}); start a local Postgres \
                 or set DATABASE_URL"
            )
        })?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| format!("could not look for database {name}: {e}"))?
        .is_some();
    let created = if exists {
        None
    } else {
        let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match client.batch_execute(&statement).await {
            Ok(()) => Some(name),
            // Another process made it at the same moment.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {
                None
            }
            Err(e) => {
                driver.abort();
                return Err(format!(
                    "database {name} does not exist and could not be created ({e}); create it \
                     with `createdb {name}` (or `CREATE DATABASE \"{name}\";` in psql) as a \
                     user allowed to"
                ));
            }
        }
    };
    driver.abort();
    Ok(created)
}

/// Whether the database answers within `timeout`: the `/ready` probe.
pub async fn ping(pool: &Pool, timeout: Duration) -> bool {
    let probe = async {
        let mut conn = pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(_)))
}

/// Only the database part of a URL, for messages: never the password.
pub fn describe_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or("?"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        Err(_) => "the configured database".to_owned(),
    }
}

mod tls {
    use super::Arc;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    pub fn verified_config() -> ClientConfig {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// `sslmode=require`: encrypted, but the certificate is not checked (libpq's meaning).
    pub fn insecure_config() -> ClientConfig {
        let algorithms = provider().signature_verification_algorithms;
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(algorithms)))
            .with_no_client_auth()
    }

    #[derive(Debug)]
    struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }
}
