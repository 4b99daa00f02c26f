-- Chunks of documents for the built-in retriever. One row per chunk; `id` is the caller's
-- document id, scoped to its tenant.
CREATE TABLE documents (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    chunk INTEGER NOT NULL DEFAULT 0,
    title TEXT,
    source TEXT,
    content TEXT NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
    search_vector TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', content), 'B')
    ) STORED,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id, chunk)
);

CREATE INDEX documents_search_vector_idx ON documents USING GIN (search_vector);

-- Row-level security: tenant queries run as `tenantgate_tenant` (SET LOCAL ROLE) with
-- `tenantgate.tenant_id` set for the transaction, so even a query that forgets its
-- `WHERE tenant_id = …` sees only that tenant's rows. FORCE applies it to the table owner too
-- (superusers always bypass RLS, which is why the role switch is needed).
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;

CREATE POLICY documents_tenant_isolation ON documents
    USING (tenant_id = current_setting('tenantgate.tenant_id', TRUE))
    WITH CHECK (tenant_id = current_setting('tenantgate.tenant_id', TRUE));

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantgate_tenant') THEN
        CREATE ROLE tenantgate_tenant NOLOGIN;
    END IF;
END
$$;

GRANT tenantgate_tenant TO CURRENT_USER;
GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO tenantgate_tenant;
