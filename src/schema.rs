// @generated-style: mirrors `migrations/`; regenerate with `diesel print-schema` after a change.

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Text,
        name -> Text,
        prefix -> Text,
        key_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        hash_scheme -> Text,
        requests_per_minute -> Nullable<Int4>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        target -> Text,
        tenant_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        changed_fields -> Array<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    documents (tenant_id, id, chunk) {
        tenant_id -> Text,
        id -> Text,
        chunk -> Int4,
        title -> Nullable<Text>,
        source -> Nullable<Text>,
        content -> Text,
        metadata -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        is_active -> Bool,
        system_prompt -> Nullable<Text>,
        retriever -> Text,
        pinecone_environment -> Nullable<Text>,
        pinecone_index_name -> Nullable<Text>,
        pinecone_index_host -> Nullable<Text>,
        pinecone_namespace -> Nullable<Text>,
        pinecone_api_key_enc -> Nullable<Bytea>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        requests_per_minute -> Nullable<Int4>,
        monthly_token_budget -> Nullable<Int8>,
    }
}

diesel::table! {
    usage_daily (tenant_id, day, model) {
        tenant_id -> Text,
        day -> Date,
        model -> Text,
        requests -> Int8,
        chat_requests -> Int8,
        retrievals -> Int8,
        prompt_tokens -> Int8,
        completion_tokens -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        tenant_id -> Nullable<Text>,
        is_superuser -> Bool,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(documents -> tenants (tenant_id));
diesel::joinable!(users -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_log,
    documents,
    tenants,
    usage_daily,
    users
);
