-- Per-tenant search language (a Postgres text search configuration) for the built-in retriever.
-- A tenant's chunks carry the tenant's language in `documents.language`, and `search_vector` is
-- built with it. The CASE maps the text column to constant configurations, which keeps the
-- generated expression immutable (a `language::regconfig` cast would not be). The list is the
-- configurations PostgreSQL 15 ships; the application checks names against the same list.
ALTER TABLE tenants ADD COLUMN search_language TEXT NOT NULL DEFAULT 'english'
    CONSTRAINT tenants_search_language_check CHECK (search_language IN ('arabic', 'armenian', 'basque', 'catalan', 'danish', 'dutch', 'english', 'finnish', 'french', 'german', 'greek', 'hindi', 'hungarian', 'indonesian', 'irish', 'italian', 'lithuanian', 'nepali', 'norwegian', 'portuguese', 'romanian', 'russian', 'serbian', 'simple', 'spanish', 'swedish', 'tamil', 'turkish', 'yiddish'));

ALTER TABLE documents ADD COLUMN language TEXT NOT NULL DEFAULT 'english';
DROP INDEX documents_search_vector_idx;
ALTER TABLE documents DROP COLUMN search_vector;
ALTER TABLE documents ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector(CASE language WHEN 'arabic' THEN 'arabic'::regconfig WHEN 'armenian' THEN 'armenian'::regconfig WHEN 'basque' THEN 'basque'::regconfig WHEN 'catalan' THEN 'catalan'::regconfig WHEN 'danish' THEN 'danish'::regconfig WHEN 'dutch' THEN 'dutch'::regconfig WHEN 'finnish' THEN 'finnish'::regconfig WHEN 'french' THEN 'french'::regconfig WHEN 'german' THEN 'german'::regconfig WHEN 'greek' THEN 'greek'::regconfig WHEN 'hindi' THEN 'hindi'::regconfig WHEN 'hungarian' THEN 'hungarian'::regconfig WHEN 'indonesian' THEN 'indonesian'::regconfig WHEN 'irish' THEN 'irish'::regconfig WHEN 'italian' THEN 'italian'::regconfig WHEN 'lithuanian' THEN 'lithuanian'::regconfig WHEN 'nepali' THEN 'nepali'::regconfig WHEN 'norwegian' THEN 'norwegian'::regconfig WHEN 'portuguese' THEN 'portuguese'::regconfig WHEN 'romanian' THEN 'romanian'::regconfig WHEN 'russian' THEN 'russian'::regconfig WHEN 'serbian' THEN 'serbian'::regconfig WHEN 'simple' THEN 'simple'::regconfig WHEN 'spanish' THEN 'spanish'::regconfig WHEN 'swedish' THEN 'swedish'::regconfig WHEN 'tamil' THEN 'tamil'::regconfig WHEN 'turkish' THEN 'turkish'::regconfig WHEN 'yiddish' THEN 'yiddish'::regconfig ELSE 'english'::regconfig END, coalesce(title, '')), 'A') ||
    setweight(to_tsvector(CASE language WHEN 'arabic' THEN 'arabic'::regconfig WHEN 'armenian' THEN 'armenian'::regconfig WHEN 'basque' THEN 'basque'::regconfig WHEN 'catalan' THEN 'catalan'::regconfig WHEN 'danish' THEN 'danish'::regconfig WHEN 'dutch' THEN 'dutch'::regconfig WHEN 'finnish' THEN 'finnish'::regconfig WHEN 'french' THEN 'french'::regconfig WHEN 'german' THEN 'german'::regconfig WHEN 'greek' THEN 'greek'::regconfig WHEN 'hindi' THEN 'hindi'::regconfig WHEN 'hungarian' THEN 'hungarian'::regconfig WHEN 'indonesian' THEN 'indonesian'::regconfig WHEN 'irish' THEN 'irish'::regconfig WHEN 'italian' THEN 'italian'::regconfig WHEN 'lithuanian' THEN 'lithuanian'::regconfig WHEN 'nepali' THEN 'nepali'::regconfig WHEN 'norwegian' THEN 'norwegian'::regconfig WHEN 'portuguese' THEN 'portuguese'::regconfig WHEN 'romanian' THEN 'romanian'::regconfig WHEN 'russian' THEN 'russian'::regconfig WHEN 'serbian' THEN 'serbian'::regconfig WHEN 'simple' THEN 'simple'::regconfig WHEN 'spanish' THEN 'spanish'::regconfig WHEN 'swedish' THEN 'swedish'::regconfig WHEN 'tamil' THEN 'tamil'::regconfig WHEN 'turkish' THEN 'turkish'::regconfig WHEN 'yiddish' THEN 'yiddish'::regconfig ELSE 'english'::regconfig END, content), 'B')
) STORED;
CREATE INDEX documents_search_vector_idx ON documents USING GIN (search_vector);

-- The words as typed (no stemming, no stop words): what a query made only of stop words
-- ("the", "how to") falls back to.
ALTER TABLE documents ADD COLUMN simple_vector TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', coalesce(title, '')), 'A') ||
    setweight(to_tsvector('simple', content), 'B')
) STORED;
CREATE INDEX documents_simple_vector_idx ON documents USING GIN (simple_vector);
