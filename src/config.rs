//! Configuration, read once from the environment (and `.env`, through dotenvy) at start-up.
//!
//! Every variable the gateway reads is named here, next to its default:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | required | Postgres URL; `sslmode=require` connects over TLS |
//! | `DATABASE_POOL_SIZE` | 10 | connections in the pool |
//! | `DATABASE_CONNECT_TIMEOUT_SECONDS` | 5 | wait for a new connection / a free one |
//! | `DATABASE_LISTEN_URL` | `DATABASE_URL` | direct connection for `LISTEN` and migrations (not through PgBouncer) |
//! | `DATABASE_POOL_MODE` | session | `transaction` when `DATABASE_URL` goes through PgBouncer in transaction pooling |
//! | `DATABASE_TENANT_MAX_CONNECTIONS` | half the pool | pooled connections one tenant's documents may hold at once |
//! | `RETRIEVAL_STATEMENT_TIMEOUT_MS` | 5000 | `statement_timeout` of each retrieval query |
//! | `SECRET_KEY` | required | 64 hex characters: the AES-256-GCM key for tenant secrets |
//! | `SECRET_KEY_PREVIOUS` | none | comma-separated older keys, still accepted for decryption |
//! | `JWT_SECRET_KEY` | required for HS* | HMAC secret, used as the raw string's bytes |
//! | `ALGORITHM` | HS256 | HS256/HS384/HS512, RS256, ES256, or a comma list; only these are accepted |
//! | `JWT_PUBLIC_KEY` / `JWKS_URL` | none | verification key for RS256/ES256 |
//! | `JWT_ISSUER` / `JWT_AUDIENCE` | none | required `iss` / `aud` when set |
//! | `JWT_LEEWAY_SECONDS` | 30 | clock skew allowed on `exp` / `nbf` |
//! | `TENANT_CLAIM` | tenant_id | claim (or dotted path) holding the tenant id |
//! | `ACCESS_TOKEN_EXPIRE_MINUTES` | 30 | lifetime of tokens from `/auth/token` |
//! | `OPENAI_API_KEY` / `OPENAI_BASE_URL` | none / `https://api.openai.com/v1` | LLM upstream |
//! | `CHAT_MODEL` / `EMBEDDING_MODEL` / `ALLOWED_MODELS` | gpt-4o-mini / text-embedding-3-small / any | models |
//! | `UPSTREAM_TIMEOUT_SECONDS` | 60 | per call to the LLM or vector store |
//! | `PINECONE_API_URL` | `https://api.pinecone.io` | Pinecone control plane |
//! | `PINECONE_INDEX_NAME` | none | index of Pinecone tenants that name neither index nor host |
//! | `BACKEND_CORS_ORIGINS` | none | comma list or JSON array of allowed origins |
//! | `HOST` / `PORT` | 0.0.0.0 / 8000 | listen address |
//! | `LOG_LEVEL` / `RUST_LOG` / `LOG_FORMAT` | info / - / pretty | logging |
//! | `TENANT_CACHE_TTL_SECONDS` / `TENANT_CACHE_CAPACITY` | 60 / 10000 | tenant cache |
//! | `REQUEST_TIMEOUT_SECONDS` | 90 | whole-request timeout (streams excepted); above the upstream timeout |
//! | `SHUTDOWN_DRAIN_SECONDS` | 0 | after SIGTERM, `/ready` answers 503 and requests are still served this long (0–600) |
//! | `MAX_BODY_BYTES` | 2097152 | request body limit |
//! | `HEADER_READ_TIMEOUT_SECONDS` | 10 | a request's headers must be complete this long after the server starts waiting for them (from accept, or from the previous response on a kept-alive connection: it is also the idle keep-alive timeout); then the connection is closed |
//! | `BODY_READ_TIMEOUT_SECONDS` | 30 | a request's body must be complete this long after the handler starts reading it; else 408 and the connection is closed |
//! | `DEFAULT_SYSTEM_PROMPT` | built in | prompt for tenants without one |
//! | `LOGIN_MAX_FAILURES` / `LOGIN_FAILURE_WINDOW_SECONDS` | 5 / 300 | failed logins per (email, address) pair and window |
//! | `LOGIN_MAX_FAILURES_PER_ADDRESS` | 20 × `LOGIN_MAX_FAILURES` | failed logins per client address (any email) |
//! | `LOGIN_MAX_FAILURES_PER_EMAIL` | 10 × `LOGIN_MAX_FAILURES` | failed logins per email (any address) |
//! | `TRUSTED_PROXY_HOPS` | 0 | proxies appending to `X-Forwarded-For`; 0 ignores it (client = TCP peer) |
//! | `PASSWORD_HASH_CONCURRENCY` | CPU count | password checks running at once |
//! | `PASSWORD_HASH_QUEUE` | 8 × concurrency | password checks waiting; more answer 429 |
//! | `CHAT_HISTORY_MESSAGES` | 20 | stored messages of a conversation sent with each `/chat` turn |
//! | `CONVERSATION_RETENTION_DAYS` | keep | conversations idle longer are deleted by a daily task |
//! | `TENANT_REQUESTS_PER_MINUTE` | unlimited | request limit of tenants without their own |
//! | `REDIS_URL` | none | shared request limits for all replicas; unset: each counts alone |
//! | `REDIS_KEY_PREFIX` | `tenantgate:` | prefix of every Redis key the gateway writes |
//! | `REDIS_TIMEOUT_MS` | 100 | per Redis call; slower counts as down (local fallback) |
//! | `USAGE_FLUSH_SECONDS` | 2 | how often buffered usage counts are written |
//! | `CONSOLE_ENABLED` | true | serve the web console at `/console` (false: 404) |

use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::CorsOrigins;
use crate::secrets::{KeyRing, SecretKey};

/// A configuration problem: the variable's name and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self {
            name,
            problem: problem.into(),
        }
    }
}

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant. Answer from the provided context when it is relevant, and say so when you do not know.";

#[derive(Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    /// `DATABASE_LISTEN_URL`, when set: a direct connection (session state, `LISTEN`).
    pub listen_url: Option<SecretString>,
    pub pool_mode: PoolMode,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    /// `statement_timeout` of each retrieval query (full-text search, document lists).
    pub retrieval_statement_timeout: Duration,
    /// The most pooled connections one tenant's documents may hold at once.
    pub tenant_max_connections: usize,
}

/// What sits between the gateway and Postgres on `DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// Postgres itself, or a pooler that keeps a server connection per client connection.
    Session,
    /// A transaction pooler (PgBouncer `pool_mode = transaction`): no named prepared
    /// statements survive a `Sync`, so none are used (`store::db::unnamed_statements`).
    Transaction,
}

fn shutdown_drain(env: &dyn Env) -> Result<Duration, ConfigError> {
    const NAME: &str = "SHUTDOWN_DRAIN_SECONDS";
    let secs: u64 = parse_or(env, NAME, 0, "a whole number of seconds")?;
    if secs > 600 {
        return Err(ConfigError::new(NAME, "must be at most 600"));
    }
    Ok(Duration::from_secs(secs))
}

impl DatabaseConfig {
    /// The connection for `LISTEN` and migrations: `DATABASE_LISTEN_URL`, else `DATABASE_URL`.
    pub fn direct_url(&self) -> &SecretString {
        self.listen_url.as_ref().unwrap_or(&self.url)
    }

    /// The mode of `direct_url`: a listen URL is direct by definition.
    pub fn direct_mode(&self) -> PoolMode {
        if self.listen_url.is_some() {
            PoolMode::Session
        } else {
            self.pool_mode
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Clone)]
pub enum JwtKeySource {
    /// HS256/384/512 with `JWT_SECRET_KEY` (raw bytes, as the Python original).
    Hmac(SecretString),
    /// RS256/ES256 with `JWT_PUBLIC_KEY`, parsed once, here (`public_key`).
    PublicKey(jsonwebtoken::DecodingKey),
    /// RS256/ES256 with keys fetched from a JWKS endpoint.
    Jwks(String),
}

#[derive(Clone)]
pub struct JwtConfig {
    /// The first of `ALGORITHM`: what issued tokens are signed with.
    pub algorithm: jsonwebtoken::Algorithm,
    /// Every algorithm of `ALGORITHM` (a comma list): the only ones a token may use.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub key: JwtKeySource,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_seconds: u64,
    /// `TENANT_CLAIM` split on dots: `app_metadata.tenant_id` → `["app_metadata", "tenant_id"]`.
    pub tenant_claim: Vec<String>,
    pub access_token_ttl: Duration,
}

#[derive(Clone)]
pub struct LlmConfig {
    pub api_key: Option<SecretString>,
    pub base_url: String,
    pub chat_model: String,
    pub embedding_model: String,
    pub allowed_models: Vec<String>,
    /// `PINECONE_API_URL`: Pinecone's control plane, where the index host of a tenant with an index
    /// name but no host is looked up (`GET /indexes/{name}`). Not a data plane.
    pub pinecone_control_plane_url: String,
    /// `PINECONE_INDEX_NAME`: the index of Pinecone tenants that name neither an index nor a
    /// host (the Python original kept it in its settings, not per tenant).
    pub pinecone_index_name: Option<String>,
    pub upstream_timeout: Duration,
}

/// Request limits (DESIGN.md §9): the default per-tenant limit and the shared Redis counter.
#[derive(Clone)]
pub struct LimitsConfig {
    pub tenant_requests_per_minute: Option<u32>,
    pub redis_url: Option<SecretString>,
    pub redis_key_prefix: String,
    pub redis_timeout: Duration,
}

impl LimitsConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let tenant_requests_per_minute = match get(env, "TENANT_REQUESTS_PER_MINUTE") {
            None => None,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(ConfigError::new(
                        "TENANT_REQUESTS_PER_MINUTE",
                        format!("must be a whole number greater than 0; got {raw:?}"),
                    ));
                }
            },
        };
        let redis_url = match get(env, "REDIS_URL") {
            None => None,
            Some(raw) => {
                if redis::Client::open(raw.as_str()).is_err() {
                    return Err(ConfigError::new(
                        "REDIS_URL",
                        "must be a redis:// or rediss:// URL",
                    ));
                }
                Some(SecretString::from(raw))
            }
        };
        let timeout_ms: u64 = parse_or(env, "REDIS_TIMEOUT_MS", 100, "a number of milliseconds")?;
        if timeout_ms == 0 {
            return Err(ConfigError::new(
                "REDIS_TIMEOUT_MS",
                "must be greater than 0",
            ));
        }
        Ok(Self {
            tenant_requests_per_minute,
            redis_url,
            redis_key_prefix: get(env, "REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "tenantgate:".to_owned()),
            redis_timeout: Duration::from_millis(timeout_ms),
        })
    }
}

#[derive(Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub keys: KeyRing,
    pub jwt: JwtConfig,
    pub llm: LlmConfig,
    pub cors_origins: CorsOrigins,
    pub host: IpAddr,
    pub port: u16,
    pub log: LogConfig,
    pub tenant_cache_ttl: Duration,
    pub tenant_cache_capacity: u64,
    pub request_timeout: Duration,
    /// After the stop signal: `/ready` fails and new requests are still served this long, so a
    /// load balancer takes the replica out before it stops accepting.
    pub shutdown_drain: Duration,
    pub max_body_bytes: usize,
    /// `HEADER_READ_TIMEOUT_SECONDS`: also the idle keep-alive timeout (see `http::server`).
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT_SECONDS` (see `http::middleware::body_read_timeout`).
    pub body_read_timeout: Duration,
    pub default_system_prompt: String,
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    pub login_max_failures_per_address: u32,
    pub login_max_failures_per_email: u32,
    /// `TRUSTED_PROXY_HOPS`: how many of the rightmost `X-Forwarded-For` entries our own
    /// proxies wrote (see `http::client_address`).
    pub trusted_proxy_hops: usize,
    /// Password checks (argon2) running at once, and waiting, before logins answer 429.
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
    /// How many stored messages of a conversation go upstream with each turn (1–1000).
    pub chat_history_messages: i64,
    /// Conversations not updated for this long are deleted; `None` keeps them.
    pub conversation_retention: Option<chrono::TimeDelta>,
    pub limits: LimitsConfig,
    pub usage_flush_interval: Duration,
    /// `CONSOLE_ENABLED`: serve `/console`.
    pub console_enabled: bool,
}

/// Reads variables; a test can hand in its own map instead of the process environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Env for std::collections::HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Loads `.env` (if present) into the process environment. Real variables win.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

fn get(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parse_or<T: std::str::FromStr>(
    env: &dyn Env,
    name: &'static str,
    default: T,
    what: &str,
) -> Result<T, ConfigError> {
    match get(env, name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be {what}; got {raw:?}"))),
    }
}

fn positive_seconds(
    env: &dyn Env,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs: u64 = parse_or(env, name, default, "a whole number of seconds")?;
    if secs == 0 {
        return Err(ConfigError::new(name, "must be greater than 0"));
    }
    Ok(Duration::from_secs(secs))
}

/// A number that must not be 0: `TENANT_CACHE_CAPACITY`, the login limits, …
fn positive<T>(env: &dyn Env, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + Default + PartialEq,
{
    let n: T = parse_or(env, name, default, "a positive whole number")?;
    if n == T::default() {
        return Err(ConfigError::new(name, "must be greater than 0"));
    }
    Ok(n)
}

fn postgres_url(name: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(ConfigError::new(
            name,
            "must start with postgres:// or postgresql://",
        ))
    }
}

/// `DATABASE_POOL_MODE`: what sits between the gateway and Postgres.
fn pool_mode(env: &dyn Env) -> Result<PoolMode, ConfigError> {
    match get(env, "DATABASE_POOL_MODE").as_deref() {
        None | Some("session") => Ok(PoolMode::Session),
        Some("transaction") => Ok(PoolMode::Transaction),
        Some(_) => Err(ConfigError::new(
            "DATABASE_POOL_MODE",
            "must be session or transaction (PgBouncer's statement mode cannot run transactions)",
        )),
    }
}

impl DatabaseConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let url = get(env, "DATABASE_URL").ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                "is not set (e.g. postgres://user:password@host:5432/db)",
            )
        })?;
        postgres_url("DATABASE_URL", &url)?;
        let pool_size: usize = positive(env, "DATABASE_POOL_SIZE", 10)?;
        let listen_url = get(env, "DATABASE_LISTEN_URL");
        if let Some(listen) = &listen_url {
            postgres_url("DATABASE_LISTEN_URL", listen)?;
        }
        let pool_mode = pool_mode(env)?;
        let statement_ms: u64 = parse_or(
            env,
            "RETRIEVAL_STATEMENT_TIMEOUT_MS",
            5000,
            "a whole number of milliseconds",
        )?;
        if statement_ms == 0 {
            return Err(ConfigError::new(
                "RETRIEVAL_STATEMENT_TIMEOUT_MS",
                "must be greater than 0",
            ));
        }
        // Half the pool by default: a tenant flooding slow searches leaves the other half to
        // everyone else.
        let tenant_max_connections: usize = positive(
            env,
            "DATABASE_TENANT_MAX_CONNECTIONS",
            (pool_size / 2).max(1),
        )?;
        Ok(Self {
            url: SecretString::from(url),
            listen_url: listen_url.map(SecretString::from),
            pool_mode,
            pool_size,
            connect_timeout: positive_seconds(env, "DATABASE_CONNECT_TIMEOUT_SECONDS", 5)?,
            retrieval_statement_timeout: Duration::from_millis(statement_ms),
            tenant_max_connections,
        })
    }
}

impl LogConfig {
    /// Never fails: logging must work even when the rest of the configuration does not.
    pub fn from_env(env: &dyn Env) -> Self {
        let filter = get(env, "RUST_LOG")
            .or_else(|| get(env, "LOG_LEVEL").map(|l| l.to_lowercase()))
            .unwrap_or_else(|| "info".to_owned());
        let format = match get(env, "LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Pretty,
        };
        Self { filter, format }
    }
}

/// `ALGORITHM`: one name or a comma list, without repeats; HS* and RS256/ES256 never mixed
/// (one key verifies them all).
fn jwt_algorithms(env: &dyn Env) -> Result<Vec<jsonwebtoken::Algorithm>, ConfigError> {
    use jsonwebtoken::Algorithm::*;
    let raw = get(env, "ALGORITHM").unwrap_or_else(|| "HS256".to_owned());
    let mut algorithms = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let algorithm = match name {
            "HS256" => HS256,
            "HS384" => HS384,
            "HS512" => HS512,
            "RS256" => RS256,
            "ES256" => ES256,
            other => {
                return Err(ConfigError::new(
                    "ALGORITHM",
                    format!(
                        "must be one of HS256, HS384, HS512, RS256, ES256 (or a comma list \
                         of them); got {other:?}"
                    ),
                ));
            }
        };
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    if algorithms.is_empty() {
        return Err(ConfigError::new("ALGORITHM", "must name an algorithm"));
    }
    // One key verifies them all: HMAC ones share `JWT_SECRET_KEY`, the others a public
    // key or a JWKS, and a PEM is either RSA or EC.
    if algorithms.iter().any(is_hmac) != algorithms.iter().all(is_hmac) {
        return Err(ConfigError::new(
            "ALGORITHM",
            "cannot mix HS* with RS256/ES256: they need different keys",
        ));
    }
    Ok(algorithms)
}

fn is_hmac(algorithm: &jsonwebtoken::Algorithm) -> bool {
    use jsonwebtoken::Algorithm::*;
    matches!(algorithm, HS256 | HS384 | HS512)
}

/// The key that verifies `algorithms` (the first is `algorithm`): `JWT_SECRET_KEY` for HS*,
/// else `JWT_PUBLIC_KEY` (one algorithm) or `JWKS_URL`.
fn jwt_key(
    env: &dyn Env,
    algorithm: jsonwebtoken::Algorithm,
    algorithms: &[jsonwebtoken::Algorithm],
) -> Result<JwtKeySource, ConfigError> {
    if is_hmac(&algorithm) {
        let secret = get(env, "JWT_SECRET_KEY").ok_or_else(|| {
            ConfigError::new(
                "JWT_SECRET_KEY",
                format!("is not set (required with ALGORITHM={algorithm:?})"),
            )
        })?;
        if secret.len() < 32 {
            return Err(ConfigError::new(
                "JWT_SECRET_KEY",
                format!("must be at least 32 characters; got {}", secret.len()),
            ));
        }
        Ok(JwtKeySource::Hmac(SecretString::from(secret)))
    } else if let Some(pem) = get(env, "JWT_PUBLIC_KEY") {
        if algorithms.len() > 1 {
            return Err(ConfigError::new(
                "ALGORITHM",
                "with JWT_PUBLIC_KEY names one algorithm (a PEM is RSA or EC); use JWKS_URL \
                 for several",
            ));
        }
        let key = public_key(&pem, algorithm).map_err(|_| {
            ConfigError::new(
                "JWT_PUBLIC_KEY",
                format!("is not a valid PEM public key for {algorithm:?}"),
            )
        })?;
        Ok(JwtKeySource::PublicKey(key))
    } else if let Some(url) = get(env, "JWKS_URL") {
        url::Url::parse(&url)
            .map_err(|e| ConfigError::new("JWKS_URL", format!("is not a valid URL: {e}")))?;
        Ok(JwtKeySource::Jwks(url))
    } else {
        Err(ConfigError::new(
            "JWT_PUBLIC_KEY",
            format!("or JWKS_URL must be set with ALGORITHM={algorithm:?}"),
        ))
    }
}

/// The verifying key of a PEM for `algorithm`: RSA for RS256, else EC (ES256).
fn public_key(
    pem: &str,
    algorithm: jsonwebtoken::Algorithm,
) -> jsonwebtoken::errors::Result<jsonwebtoken::DecodingKey> {
    // Railway and .env files often carry PEMs with literal "\n".
    let pem = pem.replace("\\n", "\n");
    match algorithm {
        jsonwebtoken::Algorithm::RS256 => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()),
    }
}

impl JwtConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let algorithms = jwt_algorithms(env)?;
        let Some(&algorithm) = algorithms.first() else {
            return Err(ConfigError::new("ALGORITHM", "must name an algorithm"));
        };
        let key = jwt_key(env, algorithm, &algorithms)?;
        let tenant_claim: Vec<String> = get(env, "TENANT_CLAIM")
            .unwrap_or_else(|| "tenant_id".to_owned())
            .split('.')
            .map(str::to_owned)
            .collect();
        if tenant_claim.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "TENANT_CLAIM",
                "must be a claim name or a dotted path such as app_metadata.tenant_id",
            ));
        }
        let minutes: u64 = parse_or(
            env,
            "ACCESS_TOKEN_EXPIRE_MINUTES",
            30,
            "a whole number of minutes",
        )?;
        if minutes == 0 {
            return Err(ConfigError::new(
                "ACCESS_TOKEN_EXPIRE_MINUTES",
                "must be greater than 0",
            ));
        }
        Ok(Self {
            algorithm,
            algorithms,
            key,
            issuer: get(env, "JWT_ISSUER"),
            audience: get(env, "JWT_AUDIENCE"),
            leeway_seconds: parse_or(env, "JWT_LEEWAY_SECONDS", 30, "a whole number of seconds")?,
            tenant_claim,
            access_token_ttl: Duration::from_secs(minutes * 60),
        })
    }
}

fn http_url(env: &dyn Env, name: &'static str, default: &str) -> Result<String, ConfigError> {
    let raw = get(env, name).unwrap_or_else(|| default.to_owned());
    let parsed = url::Url::parse(&raw)
        .map_err(|e| ConfigError::new(name, format!("is not a valid URL ({e}); got {raw:?}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            name,
            format!("must be an http(s) URL; got {raw:?}"),
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

impl LlmConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            api_key: get(env, "OPENAI_API_KEY").map(SecretString::from),
            base_url: http_url(env, "OPENAI_BASE_URL", "https://api.openai.com/v1")?,
            chat_model: get(env, "CHAT_MODEL").unwrap_or_else(|| "gpt-4o-mini".to_owned()),
            embedding_model: get(env, "EMBEDDING_MODEL")
                .unwrap_or_else(|| "text-embedding-3-small".to_owned()),
            allowed_models: get(env, "ALLOWED_MODELS")
                .map(|v| {
                    v.split(',')
                        .map(|m| m.trim().to_owned())
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            pinecone_control_plane_url: http_url(
                env,
                "PINECONE_API_URL",
                "https://api.pinecone.io",
            )?,
            pinecone_index_name: get(env, "PINECONE_INDEX_NAME"),
            upstream_timeout: positive_seconds(env, "UPSTREAM_TIMEOUT_SECONDS", 60)?,
        })
    }
}

/// Parses the keys for tenant secrets: `SECRET_KEY` and the optional `SECRET_KEY_PREVIOUS`.
pub fn key_ring_from_env(env: &dyn Env) -> Result<KeyRing, ConfigError> {
    let current = get(env, "SECRET_KEY").ok_or_else(|| {
        ConfigError::new(
            "SECRET_KEY",
            "is not set (generate one with `openssl rand -hex 32` or `tenantgate gen-secret`)",
        )
    })?;
    let current =
        SecretKey::from_hex(&current).map_err(|problem| ConfigError::new("SECRET_KEY", problem))?;
    let mut previous = Vec::new();
    if let Some(list) = get(env, "SECRET_KEY_PREVIOUS") {
        for (i, raw) in list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let key = SecretKey::from_hex(raw).map_err(|problem| {
                ConfigError::new("SECRET_KEY_PREVIOUS", format!("entry {}: {problem}", i + 1))
            })?;
            previous.push(key);
        }
    }
    Ok(KeyRing::new(current, previous))
}

/// `BACKEND_CORS_ORIGINS`, `HOST`, `PORT`.
fn listener(env: &dyn Env) -> Result<(CorsOrigins, IpAddr, u16), ConfigError> {
    let cors_origins = match get(env, "BACKEND_CORS_ORIGINS") {
        None => CorsOrigins::default(),
        Some(raw) => CorsOrigins::parse(&raw)
            .map_err(|problem| ConfigError::new("BACKEND_CORS_ORIGINS", problem))?,
    };
    let host: IpAddr = parse_or(
        env,
        "HOST",
        IpAddr::from([0, 0, 0, 0]),
        "an IP address such as 0.0.0.0 or ::",
    )?;
    let port: u16 = parse_or(env, "PORT", 8000, "a port number (0-65535)")?;
    Ok((cors_origins, host, port))
}

fn max_body_bytes(env: &dyn Env) -> Result<usize, ConfigError> {
    let max_body_bytes: usize =
        parse_or(env, "MAX_BODY_BYTES", 2 * 1024 * 1024, "a number of bytes")?;
    if max_body_bytes < 1024 {
        return Err(ConfigError::new("MAX_BODY_BYTES", "must be at least 1024"));
    }
    Ok(max_body_bytes)
}

/// `LOGIN_MAX_FAILURES` and the per-address and per-email limits it defaults (×20, ×10).
struct LoginLimits {
    max_failures: u32,
    per_address: u32,
    per_email: u32,
}

impl LoginLimits {
    fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let max_failures: u32 = positive(env, "LOGIN_MAX_FAILURES", 5)?;
        Ok(Self {
            max_failures,
            per_address: positive(
                env,
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                max_failures.saturating_mul(20),
            )?,
            per_email: positive(
                env,
                "LOGIN_MAX_FAILURES_PER_EMAIL",
                max_failures.saturating_mul(10),
            )?,
        })
    }
}

/// `PASSWORD_HASH_CONCURRENCY` (default: the cores) and `PASSWORD_HASH_QUEUE` (8 per check).
fn password_hashing(env: &dyn Env) -> Result<(usize, usize), ConfigError> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let concurrency = positive(
        env,
        "PASSWORD_HASH_CONCURRENCY",
        u32::try_from(cores).unwrap_or(2),
    )? as usize;
    let queue: usize = parse_or(
        env,
        "PASSWORD_HASH_QUEUE",
        concurrency * 8,
        "a whole number of waiting password checks",
    )?;
    Ok((concurrency, queue))
}

/// `CHAT_HISTORY_MESSAGES` and `CONVERSATION_RETENTION_DAYS`.
fn conversations(env: &dyn Env) -> Result<(i64, Option<chrono::TimeDelta>), ConfigError> {
    let history: i64 = parse_or(
        env,
        "CHAT_HISTORY_MESSAGES",
        20,
        "a whole number from 1 to 1000",
    )?;
    if !(1..=1000).contains(&history) {
        return Err(ConfigError::new(
            "CHAT_HISTORY_MESSAGES",
            "must be between 1 and 1000",
        ));
    }
    let retention = match get(env, "CONVERSATION_RETENTION_DAYS") {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(days) if (1..=36_500).contains(&days) => Some(chrono::TimeDelta::days(days)),
            _ => {
                return Err(ConfigError::new(
                    "CONVERSATION_RETENTION_DAYS",
                    format!("must be a whole number of days from 1 to 36500; got {raw:?}"),
                ));
            }
        },
    };
    Ok((history, retention))
}

impl Config {
    /// Every section in a fixed order: with several bad variables, the first one named here
    /// is the one reported.
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let database = DatabaseConfig::from_env(env)?;
        let keys = key_ring_from_env(env)?;
        let jwt = JwtConfig::from_env(env)?;
        let llm = LlmConfig::from_env(env)?;
        let (cors_origins, host, port) = listener(env)?;
        let tenant_cache_capacity: u64 = positive(env, "TENANT_CACHE_CAPACITY", 10_000)?;
        let max_body_bytes = max_body_bytes(env)?;
        let logins = LoginLimits::from_env(env)?;
        let trusted_proxy_hops: usize = parse_or(
            env,
            "TRUSTED_PROXY_HOPS",
            0,
            "a whole number of proxies (0 ignores X-Forwarded-For)",
        )?;
        let (password_hash_concurrency, password_hash_queue) = password_hashing(env)?;
        let (chat_history_messages, conversation_retention) = conversations(env)?;
        Ok(Self {
            chat_history_messages,
            conversation_retention,
            database,
            keys,
            jwt,
            llm,
            cors_origins,
            host,
            port,
            log: LogConfig::from_env(env),
            tenant_cache_ttl: positive_seconds(env, "TENANT_CACHE_TTL_SECONDS", 60)?,
            tenant_cache_capacity,
            request_timeout: positive_seconds(env, "REQUEST_TIMEOUT_SECONDS", 90)?,
            shutdown_drain: shutdown_drain(env)?,
            max_body_bytes,
            header_read_timeout: positive_seconds(env, "HEADER_READ_TIMEOUT_SECONDS", 10)?,
            body_read_timeout: positive_seconds(env, "BODY_READ_TIMEOUT_SECONDS", 30)?,
            default_system_prompt: get(env, "DEFAULT_SYSTEM_PROMPT")
                .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_owned()),
            login_max_failures: logins.max_failures,
            login_failure_window: positive_seconds(env, "LOGIN_FAILURE_WINDOW_SECONDS", 300)?,
            login_max_failures_per_address: logins.per_address,
            login_max_failures_per_email: logins.per_email,
            trusted_proxy_hops,
            password_hash_concurrency,
            password_hash_queue,
            limits: LimitsConfig::from_env(env)?,
            usage_flush_interval: positive_seconds(env, "USAGE_FLUSH_SECONDS", 2)?,
            console_enabled: parse_or(env, "CONSOLE_ENABLED", true, "true or false")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = [
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
            ("SECRET_KEY", &"ab".repeat(32)),
            ("JWT_SECRET_KEY", "a-jwt-secret-that-is-long-enough-0123"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        map
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match Config::from_env(&env(pairs)) {
            Ok(_) => panic!("expected an error for {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn console_enabled_is_true_or_false() {
        assert!(
            Config::from_env(&env(&[]))
                .expect("defaults")
                .console_enabled
        );
        let off = Config::from_env(&env(&[("CONSOLE_ENABLED", "false")])).expect("false");
        assert!(!off.console_enabled);
        assert_eq!(
            error_of(&[("CONSOLE_ENABLED", "maybe")]),
            "CONSOLE_ENABLED must be true or false; got \"maybe\""
        );
    }

    #[test]
    fn shutdown_drain_is_off_by_default_and_bounded() {
        let config = Config::from_env(&env(&[])).expect("defaults");
        assert_eq!(config.shutdown_drain, Duration::ZERO);
        let set = Config::from_env(&env(&[("SHUTDOWN_DRAIN_SECONDS", "5")])).expect("5");
        assert_eq!(set.shutdown_drain, Duration::from_secs(5));
        assert_eq!(
            error_of(&[("SHUTDOWN_DRAIN_SECONDS", "601")]),
            "SHUTDOWN_DRAIN_SECONDS must be at most 600"
        );
    }

    #[test]
    fn defaults_are_usable() {
        let config = Config::from_env(&env(&[])).expect("valid");
        assert_eq!(config.port, 8000);
        assert_eq!(config.jwt.tenant_claim, vec!["tenant_id"]);
        assert_eq!(config.jwt.access_token_ttl, Duration::from_secs(1800));
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            error_of(&[("SECRET_KEY", "abc")]),
            "SECRET_KEY must be 64 hex characters (32 bytes); got 3"
        );
        assert!(error_of(&[("PORT", "eighty")]).starts_with("PORT "));
        assert!(error_of(&[("ALGORITHM", "none")]).starts_with("ALGORITHM "));
        assert!(error_of(&[("ALGORITHM", "HS256,RS256")]).starts_with("ALGORITHM "));
        let both = Config::from_env(&env(&[("ALGORITHM", "HS256, HS512")])).expect("a list");
        assert_eq!(
            both.jwt.algorithms,
            [
                jsonwebtoken::Algorithm::HS256,
                jsonwebtoken::Algorithm::HS512
            ]
        );
        assert!(
            error_of(&[("BACKEND_CORS_ORIGINS", "not a url")]).starts_with("BACKEND_CORS_ORIGINS ")
        );
        assert!(
            error_of(&[("TENANT_CACHE_TTL_SECONDS", "0")]).starts_with("TENANT_CACHE_TTL_SECONDS ")
        );
        assert!(error_of(&[("SECRET_KEY_PREVIOUS", "zz")]).starts_with("SECRET_KEY_PREVIOUS "));
    }

    #[test]
    fn tenant_claim_may_be_a_path() {
        let config =
            Config::from_env(&env(&[("TENANT_CLAIM", "app_metadata.tenant_id")])).expect("valid");
        assert_eq!(config.jwt.tenant_claim, vec!["app_metadata", "tenant_id"]);
    }
}
