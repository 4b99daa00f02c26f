DROP INDEX documents_simple_vector_idx;
ALTER TABLE documents DROP COLUMN simple_vector;
DROP INDEX documents_search_vector_idx;
ALTER TABLE documents DROP COLUMN search_vector;
ALTER TABLE documents ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
    setweight(to_tsvector('english', content), 'B')
) STORED;
CREATE INDEX documents_search_vector_idx ON documents USING GIN (search_vector);
ALTER TABLE documents DROP COLUMN language;
ALTER TABLE tenants DROP COLUMN search_language;
