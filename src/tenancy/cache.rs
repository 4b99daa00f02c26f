//! The tenant cache: tenant id → `Arc<TenantContext>`, per process.
//!
//! - Bounded (`TENANT_CACHE_CAPACITY`) with a TTL (`TENANT_CACHE_TTL_SECONDS`): a change that
//!   somehow missed its notification is still picked up after the TTL.
//! - Single-flight: however many requests miss at once, one of them loads the row.
//! - Unknown and inactive ids are cached too, briefly (`NEGATIVE_TTL`): a flood of requests for
//!   a bad id costs one query per few seconds, and a tenant created or reactivated meanwhile is
//!   announced by NOTIFY anyway.
//! - Versions: every change announces `(id, version)`. The cache remembers the newest version
//!   announced per id and never serves or stores an older context, so a slow load that read the
//!   row before an update cannot put the stale tenant back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use moka::future::Cache;

use super::TenantContext;
use crate::domain::TenantId;
use crate::errors::{AppError, AppResult};
use crate::rag::retrieval::RetrievalDeps;
use crate::secrets::KeyRing;
use crate::store::db::Pool;
use crate::store::models::tenant::Tenant;
use crate::store::schema::{organizations, tenants};

const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// A load that read an older version than announced tries again this many times.
const STALE_RELOADS: usize = 5;

type Entry = Option<Arc<TenantContext>>;

struct TtlByOutcome {
    ttl: Duration,
}

impl moka::Expiry<TenantId, Entry> for TtlByOutcome {
    fn expire_after_create(&self, _: &TenantId, value: &Entry, _: Instant) -> Option<Duration> {
        Some(if value.is_some() {
            self.ttl
        } else {
            NEGATIVE_TTL
        })
    }
}

struct Loader {
    pool: Pool,
    keys: KeyRing,
    default_prompt: Arc<str>,
    deps: RetrievalDeps,
}

pub struct TenantCache {
    entries: Cache<TenantId, Entry>,
    /// The newest version announced for each tenant changed since start-up.
    announced: Arc<DashMap<TenantId, i64>>,
    /// Whether anything was ever announced: until then the hot path skips the map entirely.
    any_announced: AtomicBool,
    loader: Arc<Loader>,
}

impl TenantCache {
    pub fn new(
        pool: Pool,
        keys: KeyRing,
        default_prompt: &str,
        deps: RetrievalDeps,
        ttl: Duration,
        capacity: u64,
    ) -> Self {
        let entries = Cache::builder()
            .max_capacity(capacity)
            .expire_after(TtlByOutcome { ttl })
            .build();
        Self {
            entries,
            announced: Arc::new(DashMap::new()),
            any_announced: AtomicBool::new(false),
            loader: Arc::new(Loader {
                pool,
                keys,
                default_prompt: Arc::from(default_prompt),
                deps,
            }),
        }
    }

    /// The context of an active tenant; `tenant_unavailable` for unknown and inactive ids alike.
    pub async fn get(&self, id: &str) -> AppResult<Arc<TenantContext>> {
        if !TenantId::is_valid(id) {
            return Err(AppError::TenantUnavailable);
        }
        if let Some(entry) = self.entries.get(id).await {
            match entry {
                Some(ctx) if !self.is_outdated(&ctx) => {
                    crate::metrics::tenant_cache(true);
                    return Ok(ctx);
                }
                None => {
                    crate::metrics::tenant_cache(true);
                    return Err(AppError::TenantUnavailable);
                }
                Some(_) => self.entries.invalidate(id).await,
            }
        }
        crate::metrics::tenant_cache(false);
        // Boxed: the load (a query, a decryption) would otherwise size every request's future,
        // and the tower stack copies that future when it boxes it (bench/profile.sh).
        Box::pin(self.load(id)).await
    }

    /// A miss: loads the row once however many requests ask at the same time.
    async fn load(&self, id: &str) -> AppResult<Arc<TenantContext>> {
        let key = TenantId::parse(id).map_err(AppError::internal)?;
        let loader = self.loader.clone();
        let announced = self.announced.clone();
        let load_id = key.clone();
        let entry = self
            .entries
            .try_get_with(key, async move { loader.fetch(&load_id, &announced).await })
            .await
            .map_err(AppError::from_shared)?;
        entry.ok_or(AppError::TenantUnavailable)
    }

    fn is_outdated(&self, ctx: &TenantContext) -> bool {
        // Before the first change there is nothing to look up (one atomic load); after it,
        // one shard read of a small map.
        AtomicBool::load(&self.any_announced, Ordering::Acquire)
            && self
                .announced
                .get(ctx.id.as_str())
                .is_some_and(|v| *v > ctx.version)
    }

    /// A change to `id` at `version` from NOTIFY (the payload's id is parsed here).
    pub async fn announce(&self, id: &str, version: i64) {
        if let Ok(id) = TenantId::parse(id) {
            self.announce_id(&id, version).await;
        }
    }

    /// A change to `id` at `version`: from NOTIFY, or from this replica's own update.
    pub async fn announce_id(&self, key: &TenantId, version: i64) {
        let id = key.as_str();
        self.any_announced.store(true, Ordering::Release);
        self.announced
            .entry(key.clone())
            .and_modify(|v| *v = (*v).max(version))
            .or_insert(version);
        // This replica's own change comes back as a notification too: an entry already at
        // (or past) the announced version is kept rather than rebuilt.
        if let Some(Some(ctx)) = self.entries.get(id).await
            && ctx.version >= version
        {
            return;
        }
        self.entries.invalidate(id).await;
    }

    /// Drops everything (after the listener reconnects: notifications may have been missed).
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }
}

impl Loader {
    async fn fetch(&self, id: &TenantId, announced: &DashMap<TenantId, i64>) -> AppResult<Entry> {
        for _ in 0..STALE_RELOADS {
            let row = self.read(id).await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let newest = announced.get(id.as_str()).map(|v| *v);
            if newest.is_some_and(|v| row.version < v) {
                // Read before the announced update became visible: read again.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            if newest.is_some() {
                announced.remove_if(id.as_str(), |_, v| *v <= row.version);
            }
            if !row.is_active {
                return Ok(None);
            }
            // A tenant of an inactive organization is unavailable too; (de)activating the
            // organization touches its tenants, so the change arrives as theirs.
            if let Some(org_id) = &row.org_id
                && !self.org_is_active(org_id).await?
            {
                return Ok(None);
            }
            let ctx =
                TenantContext::build(row, &self.keys, &self.default_prompt, &self.deps).await?;
            return Ok(Some(Arc::new(ctx)));
        }
        Err(AppError::Internal(format!(
            "tenant {id}: could not read the announced version"
        )))
    }

    async fn read(&self, id: &TenantId) -> AppResult<Option<Tenant>> {
        let mut conn = self.loader_conn().await?;
        let row = tenants::table
            .find(id.as_str())
            .select(Tenant::as_select())
            .first(&mut conn)
            .await
            .optional()?;
        Ok(row)
    }

    async fn org_is_active(&self, org_id: &str) -> AppResult<bool> {
        let mut conn = self.loader_conn().await?;
        let active: Option<bool> = organizations::table
            .find(org_id)
            .select(organizations::is_active)
            .first(&mut conn)
            .await
            .optional()?;
        Ok(active.unwrap_or(false))
    }

    async fn loader_conn(&self) -> AppResult<crate::store::db::PooledConnection> {
        Ok(self.pool.get().await?)
    }
}
