-- API-key hashes no longer depend on SECRET_KEY (a rotation retires it): new keys store a plain
-- SHA-256 of the 256-bit random key. Keys made before this change keep their HMAC under a
-- SECRET_KEY subkey and are re-hashed the first time each is used; `secrets rotate` counts the
-- ones left and does not say the old SECRET_KEY may go while any remain.
ALTER TABLE api_keys
    ADD COLUMN hash_scheme TEXT NOT NULL DEFAULT 'sha256'
        CONSTRAINT api_keys_hash_scheme_check CHECK (hash_scheme IN ('sha256', 'hmac-sha256-v1'));
UPDATE api_keys SET hash_scheme = 'hmac-sha256-v1';

-- A key created on another replica drops a cached "unknown prefix" answer at once.
DROP TRIGGER api_keys_notify_change ON api_keys;
CREATE TRIGGER api_keys_notify_change AFTER INSERT OR UPDATE OF revoked_at, expires_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify_change();
