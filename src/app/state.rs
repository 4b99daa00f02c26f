//! The state every handler shares: configuration, the pool, the caches, the HTTP client.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::identity::api_keys::ApiKeys;
use crate::identity::jwt::TokenVerifier;
use crate::identity::login_throttle::{LoginLimits, LoginThrottle};
use crate::identity::password::PasswordChecks;
use crate::identity::superusers::Superusers;
use crate::rag::retrieval::RetrievalDeps;
use crate::store::db::Pool;
use crate::tenancy::TenantCache;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub pool: Pool,
    /// One client (one connection pool) for every upstream: LLM, embeddings, Pinecone, JWKS.
    pub http: reqwest::Client,
    pub tokens: TokenVerifier,
    pub tenants: Arc<TenantCache>,
    pub api_keys: Arc<ApiKeys>,
    pub superusers: Arc<Superusers>,
    pub login_throttle: LoginThrottle,
    pub password_checks: PasswordChecks,
    pub limiter: crate::limits::Limiter,
    pub usage: Arc<crate::usage::Usage>,
    /// Set once the stop signal has come: `/ready` answers 503 while the replica drains.
    pub draining: std::sync::atomic::AtomicBool,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Why the state could not be built: a setting that parsed but does not work. Each says what
/// is wrong in the sentence printed at start-up (`error: …`).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The pool's settings, in `store::db::build_pool`'s words.
    #[error("{0}")]
    Pool(String),
    // The client's error is in the sentence; not also its source, which a printed chain would
    // repeat.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(reqwest::Error),
    #[error(transparent)]
    PublicKey(#[from] crate::identity::jwt::PublicKeyError),
    #[error(transparent)]
    RedisUrl(#[from] crate::limits::shared::RedisUrlError),
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, StartupError> {
        let pool = crate::store::db::build_pool(&config.database).map_err(StartupError::Pool)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("tenantgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(StartupError::HttpClient)?;
        let tokens = TokenVerifier::new(&config.jwt, http.clone())?;
        let deps = RetrievalDeps {
            pool: pool.clone(),
            store_limits: crate::rag::retrieval::store::StoreLimits {
                statement_timeout: config.database.retrieval_statement_timeout,
                max_connections: config.database.tenant_max_connections,
            },
            http: http.clone(),
            llm: config.llm.clone(),
            embeddings: Arc::new(crate::rag::retrieval::embeddings::Embeddings::new(
                http.clone(),
                &config.llm,
            )),
        };
        let tenants = Arc::new(TenantCache::new(
            pool.clone(),
            config.keys.clone(),
            &config.default_system_prompt,
            deps,
            config.tenant_cache_ttl,
            config.tenant_cache_capacity,
        ));
        let api_keys = Arc::new(ApiKeys::new(pool.clone(), &config.keys));
        let superusers = Arc::new(Superusers::new(pool.clone()));
        let limiter = crate::limits::Limiter::new(&config.limits)?;
        let login_throttle = LoginThrottle::new(
            LoginLimits {
                per_pair: config.login_max_failures,
                per_address: config.login_max_failures_per_address,
                per_email: config.login_max_failures_per_email,
                window: config.login_failure_window,
            },
            limiter.shared(),
        );
        let password_checks =
            PasswordChecks::new(config.password_hash_concurrency, config.password_hash_queue);
        Ok(Self(Arc::new(Inner {
            limiter,
            usage: Arc::new(crate::usage::Usage::new(pool.clone())),
            config,
            pool,
            http,
            tokens,
            tenants,
            api_keys,
            superusers,
            login_throttle,
            password_checks,
            draining: std::sync::atomic::AtomicBool::new(false),
        })))
    }

    /// Starts the background work of a serving replica: the change listener and the batched
    /// `last_used_at` writer. Both stop when the returned handles are dropped... or aborted.
    pub fn spawn_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        use secrecy::SecretString;
        // `LISTEN` needs a session of its own: never through a transaction pooler.
        if self.config.database.pool_mode == crate::config::PoolMode::Transaction
            && self.config.database.listen_url.is_none()
        {
            tracing::warn!(
                "DATABASE_POOL_MODE=transaction without DATABASE_LISTEN_URL: LISTEN through a \
                 transaction pooler never fires, so changes made on other replicas arrive only \
                 after TENANT_CACHE_TTL_SECONDS; set DATABASE_LISTEN_URL to a direct connection"
            );
        }
        let url: SecretString = self.config.database.direct_url().clone();
        let listener = tokio::spawn(crate::app::listener::listen(
            url,
            crate::app::listener::Watched {
                tenants: self.tenants.clone(),
                api_keys: self.api_keys.clone(),
                revocations: self.tokens.revocations(),
                superusers: self.superusers.clone(),
            },
        ));
        let api_keys = self.api_keys.clone();
        let flusher = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                api_keys.flush_last_used().await;
            }
        });
        let usage = self.usage.clone();
        let period = self.config.usage_flush_interval;
        let usage_flusher = tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                usage.flush().await;
            }
        });
        let mut tasks = vec![listener, flusher, usage_flusher];
        if let Some(retention) = self.config.conversation_retention {
            tasks.push(tokio::spawn(
                crate::services::conversations::retention_task(self.pool.clone(), retention),
            ));
        }
        tasks
    }
}

/// The server's caches, told by the services after each write commits.
impl crate::services::caches::Caches for AppState {
    async fn tenant_changed(&self, id: &str, version: i64) {
        self.tenants.announce(id, version).await;
    }

    async fn api_key_revoked(&self, prefix: &str) {
        self.api_keys.forget(prefix).await;
    }

    async fn user_changed(&self, id: uuid::Uuid) {
        self.superusers.forget(id).await;
    }
}
