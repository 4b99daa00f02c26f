DROP TABLE api_keys;
DROP FUNCTION api_keys_notify_change();
