DROP TRIGGER api_keys_notify_change ON api_keys;
CREATE TRIGGER api_keys_notify_change AFTER UPDATE OF revoked_at, expires_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify_change();
-- Keys re-hashed with SHA-256 do not work under the previous code; down is for development only.
ALTER TABLE api_keys DROP COLUMN hash_scheme;
