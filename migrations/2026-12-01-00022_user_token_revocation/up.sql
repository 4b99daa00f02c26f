-- Revoking a user's tokens when who they are changes (deactivated, deleted, moved to another
-- tenant, superuser status changed). Every such change bumps `users.token_version`; tokens from
-- `/auth/token` carry the version they were issued under (`ver`) and are refused below the
-- current one. Every replica learns of a change within a second (NOTIFY user_changed
-- "<id> <version> <epoch seconds>") and at start-up reads `user_token_revocations`, which keeps
-- one row per changed user (surviving the user's deletion), so no request reads the database.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE user_token_revocations (
    user_id UUID PRIMARY KEY,
    token_version BIGINT NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_token_revocations_revoked_at_idx ON user_token_revocations (revoked_at);

CREATE FUNCTION users_revoke_tokens() RETURNS trigger AS $$
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

CREATE TRIGGER users_revoke_tokens BEFORE UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_revoke_tokens();
