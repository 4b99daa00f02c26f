CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    tenant_id TEXT REFERENCES tenants (id) ON DELETE SET NULL,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Emails are unique whatever their case; logins match on lower(email).
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_tenant_id_idx ON users (tenant_id);
