ALTER TABLE audit_log DROP COLUMN impersonator;
ALTER TABLE api_keys DROP COLUMN scopes;
DROP TRIGGER users_sync_role ON users;
DROP FUNCTION users_sync_role();
ALTER TABLE users DROP COLUMN org_id, DROP COLUMN role;
DROP TRIGGER organizations_touch_tenants ON organizations;
DROP FUNCTION organizations_touch_tenants();
ALTER TABLE tenants DROP COLUMN org_id;
DROP TABLE organizations;
