-- One normalisation of emails, computed by the gateway (NFKC + Unicode lowercase, see
-- `domain::email_key`) and matched exactly: Postgres `lower()` lowercases non-ASCII letters
-- differently from Rust, which let `vİctim@…` log in through its own throttle bucket.
-- Existing rows get the SQL equivalent; `tenantgate migrate` then recomputes the rows whose
-- email is not plain ASCII with the gateway's own function.
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(normalize(email, NFKC));
ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
