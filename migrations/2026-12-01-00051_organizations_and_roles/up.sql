-- Organizations group tenants; users get roles (DESIGN §10); API keys get scopes; audit entries
-- name the impersonator of an impersonated request.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY
        CONSTRAINT organizations_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The same bump as tenants: every update increments `version` and sets `updated_at`.
CREATE TRIGGER organizations_bump_version BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION tenants_bump_version();

ALTER TABLE tenants ADD COLUMN org_id TEXT REFERENCES organizations (id);
CREATE INDEX tenants_org_id_idx ON tenants (org_id);

-- (De)activating an organization touches its tenants: their own triggers bump each version and
-- send `tenant_changed`, so every replica drops them within a second, through the one
-- mechanism tenants already use. The tenant loader reads the organization's flag.
CREATE FUNCTION organizations_touch_tenants() RETURNS trigger AS $$
BEGIN
    IF NEW.is_active IS DISTINCT FROM OLD.is_active THEN
        UPDATE tenants SET updated_at = now() WHERE org_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER organizations_touch_tenants AFTER UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION organizations_touch_tenants();

ALTER TABLE users
    ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
        CONSTRAINT users_role_kind CHECK (role IN ('superuser', 'org_admin', 'tenant_admin', 'member')),
    ADD COLUMN org_id TEXT REFERENCES organizations (id);
UPDATE users SET role = 'superuser' WHERE is_superuser;
CREATE INDEX users_org_id_idx ON users (org_id);

-- `is_superuser` stays (JSON, older tools) and is true exactly when role = 'superuser'. A write
-- that changes `role` wins; one that changes only `is_superuser` (e.g. `users promote`, or an
-- older replica during a rolling deploy) sets the role to match.
CREATE FUNCTION users_sync_role() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_superuser AND NEW.role = 'member' THEN
            NEW.role := 'superuser';
        END IF;
    ELSIF NEW.role IS NOT DISTINCT FROM OLD.role
        AND NEW.is_superuser IS DISTINCT FROM OLD.is_superuser THEN
        NEW.role := CASE WHEN NEW.is_superuser THEN 'superuser' ELSE 'member' END;
    END IF;
    NEW.is_superuser := (NEW.role = 'superuser');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_sync_role BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_sync_role();

ALTER TABLE api_keys ADD COLUMN scopes TEXT[] NOT NULL
    DEFAULT ARRAY['chat', 'search', 'documents:read', 'documents:write', 'usage:read'];

ALTER TABLE audit_log ADD COLUMN impersonator TEXT;
