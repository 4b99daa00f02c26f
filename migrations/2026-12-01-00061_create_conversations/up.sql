-- Conversations kept by the gateway (DESIGN.md §11). `owner` is who created the conversation:
-- `user:<sub of the token>` or `key:<api key id>`; only that caller sees it.
CREATE TABLE conversations (
    id UUID PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    title TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- `GET /conversations`: the caller's own, newest first.
CREATE INDEX conversations_owner_idx ON conversations (tenant_id, owner, created_at DESC, id);
-- The retention task: everything not touched since a cut-off.
CREATE INDEX conversations_updated_at_idx ON conversations (updated_at);

-- One row per turn. `seq` orders the messages of a conversation (two rows written in one
-- transaction share `now()`); `id` is what the API shows.
CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content TEXT NOT NULL,
    sources JSONB,
    model TEXT,
    usage JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX messages_conversation_idx ON messages (conversation_id, seq);

-- The same row-level security as `documents`: tenant queries run as `tenantgate_tenant` with
-- `tenantgate.tenant_id` set for the transaction (see `retrieval::store::scope_to_tenant`).
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY conversations_tenant_isolation ON conversations
    USING (tenant_id = current_setting('tenantgate.tenant_id', TRUE))
    WITH CHECK (tenant_id = current_setting('tenantgate.tenant_id', TRUE));

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY messages_tenant_isolation ON messages
    USING (tenant_id = current_setting('tenantgate.tenant_id', TRUE))
    WITH CHECK (tenant_id = current_setting('tenantgate.tenant_id', TRUE));

GRANT SELECT, INSERT, UPDATE, DELETE ON conversations, messages TO tenantgate_tenant;
GRANT USAGE ON SEQUENCE messages_seq_seq TO tenantgate_tenant;
