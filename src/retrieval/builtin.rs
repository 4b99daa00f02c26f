//! `retriever: builtin`: Postgres full-text search over the tenant's chunks in `documents`.
//!
//! The query is parsed by `websearch_to_tsquery('english', …)` (quoted phrases, `or`, `-word`,
//! never a syntax error) and matched against the generated `search_vector` (title weighted
//! above content) through its GIN index; `ts_rank_cd` orders the matches, best first. Plain
//! questions also match passages holding only some of their words, ranked below the passages
//! holding all of them (see `SEARCH_SQL`).

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Float, Jsonb, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::store::{DocumentStore, scope_to_tenant_for_reading};
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

/// Matches best first. `strict` is the query as web-search syntax (every word required,
/// quoted phrases, `or`, `-word`). A plain question ("how much do rocket skates cost?") rarely
/// has every word in one passage, so for queries without operators `loose` also accepts
/// passages with only some of the words: they rank below every strict match (scores in
/// [0.5, 1) for strict matches, [0, 0.5) for the rest). Queries with operators stay strict, so
/// `-word` still excludes. Normalisation 32 maps a rank r to r / (r + 1), into [0, 1).
const SEARCH_SQL: &str = "\
    SELECT d.id, d.title, d.source, d.content, d.metadata, \
           (CASE WHEN d.search_vector @@ q.strict \
                 THEN 0.5 + 0.5 * ts_rank_cd(d.search_vector, q.strict, 32) \
                 ELSE 0.5 * ts_rank_cd(d.search_vector, q.loose, 32) END)::real AS score \
      FROM documents d, \
           (SELECT websearch_to_tsquery('english', $2) AS strict, \
                   CASE WHEN $4 \
                        THEN replace(plainto_tsquery('english', $2)::text, ' & ', ' | ')::tsquery \
                        ELSE websearch_to_tsquery('english', $2) END AS loose) AS q \
     WHERE d.tenant_id = $1 AND d.search_vector @@ q.loose \
     ORDER BY score DESC, d.id, d.chunk \
     LIMIT $3";

/// Whether `query` uses web-search operators: a quoted phrase, `or`, or an excluded `-word`.
fn uses_operators(query: &str) -> bool {
    query.contains('"')
        || query
            .split_whitespace()
            .any(|w| w.starts_with('-') || w.eq_ignore_ascii_case("or"))
}

#[async_trait]
impl Retriever for BuiltinRetriever {
    fn kind(&self) -> RetrieverKind {
        RetrieverKind::Builtin
    }

    async fn search(&self, query: &str, top_k: usize) -> AppResult<Vec<Passage>> {
        // Every caller clips already; this keeps the bound for any future one.
        let query = crate::routes::search::clip_query(query);
        let tenant = self.store.tenant_id();
        let limit = i64::try_from(top_k).unwrap_or(i64::MAX);
        let timeout = self.store.limits().statement_timeout;
        let mut conn = self.store.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let rows: Vec<MatchRow> = conn
            .transaction(async |conn| {
                scope_to_tenant_for_reading(conn, tenant, timeout).await?;
                diesel::sql_query(SEARCH_SQL)
                    .bind::<Text, _>(tenant)
                    .bind::<Text, _>(query)
                    .bind::<BigInt, _>(limit)
                    .bind::<Bool, _>(!uses_operators(query))
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

#[cfg(test)]
mod tests {
    use super::uses_operators;

    #[test]
    fn operators_are_recognised() {
        assert!(!uses_operators("how much do rocket skates cost?"));
        assert!(!uses_operators("well-known e-mail policy"));
        assert!(uses_operators("\"bird seed\""));
        assert!(uses_operators("rocket -skates"));
        assert!(uses_operators("anvils OR rockets"));
    }
}
