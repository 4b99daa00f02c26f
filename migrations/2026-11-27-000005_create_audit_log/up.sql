-- Who changed what, when. Field *names* only: never a value, so never a secret.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    tenant_id TEXT,
    request_id TEXT,
    changed_fields TEXT[] NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at DESC);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
