-- Tenant API keys for server-to-server callers. The key itself is never stored: `prefix` finds
-- the row, `key_hash` (HMAC-SHA256 under a key derived from SECRET_KEY) proves the rest.
CREATE TABLE api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE,
    key_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id);

-- Replicas drop cached keys when one is revoked.
CREATE FUNCTION api_keys_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('api_key_changed', COALESCE(NEW.prefix, OLD.prefix));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_notify_change AFTER UPDATE OF revoked_at, expires_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify_change();
