ALTER TABLE api_keys DROP COLUMN requests_per_minute;
ALTER TABLE tenants DROP COLUMN monthly_token_budget, DROP COLUMN requests_per_minute;
