-- Usage per tenant, UTC day and model (DESIGN.md §9). Replicas add their buffered counts with
-- additive upserts (`requests = usage_daily.requests + EXCLUDED.requests`), so two replicas never
-- overwrite each other. `model` is '' for requests that called no model (search, documents…).
-- No foreign key to tenants: a batch must never fail on one row; tenants are deactivated, not
-- deleted.
CREATE TABLE usage_daily (
    tenant_id TEXT NOT NULL,
    day DATE NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    requests BIGINT NOT NULL DEFAULT 0,
    chat_requests BIGINT NOT NULL DEFAULT 0,
    retrievals BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, model)
);

CREATE INDEX usage_daily_day_idx ON usage_daily (day);
