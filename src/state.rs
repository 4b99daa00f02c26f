//! The state every handler shares: configuration, the pool, the caches, the HTTP client.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::api_keys::ApiKeys;
use crate::auth::jwt::TokenVerifier;
use crate::auth::login_throttle::LoginThrottle;
use crate::auth::superusers::Superusers;
use crate::config::Config;
use crate::db::Pool;
use crate::retrieval::RetrievalDeps;
use crate::tenants::TenantCache;

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
    pub superusers: Superusers,
    pub login_throttle: LoginThrottle,
    pub limiter: crate::limits::Limiter,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, String> {
        let pool = crate::db::build_pool(&config.database)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("tenantgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        let tokens = TokenVerifier::new(&config.jwt, http.clone())?;
        let deps = RetrievalDeps {
            pool: pool.clone(),
            store_limits: crate::retrieval::store::StoreLimits {
                statement_timeout: config.database.retrieval_statement_timeout,
                max_connections: config.database.tenant_max_connections,
            },
            http: http.clone(),
            llm: config.llm.clone(),
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
        let superusers = Superusers::new(pool.clone());
        let login_throttle =
            LoginThrottle::new(config.login_max_failures, config.login_failure_window);
        let limiter = crate::limits::Limiter::new(&config.limits)?;
        Ok(Self(Arc::new(Inner {
            limiter,
            config,
            pool,
            http,
            tokens,
            tenants,
            api_keys,
            superusers,
            login_throttle,
        })))
    }

    /// Starts the background work of a serving replica: the change listener and the batched
    /// `last_used_at` writer. Both stop when the returned handles are dropped... or aborted.
    pub fn spawn_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        use secrecy::SecretString;
        let url: SecretString = self.config.database.url.clone();
        let listener = tokio::spawn(crate::tenants::listener::listen(
            url,
            self.tenants.clone(),
            self.api_keys.clone(),
        ));
        let api_keys = self.api_keys.clone();
        let flusher = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                api_keys.flush_last_used().await;
            }
        });
        vec![listener, flusher]
    }
}
