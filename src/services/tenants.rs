//! Creating, reading, updating and deactivating tenants.
//!
//! Every write runs in a transaction with its audit entry; the database trigger bumps
//! `version` and sends the `tenant_changed` notification on commit (see the migration), and
//! the write tells this replica's cache itself after the commit (`Caches`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use secrecy::SecretString;
use serde::Deserialize;

use super::OrNotFound;
use super::audit::{self, Actor, Change};
use super::caches::Caches;
use super::{check_name, double_option};
use crate::domain::TenantId;
use crate::errors::{AppError, AppResult, FieldError};
use crate::identity::authz::{Scope, TenantFilter};
use crate::secrets::{KeyRing, SecretSlot};
use crate::store::models::tenant::{
    NewTenant, PINECONE_API_KEY_FIELD, RetrieverKind, Tenant, TenantChanges,
};
use crate::store::schema::tenants;

const MAX_PROMPT: usize = 32_000;
const MAX_SETTING: usize = 512;

/// `POST /admin/tenants` and `tenantgate tenants create`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateTenant {
    pub id: String,
    pub name: String,
    pub system_prompt: Option<String>,
    /// `builtin`, `pinecone` or `none`; defaults to `pinecone` when a Pinecone key is given.
    pub retriever: Option<String>,
    pub pinecone_environment: Option<String>,
    pub pinecone_index_name: Option<String>,
    /// A host name (https implied) or a full URL such as `http://127.0.0.1:9000`.
    pub pinecone_index_host: Option<String>,
    pub pinecone_namespace: Option<String>,
    /// Stored encrypted; never returned.
    #[schema(value_type = Option<String>, format = Password)]
    pub pinecone_api_key: Option<SecretString>,
    pub is_active: Option<bool>,
    /// The built-in retriever's text search configuration: `english` (default), `simple`,
    /// `german`, `french`, `spanish`, … (see docs/retrieval.md).
    pub search_language: Option<String>,
    /// Requests per minute for the whole tenant (1 or more); absent: `TENANT_REQUESTS_PER_MINUTE`.
    pub requests_per_minute: Option<i64>,
    /// Prompt + completion tokens per UTC month on the chat routes; absent: no budget.
    pub monthly_token_budget: Option<i64>,
    /// The organization (superusers; an org admin's tenants land in its own).
    #[serde(default)]
    pub org_id: Option<String>,
}

/// `PUT`/`PATCH /admin/tenants/{id}`: absent fields are kept, `null` clears a nullable one.
/// Unknown fields are refused (a misspelt `nmae` must not answer 200 having changed nothing);
/// the read-only fields of the tenant JSON are accepted and ignored, so a client may send back
/// a tenant it read, and `id` is accepted only when it is the tenant's own.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// Read-only: must be the id in the path when sent.
    #[serde(default)]
    #[schema(value_type = Option<String>, read_only)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(ignore)]
    pub has_pinecone_api_key: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub version: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub is_active: Option<Option<bool>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub retriever: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub pinecone_environment: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub pinecone_index_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub pinecone_index_host: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub pinecone_namespace: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub search_language: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Password)]
    pub pinecone_api_key: Option<Option<SecretString>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub requests_per_minute: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub monthly_token_budget: Option<Option<i64>>,
    /// Moves the tenant to another organization (`null`: none). Superusers only.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub org_id: Option<Option<String>>,
}

impl UpdateTenant {
    /// Names of the fields present, for permission checks.
    pub fn present_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        for (set, name) in [
            (self.name.is_some(), "name"),
            (self.is_active.is_some(), "is_active"),
            (self.system_prompt.is_some(), "system_prompt"),
            (self.retriever.is_some(), "retriever"),
            (self.pinecone_environment.is_some(), "pinecone_environment"),
            (self.pinecone_index_name.is_some(), "pinecone_index_name"),
            (self.pinecone_index_host.is_some(), "pinecone_index_host"),
            (self.pinecone_namespace.is_some(), "pinecone_namespace"),
            (self.pinecone_api_key.is_some(), "pinecone_api_key"),
            (self.org_id.is_some(), "org_id"),
            (self.requests_per_minute.is_some(), "requests_per_minute"),
            (self.monthly_token_budget.is_some(), "monthly_token_budget"),
        ] {
            if set {
                fields.push(name);
            }
        }
        fields
    }
}

/// A requests-per-minute setting: 1 to 1,000,000,000.
pub fn check_requests_per_minute(errors: &mut Vec<FieldError>, value: Option<i64>) -> Option<i32> {
    let value = value?;
    match i32::try_from(value) {
        Ok(v) if (1..=1_000_000_000).contains(&v) => Some(v),
        _ => {
            errors.push(FieldError::new(
                "requests_per_minute",
                "must be between 1 and 1000000000",
            ));
            None
        }
    }
}

fn check_budget(errors: &mut Vec<FieldError>, value: Option<i64>) -> Option<i64> {
    let value = value?;
    if value < 0 {
        errors.push(FieldError::new("monthly_token_budget", "must be 0 or more"));
        return None;
    }
    Some(value)
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

/// A Pinecone index host: a bare host name or an http(s) URL.
pub fn check_index_host(value: &str) -> Result<(), String> {
    let candidate = crate::rag::retrieval::pinecone::with_scheme(value);
    match url::Url::parse(&candidate) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        _ => Err("must be a host name or an http(s) URL".to_owned()),
    }
}

fn check_settings(errors: &mut Vec<FieldError>, field: &str, value: &Option<String>) {
    if let Some(v) = value {
        check_text(errors, field, v, MAX_SETTING);
        if field == "pinecone_index_host"
            && let Err(message) = check_index_host(v)
        {
            errors.push(FieldError::new(field, message));
        }
    }
}

fn parse_retriever(errors: &mut Vec<FieldError>, raw: &str) -> Option<RetrieverKind> {
    let kind = RetrieverKind::parse(raw);
    if kind.is_none() {
        errors.push(FieldError::new(
            "retriever",
            "must be builtin, pinecone or none",
        ));
    }
    kind
}

fn parse_language(errors: &mut Vec<FieldError>, raw: &str) -> Option<&'static str> {
    let language = crate::rag::retrieval::builtin::search_language(raw.trim());
    if language.is_none() {
        errors.push(FieldError::new(
            "search_language",
            format!(
                "must be a text search configuration: {}",
                crate::rag::retrieval::builtin::SEARCH_LANGUAGES.join(", ")
            ),
        ));
    }
    language
}

fn empty_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn encrypt(keys: &KeyRing, tenant_id: &str, secret: &SecretString) -> Vec<u8> {
    keys.encrypt(
        SecretSlot {
            tenant_id,
            field: PINECONE_API_KEY_FIELD,
        },
        secret,
    )
}

/// A pinecone retriever needs its key; none given means pinecone when a key is, else builtin.
fn create_retriever(
    errors: &mut Vec<FieldError>,
    raw: Option<&str>,
    has_key: bool,
) -> Option<RetrieverKind> {
    let retriever = match raw {
        Some(raw) => parse_retriever(errors, raw),
        None if has_key => Some(RetrieverKind::Pinecone),
        None => Some(RetrieverKind::Builtin),
    };
    // No index name or host is fine: the server's PINECONE_INDEX_NAME, or a 502 at retrieval
    // naming what to set (the walkthrough's body names neither).
    if retriever == Some(RetrieverKind::Pinecone) && !has_key {
        errors.push(FieldError::new(
            "pinecone_api_key",
            "is required with the pinecone retriever",
        ));
    }
    retriever
}

/// The row a create writes, or every field error of `input` at once.
fn new_tenant(keys: &KeyRing, input: CreateTenant) -> AppResult<NewTenant> {
    use secrecy::ExposeSecret;
    let mut errors = Vec::new();
    let id = TenantId::parse(&input.id)
        .map_err(|message| errors.push(FieldError::new("id", message)))
        .ok();
    let name = input.name.trim().to_owned();
    check_name(&mut errors, &name);
    if let Some(prompt) = &input.system_prompt {
        check_text(&mut errors, "system_prompt", prompt, MAX_PROMPT);
    }
    let environment = empty_to_none(input.pinecone_environment);
    let index_name = empty_to_none(input.pinecone_index_name);
    let index_host = empty_to_none(input.pinecone_index_host);
    let namespace = input.pinecone_namespace.map(|v| v.trim().to_owned());
    check_settings(&mut errors, "pinecone_environment", &environment);
    check_settings(&mut errors, "pinecone_index_name", &index_name);
    check_settings(&mut errors, "pinecone_index_host", &index_host);
    check_settings(&mut errors, "pinecone_namespace", &namespace);
    let api_key = input
        .pinecone_api_key
        .filter(|k| !k.expose_secret().trim().is_empty());
    let retriever = create_retriever(&mut errors, input.retriever.as_deref(), api_key.is_some());
    let search_language = match input.search_language.as_deref() {
        Some(raw) => parse_language(&mut errors, raw).unwrap_or("english"),
        None => "english",
    };
    let requests_per_minute = check_requests_per_minute(&mut errors, input.requests_per_minute);
    let monthly_token_budget = check_budget(&mut errors, input.monthly_token_budget);
    let Some(id) = id.filter(|_| errors.is_empty()) else {
        return Err(AppError::invalid_fields(errors));
    };
    Ok(NewTenant {
        search_language: search_language.to_owned(),
        requests_per_minute,
        monthly_token_budget,
        pinecone_api_key_enc: api_key.as_ref().map(|k| encrypt(keys, id.as_str(), k)),
        id,
        name,
        is_active: input.is_active.unwrap_or(true),
        system_prompt: input.system_prompt,
        retriever: retriever
            .unwrap_or(RetrieverKind::Builtin)
            .as_str()
            .to_owned(),
        pinecone_environment: environment,
        pinecone_index_name: index_name,
        pinecone_index_host: index_host,
        pinecone_namespace: namespace,
        org_id: empty_to_none(input.org_id),
    })
}

/// The fields a create sets, for its audit entry (`search_language` only when it was sent).
fn created_fields(new: &NewTenant, language_sent: bool) -> Vec<String> {
    let mut fields = vec!["id".to_owned(), "name".to_owned(), "retriever".to_owned()];
    for (set, name) in [
        (new.system_prompt.is_some(), "system_prompt"),
        (new.pinecone_environment.is_some(), "pinecone_environment"),
        (new.pinecone_index_name.is_some(), "pinecone_index_name"),
        (new.pinecone_index_host.is_some(), "pinecone_index_host"),
        (new.pinecone_namespace.is_some(), "pinecone_namespace"),
        (new.pinecone_api_key_enc.is_some(), "pinecone_api_key"),
        (language_sent, "search_language"),
        (new.requests_per_minute.is_some(), "requests_per_minute"),
        (new.monthly_token_budget.is_some(), "monthly_token_budget"),
        (new.org_id.is_some(), "org_id"),
    ] {
        if set {
            fields.push(name.to_owned());
        }
    }
    fields
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    keys: &KeyRing,
    actor: &Actor,
    input: CreateTenant,
) -> AppResult<Tenant> {
    let language_sent = input.search_language.is_some();
    let new = new_tenant(keys, input)?;
    let fields = created_fields(&new, language_sent);
    let tenant = audit::audited(conn, actor, async |conn| {
        let tenant: Tenant = diesel::insert_into(tenants::table)
            .values(&new)
            .returning(Tenant::as_returning())
            .get_result(conn)
            .await?;
        let change = Change::of_tenant("tenant.create", &tenant.id, fields);
        Ok((tenant, Some(change)))
    })
    .await?;
    caches.tenant_changed(&tenant.id, tenant.version).await;
    Ok(tenant)
}

/// A field that may be changed but not cleared: its value, or an error for `null`.
fn required<T>(errors: &mut Vec<FieldError>, field: &str, value: Option<Option<T>>) -> Option<T> {
    match value? {
        Some(value) => Some(value),
        None => {
            errors.push(FieldError::new(field, "cannot be null"));
            None
        }
    }
}

/// The Pinecone settings an update sets (blank clears, except the namespace, kept as sent).
fn pinecone_changes(
    errors: &mut Vec<FieldError>,
    input: &mut UpdateTenant,
    changes: &mut TenantChanges,
) {
    for (field, value, slot) in [
        (
            "pinecone_environment",
            input.pinecone_environment.take(),
            &mut changes.pinecone_environment,
        ),
        (
            "pinecone_index_name",
            input.pinecone_index_name.take(),
            &mut changes.pinecone_index_name,
        ),
        (
            "pinecone_index_host",
            input.pinecone_index_host.take(),
            &mut changes.pinecone_index_host,
        ),
        (
            "pinecone_namespace",
            input.pinecone_namespace.take(),
            &mut changes.pinecone_namespace,
        ),
    ] {
        if let Some(value) = value {
            let value = if field == "pinecone_namespace" {
                value
            } else {
                empty_to_none(value)
            };
            check_settings(errors, field, &value);
            *slot = Some(value);
        }
    }
}

/// The changes an update writes to tenant `id`, or every field error of `input` at once.
fn tenant_changes(keys: &KeyRing, id: &str, mut input: UpdateTenant) -> AppResult<TenantChanges> {
    let mut errors = Vec::new();
    if let Some(sent) = &input.id
        && sent.as_str() != Some(id)
    {
        errors.push(FieldError::new(
            "id",
            "cannot be changed (it must be the id in the path when sent)",
        ));
    }
    let mut changes = TenantChanges::default();
    if let Some(name) = required(&mut errors, "name", input.name.take()) {
        let name = name.trim().to_owned();
        check_name(&mut errors, &name);
        changes.name = Some(name);
    }
    changes.is_active = required(&mut errors, "is_active", input.is_active.take());
    if let Some(raw) = required(&mut errors, "retriever", input.retriever.take()) {
        changes.retriever = parse_retriever(&mut errors, &raw).map(|k| k.as_str().to_owned());
    }
    if let Some(prompt) = input.system_prompt.take() {
        if let Some(p) = &prompt {
            check_text(&mut errors, "system_prompt", p, MAX_PROMPT);
        }
        changes.system_prompt = Some(prompt);
    }
    pinecone_changes(&mut errors, &mut input, &mut changes);
    if let Some(raw) = required(&mut errors, "search_language", input.search_language.take()) {
        changes.search_language = parse_language(&mut errors, &raw).map(str::to_owned);
    }
    if let Some(key) = input.pinecone_api_key {
        use secrecy::ExposeSecret;
        let key = key.filter(|k| !k.expose_secret().trim().is_empty());
        changes.pinecone_api_key_enc = Some(key.as_ref().map(|k| encrypt(keys, id, k)));
    }
    if let Some(org) = input.org_id {
        changes.org_id = Some(empty_to_none(org));
    }
    if let Some(limit) = input.requests_per_minute {
        changes.requests_per_minute = Some(check_requests_per_minute(&mut errors, limit));
    }
    if let Some(budget) = input.monthly_token_budget {
        changes.monthly_token_budget = Some(check_budget(&mut errors, budget));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok(changes)
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    keys: &KeyRing,
    actor: &Actor,
    id: &str,
    input: UpdateTenant,
) -> AppResult<Tenant> {
    let changes = tenant_changes(keys, id, input)?;
    let fields = changes.changed_fields();
    let tenant = audit::audited(conn, actor, async |conn| {
        let tenant = if changes.is_empty() {
            get(conn, id).await?
        } else {
            diesel::update(tenants::table.find(id))
                .set(&changes)
                .returning(Tenant::as_returning())
                .get_result(conn)
                .await
                .or_not_found("tenant")?
        };
        if let Some(language) = &changes.search_language {
            reindex_documents(conn, &tenant.id, language).await?;
        }
        let change =
            (!fields.is_empty()).then(|| Change::of_tenant("tenant.update", &tenant.id, fields));
        Ok((tenant, change))
    })
    .await?;
    caches.tenant_changed(&tenant.id, tenant.version).await;
    Ok(tenant)
}

/// Rebuilds the tenant's `search_vector`s in `language` (the generated column follows
/// `documents.language`), so a new `search_language` applies to the documents already stored.
/// Only the tenant id is set for row-level security, not the role: the rest of the
/// transaction (audit, notification) still runs as the gateway's own user.
async fn reindex_documents(
    conn: &mut AsyncPgConnection,
    tenant_id: &TenantId,
    language: &str,
) -> AppResult<()> {
    use diesel::sql_types::Text;
    diesel::sql_query("SELECT set_config('tenantgate.tenant_id', $1, true)")
        .bind::<Text, _>(tenant_id)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "UPDATE documents SET language = $2 WHERE tenant_id = $1 AND language IS DISTINCT FROM $2",
    )
    .bind::<Text, _>(tenant_id)
    .bind::<Text, _>(language)
    .execute(conn)
    .await?;
    Ok(())
}

/// Activates or deactivates; a no-op (no version bump, no audit) when already so.
pub async fn set_active(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    id: &str,
    active: bool,
) -> AppResult<Tenant> {
    let tenant = audit::audited(conn, actor, async |conn| {
        let updated: Option<Tenant> = diesel::update(
            tenants::table
                .find(id)
                .filter(tenants::is_active.ne(active)),
        )
        .set(tenants::is_active.eq(active))
        .returning(Tenant::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        let Some(tenant) = updated else {
            return Ok((get(conn, id).await?, None));
        };
        let action = if active {
            "tenant.activate"
        } else {
            "tenant.deactivate"
        };
        let fields = vec!["is_active".to_owned()];
        let change = Change::of_tenant(action, &tenant.id, fields);
        Ok((tenant, Some(change)))
    })
    .await?;
    caches.tenant_changed(&tenant.id, tenant.version).await;
    Ok(tenant)
}

pub async fn get(conn: &mut AsyncPgConnection, id: &str) -> AppResult<Tenant> {
    tenants::table
        .find(id)
        .select(Tenant::as_select())
        .first(conn)
        .await
        .or_not_found("tenant")
}

/// Tenants inside `scope`, by id.
pub async fn list(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
    include_inactive: bool,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<Tenant>> {
    let mut query = tenants::table
        .select(Tenant::as_select())
        .order(tenants::id)
        .limit(limit)
        .offset(offset)
        .into_boxed();
    if !include_inactive {
        query = query.filter(tenants::is_active.eq(true));
    }
    match scope.tenant_filter() {
        TenantFilter::All => {}
        TenantFilter::InOrg(org) => query = query.filter(tenants::org_id.eq(org.to_owned())),
        TenantFilter::Only(id) => query = query.filter(tenants::id.eq(id.to_owned())),
        TenantFilter::None => return Ok(Vec::new()),
    }
    Ok(query.load(conn).await?)
}
