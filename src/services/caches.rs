//! What a write tells this replica's caches once it has committed, so the change holds here at
//! once. Other replicas hear of it through the database's NOTIFY (the tables' triggers), and so
//! do servers when the CLI writes: a command passes `NoCaches`, having none of its own.
//!
//! The server's caches implement it on `AppState` (`crate::app::state`). Services call these after the transaction returns, never inside it: a cache refilled
//! before the commit would read the old row.

use std::future::Future;

use uuid::Uuid;

use crate::domain::TenantId;

pub trait Caches: Sync {
    /// A tenant row changed and is now at `version`.
    fn tenant_changed(&self, id: &TenantId, version: i64) -> impl Future<Output = ()> + Send;
    /// An API key was revoked (or replaced): drop it by its prefix.
    fn api_key_revoked(&self, prefix: &str) -> impl Future<Output = ()> + Send;
    /// A user changed (role, activity): drop what is remembered about it.
    fn user_changed(&self, id: Uuid) -> impl Future<Output = ()> + Send;
}

/// A process without caches (the CLI): the NOTIFY tells the servers.
pub struct NoCaches;

impl Caches for NoCaches {
    async fn tenant_changed(&self, _id: &TenantId, _version: i64) {}

    async fn api_key_revoked(&self, _prefix: &str) {}

    async fn user_changed(&self, _id: Uuid) {}
}
