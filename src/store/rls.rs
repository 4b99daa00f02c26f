//! Row-level security: the preamble of every transaction that touches one tenant's rows
//! (`documents`, `conversations`, `messages`), and [`scoped`], which runs a closure inside it.
//!
//! The transaction switches to the `tenantgate_tenant` role and records the tenant id, and each
//! table's policy then hides every other tenant's rows. The role switch is what makes the
//! policy bite: the gateway's own database user is often the table owner or a superuser, and
//! superusers bypass RLS. Queries still say `WHERE tenant_id = …` (it lets Postgres use the
//! primary key); the policy is the guard for the query that forgets.

use std::future::Future;
use std::time::Duration;

use diesel::QueryResult;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::db::{Pool, PoolError, PooledConnection};
use crate::domain::TenantId;

/// Limits the rest of the current transaction to `tenant_id`'s rows.
///
/// One round trip: `set_config('role', …, true)` is what `SET LOCAL ROLE` does (PostgREST
/// switches roles the same way), and unlike `SET` it takes the tenant id as a bound parameter.
/// Both settings end with the transaction, so a pooled connection never carries them over.
pub async fn scope_to_tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: &TenantId,
) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT set_config('role', 'tenantgate_tenant', true), \
                set_config('tenantgate.tenant_id', $1, true)",
    )
    .bind::<Text, _>(tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`scope_to_tenant`] for a read that must not run long: the statement timeout ends with the
/// transaction too (`SET LOCAL`), so it binds only the retrieval queries of this transaction.
/// Without it one crafted query (100,000 words of full-text search) held a connection ~9 s.
pub async fn scope_to_tenant_for_reading(
    conn: &mut AsyncPgConnection,
    tenant_id: &TenantId,
    statement_timeout: Duration,
) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT set_config('role', 'tenantgate_tenant', true), \
                set_config('tenantgate.tenant_id', $1, true), \
                set_config('statement_timeout', $2, true)",
    )
    .bind::<Text, _>(tenant_id)
    .bind::<Text, _>(statement_timeout.as_millis().max(1).to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// An async closure whose future is `Send`: the bound `diesel_async`'s `transaction` asks for,
/// which its own helper trait expresses but does not export. Spelled out by the functions that
/// wrap a transaction around a caller's closure ([`scoped`], `services::audit::audited`).
pub trait WriteFn<C, R>: AsyncFnOnce(C) -> R + FnOnce(C) -> <Self as WriteFn<C, R>>::Fut {
    type Fut: Future<Output = R>;
}

impl<F, C, Fut, R> WriteFn<C, R> for F
where
    F: AsyncFnOnce(C) -> R + FnOnce(C) -> Fut,
    Fut: Future<Output = R>,
{
    type Fut = Fut;
}

/// Where a scoped transaction runs: on a connection taken from the pool for it, or on one the
/// caller holds (a tenant's share of the pool, say).
pub enum Conn<'a> {
    Pool(&'a Pool),
    Held(&'a mut AsyncPgConnection),
}

impl<'a> From<&'a Pool> for Conn<'a> {
    fn from(pool: &'a Pool) -> Self {
        Self::Pool(pool)
    }
}

impl<'a> From<&'a mut AsyncPgConnection> for Conn<'a> {
    fn from(conn: &'a mut AsyncPgConnection) -> Self {
        Self::Held(conn)
    }
}

impl<'a> From<&'a mut PooledConnection> for Conn<'a> {
    fn from(conn: &'a mut PooledConnection) -> Self {
        Self::Held(conn)
    }
}

/// Whose rows a [`scoped`] transaction sees, and for a read, how long its statements may run.
#[derive(Clone, Copy)]
pub struct TenantScope<'a> {
    pub tenant_id: &'a TenantId,
    pub statement_timeout: Option<Duration>,
}

impl<'a> TenantScope<'a> {
    /// A read bound by `statement_timeout` ([`scope_to_tenant_for_reading`]).
    pub fn reading(tenant_id: &'a TenantId, statement_timeout: Duration) -> Self {
        Self {
            tenant_id,
            statement_timeout: Some(statement_timeout),
        }
    }
}

impl<'a> From<&'a TenantId> for TenantScope<'a> {
    fn from(tenant_id: &'a TenantId) -> Self {
        Self {
            tenant_id,
            statement_timeout: None,
        }
    }
}

/// Runs `work` in a transaction limited to one tenant's rows ([`scope_to_tenant`]; with a
/// statement timeout, [`scope_to_tenant_for_reading`]).
pub async fn scoped<'c, 's, T, E, F>(
    conn: impl Into<Conn<'c>>,
    scope: impl Into<TenantScope<'s>>,
    work: F,
) -> Result<T, E>
where
    T: Send,
    E: From<diesel::result::Error> + From<PoolError> + Send,
    for<'r> F: AsyncFnOnce(&'r mut AsyncPgConnection) -> Result<T, E>
        + WriteFn<&'r mut AsyncPgConnection, Result<T, E>, Fut: Send>
        + Send,
{
    let scope = scope.into();
    let mut taken;
    let conn: &mut AsyncPgConnection = match conn.into() {
        Conn::Pool(pool) => {
            taken = pool.get().await?;
            &mut taken
        }
        Conn::Held(conn) => conn,
    };
    conn.transaction(async move |conn| {
        match scope.statement_timeout {
            None => scope_to_tenant(conn, scope.tenant_id).await?,
            Some(timeout) => scope_to_tenant_for_reading(conn, scope.tenant_id, timeout).await?,
        }
        work(conn).await
    })
    .await
}
