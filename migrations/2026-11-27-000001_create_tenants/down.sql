DROP TABLE tenants;
DROP FUNCTION tenants_notify_change();
DROP FUNCTION tenants_bump_version();
