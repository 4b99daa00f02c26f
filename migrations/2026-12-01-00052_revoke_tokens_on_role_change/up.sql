-- A change of role or organization revokes the user's tokens too (DESIGN §10).
CREATE OR REPLACE FUNCTION users_revoke_tokens() RETURNS trigger AS $$
DECLARE
    at TIMESTAMPTZ := clock_timestamp();
    target UUID;
    version BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        target := OLD.id;
        version := OLD.token_version + 1;
    -- The fields whose change revokes tokens. A new field that decides what a user may do
    -- (issue 12's `role`, `org_id`) is one more `OR NEW.x IS DISTINCT FROM OLD.x` line here.
    ELSIF NEW.is_active IS DISTINCT FROM OLD.is_active
        OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
        OR NEW.is_superuser IS DISTINCT FROM OLD.is_superuser
        OR NEW.role IS DISTINCT FROM OLD.role
        OR NEW.org_id IS DISTINCT FROM OLD.org_id
        OR NEW.id IS DISTINCT FROM OLD.id THEN
        NEW.token_version := OLD.token_version + 1;
        target := OLD.id;
        version := NEW.token_version;
    ELSE
        RETURN NEW;
    END IF;
    INSERT INTO user_token_revocations (user_id, token_version, revoked_at)
        VALUES (target, version, at)
        ON CONFLICT (user_id) DO UPDATE
            SET token_version = GREATEST(user_token_revocations.token_version, EXCLUDED.token_version),
                revoked_at = EXCLUDED.revoked_at;
    PERFORM pg_notify('user_changed',
        target || ' ' || version || ' ' || floor(extract(epoch FROM at))::bigint);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
