//! `retriever: builtin`: Postgres full-text search over the tenant's chunks in `documents`.
//!
//! What a person types into a search box is matched three ways (docs/retrieval.md says more):
//! - in the tenant's `search_language` (a Postgres text search configuration: stemming and stop
//!   words of that language) against `search_vector`, which each chunk builds in the language
//!   stored on its row (the tenant's, kept in step by `services::tenants::update`);
//! - the last word as a prefix (`passw` finds `password`), as search boxes do while typing;
//! - a query made only of stop words (`the`, `how to`) has no lexeme left in its language, so it
//!   falls back to the `simple` configuration (words as typed) against `simple_vector`.
//!
//! Quoted phrases, `or` and `-word` keep web-search semantics (`websearch_to_tsquery`). Every
//! input is a bound parameter; the query is cut to `MAX_QUERY_TERMS` words of at most
//! `MAX_QUERY_CHARS` characters before it reaches Postgres. `ts_rank_cd` orders the matches.

use std::sync::LazyLock;

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Float, Jsonb, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::store::{DocumentStore, scope_to_tenant_for_reading};
use super::{ChunkedDocument, DocumentSummary, Passage, Retriever};
use crate::errors::{AppError, AppResult};
use crate::store::models::tenant::RetrieverKind;

/// The text search configurations a tenant may choose: those PostgreSQL 15 ships. The
/// migration `2026-12-01-00062_search_language` maps the same names in `search_vector`.
pub const SEARCH_LANGUAGES: &[&str] = &[
    "arabic",
    "armenian",
    "basque",
    "catalan",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "simple",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
    "yiddish",
];

/// The configuration named `raw` (case-insensitive), as its canonical static name.
pub fn search_language(raw: &str) -> Option<&'static str> {
    SEARCH_LANGUAGES
        .iter()
        .find(|name| name.eq_ignore_ascii_case(raw))
        .copied()
}

/// At most this many words of a query reach Postgres (a question is a dozen).
pub const MAX_QUERY_TERMS: usize = 32;
/// At most this many characters of a query reach Postgres.
pub const MAX_QUERY_CHARS: usize = 1000;

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

/// The tsqueries of one configuration `cfg`. Parameters: $2 the (bounded) query, $4 whether it
/// uses operators, $5 every word but the last, $6 the last word when it may be a prefix.
/// `strict`: every word (the last as a prefix); `loose`: any of them. With operators both are
/// the web-search parse, so `-word` still excludes.
fn tsqueries(cfg: &str) -> String {
    let prefix = format!(
        "(CASE WHEN numnode(plainto_tsquery({cfg}, $6)) = 1 \
              THEN (plainto_tsquery({cfg}, $6)::text || ':*')::tsquery \
              ELSE plainto_tsquery({cfg}, $6) END)"
    );
    format!(
        "CASE WHEN $4 THEN websearch_to_tsquery({cfg}, $2) \
              ELSE plainto_tsquery({cfg}, $5) && {prefix} END, \
         CASE WHEN $4 THEN websearch_to_tsquery({cfg}, $2) \
              ELSE replace(plainto_tsquery({cfg}, $5)::text, ' & ', ' | ')::tsquery || {prefix} END"
    )
}

/// One arm of the search: matches of `loose` in `vector`, those matching `strict` too ranked
/// above the rest (scores in [0.5, 1) for strict matches, [0, 0.5) for the others;
/// normalisation 32 maps a rank r to r / (r + 1)).
fn arm(vector: &str, strict: &str, loose: &str, when: &str) -> String {
    format!(
        "SELECT d.id, d.chunk, d.title, d.source, d.content, d.metadata, \
                (CASE WHEN d.{vector} @@ q.{strict} \
                      THEN 0.5 + 0.5 * ts_rank_cd(d.{vector}, q.{strict}, 32) \
                      ELSE 0.5 * ts_rank_cd(d.{vector}, q.{loose}, 32) END)::real AS score \
           FROM documents d, q \
          WHERE d.tenant_id = $1 AND {when} AND d.{vector} @@ q.{loose}"
    )
}

/// Built once from constants (never from input). $7 is the tenant's configuration name.
static SEARCH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH q AS ( \
             SELECT s.*, numnode(s.loose) = 0 AS fallback \
               FROM (SELECT {lang}, {simple}) AS s(strict, loose, sstrict, sloose)) \
         SELECT id, title, source, content, metadata, score FROM ( \
             {native} UNION ALL {fallback}) m \
          ORDER BY score DESC, id, chunk \
          LIMIT $3",
        lang = tsqueries("$7::regconfig"),
        simple = tsqueries("'simple'::regconfig"),
        native = arm("search_vector", "strict", "loose", "NOT q.fallback"),
        fallback = arm("simple_vector", "sstrict", "sloose", "q.fallback"),
    )
});

/// A query cut to its bounds, split for `SEARCH_SQL`.
#[derive(Debug, PartialEq, Eq)]
struct QueryParts {
    /// The words, space-separated (what the web-search parse reads).
    text: String,
    /// Every word but the last (all of them when the last cannot be a prefix).
    head: String,
    /// The last word, matched as a prefix; empty when there is none.
    last: String,
}

fn query_parts(query: &str) -> QueryParts {
    let mut words: Vec<&str> = Vec::new();
    let mut chars = 0;
    for word in query.split_whitespace().take(MAX_QUERY_TERMS) {
        let n = word.chars().count();
        if chars + n > MAX_QUERY_CHARS {
            break;
        }
        chars += n + 1;
        words.push(word);
    }
    let text = words.join(" ");
    // A word of letters and digits (trailing punctuation aside) may be unfinished: the prefix
    // applies. Anything else ("e-mail", "C++") is matched as it is.
    let last = words
        .last()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 2 && w.chars().all(char::is_alphanumeric));
    match last {
        Some(last) => QueryParts {
            head: words[..words.len() - 1].join(" "),
            last: last.to_owned(),
            text,
        },
        None => QueryParts {
            head: text.clone(),
            last: String::new(),
            text,
        },
    }
}

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
        let query = crate::rag::prompt::clip_query(query);
        let tenant = self.store.tenant_id();
        let language = self.store.language();
        let limit = i64::try_from(top_k).unwrap_or(i64::MAX);
        let parts = query_parts(query);
        let operators = uses_operators(&parts.text);
        let timeout = self.store.limits().statement_timeout;
        let mut conn = self.store.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let rows: Vec<MatchRow> = conn
            .transaction(async |conn| {
                scope_to_tenant_for_reading(conn, tenant, timeout).await?;
                diesel::sql_query(SEARCH_SQL.as_str())
                    .bind::<Text, _>(tenant)
                    .bind::<Text, _>(&parts.text)
                    .bind::<BigInt, _>(limit)
                    .bind::<Bool, _>(operators)
                    .bind::<Text, _>(&parts.head)
                    .bind::<Text, _>(&parts.last)
                    .bind::<Text, _>(language)
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
    use super::{MAX_QUERY_TERMS, QueryParts, query_parts, search_language, uses_operators};

    #[test]
    fn the_last_word_is_a_prefix_when_it_is_a_plain_word() {
        assert_eq!(
            query_parts("  reset my passw? "),
            QueryParts {
                text: "reset my passw?".into(),
                head: "reset my".into(),
                last: "passw".into(),
            }
        );
        assert_eq!(query_parts("e-mail").last, "");
        assert_eq!(query_parts("e-mail").head, "e-mail");
        assert_eq!(query_parts("").text, "");
    }

    #[test]
    fn queries_are_cut_to_their_bounds() {
        let long = "word ".repeat(500);
        assert_eq!(query_parts(&long).text.split(' ').count(), MAX_QUERY_TERMS);
        let huge = "x".repeat(5000);
        assert_eq!(query_parts(&huge).text, "");
    }

    #[test]
    fn languages_are_checked_against_the_list() {
        assert_eq!(search_language("German"), Some("german"));
        assert_eq!(search_language("simple"), Some("simple"));
        assert_eq!(search_language("klingon"), None);
        assert_eq!(search_language("english'); DROP TABLE x; --"), None);
    }

    #[test]
    fn operators_are_recognised() {
        assert!(!uses_operators("how much do rocket skates cost?"));
        assert!(!uses_operators("well-known e-mail policy"));
        assert!(uses_operators("\"bird seed\""));
        assert!(uses_operators("rocket -skates"));
        assert!(uses_operators("anvils OR rockets"));
    }
}
