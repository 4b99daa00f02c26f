-- Tenant ids that differ only in case (`CLIENTA`, `clienta`) are one tenant to frontends and
-- identity providers: refuse the second (409). Tenant ids are ASCII, so `lower()` is exact.
CREATE UNIQUE INDEX tenants_id_lower_key ON tenants (lower(id));
