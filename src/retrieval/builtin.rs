//! `retriever: builtin`: Postgres full-text search over the tenant's chunks in `documents`.
//!
//! The query is parsed by `websearch_to_tsquery('english', …)` (quoted phrases, `or`, `-word`,
//! never a syntax error) and matched against the generated `search_vector` (title weighted
//! above content) through its GIN index; `ts_rank_cd` orders the matches, best first.

use async_trait::async_trait;
use diesel::sql_types::{BigInt, Float, Jsonb, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::store::{scope_to_tenant, DocumentStore};
use super::{ChunkedDocument, DocumentSummary, Passage, Retriever};
use crate::errors::{AppError, AppResult};
use crate::models::tenant::RetrieverKind;

pub struct BuiltinRetriever {
    store: DocumentStore,
}

impl BuiltinRetriever {
    pub fn new(store: DocumentStore) -> Self {
        Self { store }
    }
}

#[derive(QueryableByName)]
struct MatchRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    source: Option<String>,
    #[diesel(sql_type = Text)]
    content: String,
    #[diesel(sql_type = Jsonb)]
    metadata: serde_json::Value,
    #[diesel(sql_type = Float)]
    score: f32,
}

/// Normalisation 32 divides the rank by itself plus one: scores fall in [0, 1) and keep their
/// order, which reads better in `/search` answers than raw cover-density ranks.
const SEARCH_SQL: &str = "\
    SELECT d.id, d.title, d.source, d.content, d.metadata, \
           ts_rank_cd(d.search_vector, q, 32) AS score \
      FROM documents d, websearch_to_tsquery('english', $2) AS q \
     WHERE d.tenant_id = $1 AND d.search_vector @@ q \
     ORDER BY score DESC, d.id, d.chunk \
     LIMIT $3";

#[async_trait]
impl Retriever for BuiltinRetriever {
    fn kind(&self) -> RetrieverKind {
        RetrieverKind::Builtin
    }

    async fn search(&self, query: &str, top_k: usize) -> AppResult<Vec<Passage>> {
        let tenant = self.store.tenant_id();
        let limit = i64::try_from(top_k).unwrap_or(i64::MAX);
        let mut conn = self.store.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let rows: Vec<MatchRow> = conn
            .transaction(async |conn| {
                scope_to_tenant(conn, tenant).await?;
                diesel::sql_query(SEARCH_SQL)
                    .bind::<Text, _>(tenant)
                    .bind::<Text, _>(query)
                    .bind::<BigInt, _>(limit)
                    .load(conn)
                    .await
                    .map_err(AppError::from)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Passage {
                id: r.id,
                score: r.score,
                title: r.title,
                source: r.source,
                text: r.content,
                metadata: r.metadata,
            })
            .collect())
    }

    async fn upsert(&self, documents: &[ChunkedDocument]) -> AppResult<()> {
        self.store.replace(documents).await
    }

    async fn list(&self, limit: i64, offset: i64) -> AppResult<Vec<DocumentSummary>> {
        self.store.list(limit, offset).await
    }

    async fn delete(&self, id: &str) -> AppResult<bool> {
        Ok(self.store.delete(id).await? > 0)
    }
}
