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
        scopes -> Array<Text>,
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
        impersonator -> Nullable<Text>,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        tenant_id -> Text,
        owner -> Text,
        title -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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
        language -> Text,
    }
}

diesel::table! {
    messages (seq) {
        seq -> Int8,
        id -> Uuid,
        conversation_id -> Uuid,
        tenant_id -> Text,
        role -> Text,
        content -> Text,
        sources -> Nullable<Jsonb>,
        model -> Nullable<Text>,
        usage -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        is_active -> Bool,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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
        org_id -> Nullable<Text>,
        search_language -> Text,
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
        token_version -> Int8,
        role -> Text,
        org_id -> Nullable<Text>,
        email_key -> Text,
    }
}

diesel::table! {
    user_token_revocations (user_id) {
        user_id -> Uuid,
        token_version -> Int8,
        revoked_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(conversations -> tenants (tenant_id));
diesel::joinable!(documents -> tenants (tenant_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(tenants -> organizations (org_id));
diesel::joinable!(users -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_log,
    conversations,
    documents,
    messages,
    organizations,
    tenants,
    usage_daily,
    user_token_revocations,
    users,
);
