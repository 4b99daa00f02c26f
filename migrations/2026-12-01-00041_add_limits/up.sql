-- Request limits and token budgets (DESIGN.md §9). NULL on a tenant's limit means the server's
-- TENANT_REQUESTS_PER_MINUTE (unset: unlimited); NULL on a key's means only the tenant's applies;
-- NULL budget means none.
ALTER TABLE tenants
    ADD COLUMN requests_per_minute INTEGER
        CONSTRAINT tenants_requests_per_minute_positive CHECK (requests_per_minute > 0),
    ADD COLUMN monthly_token_budget BIGINT
        CONSTRAINT tenants_monthly_token_budget_nonnegative CHECK (monthly_token_budget >= 0);

ALTER TABLE api_keys
    ADD COLUMN requests_per_minute INTEGER
        CONSTRAINT api_keys_requests_per_minute_positive CHECK (requests_per_minute > 0);
