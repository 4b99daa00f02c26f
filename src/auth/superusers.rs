//! Is this user an active superuser? Read from the database through a short cache. A change
//! to a user (psql included) drops the entry on every replica within a second (the change
//! listener's `user_changed`), at once on the replica that made it (`forget`); the TTL only
//! bounds how stale it can get while the listener is reconnecting.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use moka::future::Cache;
use uuid::Uuid;

use crate::db::Pool;
use crate::errors::{AppError, AppResult};
use crate::schema::users;

pub const SUPERUSER_CACHE_TTL: Duration = Duration::from_secs(10);

pub struct Superusers {
    pool: Pool,
    cache: Cache<Uuid, bool>,
}

impl Superusers {
    pub fn new(pool: Pool) -> Self {
        let cache = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(SUPERUSER_CACHE_TTL)
            .build();
        Self { pool, cache }
    }

    pub async fn is_active_superuser(&self, id: Uuid) -> AppResult<bool> {
        let pool = self.pool.clone();
        self.cache
            .try_get_with(id, async move {
                let mut conn = pool.get().await?;
                let row: Option<(bool, bool)> = users::table
                    .find(id)
                    .select((users::is_superuser, users::is_active))
                    .first(&mut conn)
                    .await
                    .optional()?;
                Ok::<_, AppError>(row.is_some_and(|(superuser, active)| superuser && active))
            })
            .await
            .map_err(AppError::from_shared)
    }

    pub async fn forget(&self, id: Uuid) {
        self.cache.invalidate(&id).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}

pub type SharedSuperusers = Arc<Superusers>;
