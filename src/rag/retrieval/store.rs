//! A tenant's documents in Postgres: the `documents` table, one row per chunk.
//!
//! Every statement runs inside a transaction that first calls [`scope_to_tenant`]: the
//! transaction switches to the `tenantgate_tenant` role and records the tenant id, and the
//! table's row-level security policy then hides every other tenant's rows. The role switch is
//! what makes the policy bite: the gateway's own database user is often the table owner or a
//! superuser, and superusers bypass RLS. Queries still say `WHERE tenant_id = …` (it lets
//! Postgres use the primary key); the policy is the guard for the query that forgets.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{ChunkedDocument, DocumentSummary};
use crate::domain::TenantId;
use crate::errors::{AppError, AppResult};
use crate::store::db::{Pool, PooledConnection};
use crate::store::models::document::NewChunk;
use crate::store::schema::documents;

/// Rows per `INSERT`: well below Postgres' 65535 bind parameters (7 per row).
const INSERT_BATCH: usize = 1000;

/// Limits the rest of the current transaction to `tenant_id`'s rows.
///
/// One round trip: `set_config('role', …, true)` is what `SET LOCAL ROLE` does (PostgREST
/// switches roles the same way), and unlike `SET` it takes the tenant id as a bound parameter.
/// Both settings end with the transaction, so a pooled connection never carries them over.
pub async fn scope_to_tenant(conn: &mut AsyncPgConnection, tenant_id: &str) -> QueryResult<()> {
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
    tenant_id: &str,
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

/// What one tenant's documents may take of the shared database.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// `statement_timeout` of each read (search, list).
    pub statement_timeout: Duration,
    /// Pooled connections the tenant may hold at once; the rest of the pool stays free for
    /// other tenants, however many requests this one sends.
    pub max_connections: usize,
}

/// A pooled connection held within the tenant's share (the permit goes back with it).
pub struct TenantConnection {
    conn: PooledConnection,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Deref for TenantConnection {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl DerefMut for TenantConnection {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// The documents of one tenant.
#[derive(Clone)]
pub struct DocumentStore {
    pool: Pool,
    tenant: TenantId,
    /// The tenant's `search_language`, written on every chunk (`search_vector` is built with it).
    language: &'static str,
    limits: StoreLimits,
    /// One per tenant context: at most `limits.max_connections` permits.
    share: Arc<tokio::sync::Semaphore>,
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    source: Option<String>,
    #[diesel(sql_type = Jsonb)]
    metadata: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    created_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = BigInt)]
    chunks: i64,
}

impl DocumentStore {
    pub fn new(pool: Pool, tenant: TenantId, limits: StoreLimits) -> Self {
        let share = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        Self {
            pool,
            tenant,
            language: "english",
            limits,
            share,
        }
    }

    /// The store of a tenant whose `search_language` is `language` (unknown names: `english`;
    /// the admin API only stores names from the list).
    pub fn with_language(mut self, language: &str) -> Self {
        self.language = super::builtin::search_language(language).unwrap_or("english");
        self
    }

    pub fn language(&self) -> &'static str {
        self.language
    }

    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    pub fn tenant_id(&self) -> &str {
        self.tenant.as_str()
    }

    /// A connection within the tenant's share of the pool: when the tenant already holds its
    /// share, the request waits for one of its own to come back (never for another tenant's).
    pub async fn conn(&self) -> AppResult<TenantConnection> {
        let permit = self
            .share
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        let conn = self.pool.get().await?;
        Ok(TenantConnection {
            conn,
            _permit: permit,
        })
    }

    /// Writes documents, each replacing every chunk of an earlier document with its id.
    pub async fn replace(&self, docs: &[ChunkedDocument]) -> AppResult<()> {
        let tenant = self.tenant.as_str();
        let language = self.language;
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        let rows: Vec<NewChunk<'_>> = docs
            .iter()
            .flat_map(|doc| {
                doc.chunks
                    .iter()
                    .enumerate()
                    .map(move |(n, text)| NewChunk {
                        tenant_id: tenant,
                        id: &doc.id,
                        chunk: i32::try_from(n).unwrap_or(i32::MAX),
                        title: doc.title.as_deref(),
                        source: doc.source.as_deref(),
                        content: text,
                        metadata: &doc.metadata,
                        language,
                    })
            })
            .collect();
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        conn.transaction(async |conn| {
            scope_to_tenant(conn, tenant).await?;
            diesel::delete(
                documents::table
                    .filter(documents::tenant_id.eq(tenant))
                    .filter(documents::id.eq_any(&ids)),
            )
            .execute(conn)
            .await?;
            for batch in rows.chunks(INSERT_BATCH) {
                diesel::insert_into(documents::table)
                    .values(batch)
                    .execute(conn)
                    .await?;
            }
            Ok::<_, AppError>(())
        })
        .await
    }

    /// How many chunks each of `ids` has now (absent: none).
    pub async fn chunk_counts(&self, ids: &[&str]) -> AppResult<HashMap<String, i64>> {
        let tenant = self.tenant.as_str();
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let counts: Vec<(String, i64)> = conn
            .transaction(async |conn| {
                scope_to_tenant(conn, tenant).await?;
                documents::table
                    .filter(documents::tenant_id.eq(tenant))
                    .filter(documents::id.eq_any(ids))
                    .group_by(documents::id)
                    .select((documents::id, diesel::dsl::count_star()))
                    .load(conn)
                    .await
                    .map_err(AppError::from)
            })
            .await?;
        Ok(counts.into_iter().collect())
    }

    /// One entry per document, ordered by id.
    pub async fn list(&self, limit: i64, offset: i64) -> AppResult<Vec<DocumentSummary>> {
        let tenant = self.tenant.as_str();
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let timeout = self.limits.statement_timeout;
        let rows: Vec<SummaryRow> = conn
            .transaction(async |conn| {
                scope_to_tenant_for_reading(conn, tenant, timeout).await?;
                // Chunk 0 carries the document's fields; the count walks the primary key.
                diesel::sql_query(
                    "SELECT d.id, d.title, d.source, d.metadata, d.created_at, \
                            (SELECT count(*) FROM documents c \
                              WHERE c.tenant_id = d.tenant_id AND c.id = d.id) AS chunks \
                       FROM documents d \
                      WHERE d.tenant_id = $1 AND d.chunk = 0 \
                      ORDER BY d.id \
                      LIMIT $2 OFFSET $3",
                )
                .bind::<Text, _>(tenant)
                .bind::<BigInt, _>(limit)
                .bind::<BigInt, _>(offset)
                .load(conn)
                .await
                .map_err(AppError::from)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| DocumentSummary {
                id: r.id,
                title: r.title,
                source: r.source,
                metadata: r.metadata,
                chunks: r.chunks,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Deletes every chunk of document `id`; returns how many there were.
    pub async fn delete(&self, id: &str) -> AppResult<usize> {
        let tenant = self.tenant.as_str();
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        conn.transaction(async |conn| {
            scope_to_tenant(conn, tenant).await?;
            diesel::delete(
                documents::table
                    .filter(documents::tenant_id.eq(tenant))
                    .filter(documents::id.eq(id)),
            )
            .execute(conn)
            .await
            .map_err(AppError::from)
        })
        .await
    }
}
