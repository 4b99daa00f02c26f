//! Who is this user, for authorization: their role, organization and tenant, read from the
//! database through a short cache. A change to a user (psql included) drops the entry on every
//! replica within a second (the change listener's `user_changed`), at once on the replica that
//! made it (`forget`); the TTL only bounds how stale it can get while the listener is
//! reconnecting. Inactive and unknown users are `None`.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use moka::future::Cache;
use uuid::Uuid;

use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use crate::store::db::Pool;
use crate::store::schema::users;

pub const SUPERUSER_CACHE_TTL: Duration = Duration::from_secs(10);

/// An active user's standing.
#[derive(Clone, Debug)]
pub struct Standing {
    pub role: Role,
    pub org_id: Option<String>,
    pub tenant_id: Option<String>,
}

pub struct Superusers {
    pool: Pool,
    cache: Cache<Uuid, Option<Arc<Standing>>>,
}

impl Superusers {
    pub fn new(pool: Pool) -> Self {
        let cache = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(SUPERUSER_CACHE_TTL)
            .build();
        Self { pool, cache }
    }

    /// The role, organization and tenant of an active user; `None` for inactive or unknown.
    pub async fn standing(&self, id: Uuid) -> AppResult<Option<Arc<Standing>>> {
        let pool = self.pool.clone();
        self.cache
            .try_get_with(id, async move {
                let mut conn = pool.get().await?;
                let row: Option<(String, Option<String>, Option<String>, bool)> = users::table
                    .find(id)
                    .select((
                        users::role,
                        users::org_id,
                        users::tenant_id,
                        users::is_active,
                    ))
                    .first(&mut conn)
                    .await
                    .optional()?;
                Ok::<_, AppError>(row.filter(|r| r.3).map(|(role, org_id, tenant_id, _)| {
                    Arc::new(Standing {
                        role: Role::parse(&role).unwrap_or(Role::Member),
                        org_id,
                        tenant_id,
                    })
                }))
            })
            .await
            .map_err(AppError::from_shared)
    }

    pub async fn is_active_superuser(&self, id: Uuid) -> AppResult<bool> {
        Ok(self
            .standing(id)
            .await?
            .is_some_and(|s| s.role == Role::Superuser))
    }

    pub async fn forget(&self, id: Uuid) {
        self.cache.invalidate(&id).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}

pub type SharedSuperusers = Arc<Superusers>;
