DROP TRIGGER users_revoke_tokens ON users;
DROP FUNCTION users_revoke_tokens();
DROP TABLE user_token_revocations;
ALTER TABLE users DROP COLUMN token_version;
