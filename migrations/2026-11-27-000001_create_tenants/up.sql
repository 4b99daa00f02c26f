-- Tenants: one row per customer of the gateway.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY
        CONSTRAINT tenants_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    system_prompt TEXT,
    retriever TEXT NOT NULL DEFAULT 'builtin'
        CONSTRAINT tenants_retriever_kind CHECK (retriever IN ('builtin', 'pinecone', 'none')),
    pinecone_environment TEXT,
    pinecone_index_name TEXT,
    pinecone_index_host TEXT,
    pinecone_namespace TEXT,
    pinecone_api_key_enc BYTEA,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every update bumps `version` and `updated_at`, whoever makes it (API, CLI, key rotation),
-- so tenant caches can tell a newer row from an older one.
CREATE FUNCTION tenants_bump_version() RETURNS trigger AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenants_bump_version BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_bump_version();

-- The updating transaction tells every replica (LISTEN tenant_changed) which tenant changed and
-- its new version; Postgres delivers the notification only when the transaction commits.
CREATE FUNCTION tenants_notify_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tenant_changed', OLD.id || ' ' || (OLD.version + 1));
    ELSE
        PERFORM pg_notify('tenant_changed', NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenants_notify_change AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_notify_change();
