DROP INDEX tenants_id_lower_key;
