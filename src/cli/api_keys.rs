//! `tenantgate api-keys create|list|revoke|rotate`: tenant API keys from the command line, through
//! the same service as `/admin/tenants/{id}/api-keys` (and with the same audit entries, actor
//! `cli`). A revocation reaches running replicas through the database's NOTIFY.

use chrono::{Duration, Utc};
use clap::Subcommand;
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{cli_actor, connect, error_text, load_config};
use crate::errors::AppError;
use crate::identity::api_keys::ApiKeys;
use crate::services::api_keys::{self, CreateApiKey};
use crate::store::models::api_key::ApiKey;

#[derive(Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key for a tenant and print it (once: it cannot be shown again).
    Create {
        #[arg(long)]
        tenant: String,
        /// What the key is for, e.g. ingest-worker.
        #[arg(long)]
        name: String,
        /// The key stops working after this many days (never, when absent).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        /// This key's own requests per minute, besides the tenant's (default: the tenant's alone).
        #[arg(long)]
        requests_per_minute: Option<i64>,
        /// What the key may be used for, comma-separated or repeated: chat, search,
        /// documents:read, documents:write, usage:read (default: all).
        #[arg(long = "scopes", value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// List a tenant's keys (prefixes only, never the keys).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by its id (idempotent).
    Revoke { key_id: Uuid },
    /// Replace a key: print a new one (once) with the same tenant, name and expiry, and
    /// revoke the old one.
    Rotate { key_id: Uuid },
}

fn when(at: Option<chrono::DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_owned())
}

fn status(key: &ApiKey) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        "expired"
    } else {
        "active"
    }
}

pub async fn run(command: ApiKeysCommand) -> Result<(), String> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let actor = cli_actor();
    let tenant_error = |tenant: &str| {
        let tenant = tenant.to_owned();
        move |e| match e {
            AppError::NotFound(_) => format!("no tenant with id {tenant}"),
            other => error_text(other),
        }
    };
    match command {
        ApiKeysCommand::Create {
            tenant,
            name,
            expires_in_days,
            requests_per_minute,
            scopes,
        } => {
            // Only the key derivation is used here; the pool stays unopened.
            let pool = crate::store::db::build_pool(&config.database)?;
            let keys = ApiKeys::new(pool, &config.keys);
            let input = CreateApiKey {
                name,
                expires_at: expires_in_days.map(|d| Utc::now() + Duration::days(i64::from(d))),
                requests_per_minute,
                scopes: (!scopes.is_empty()).then_some(scopes),
            };
            let created = api_keys::create(&mut conn, &keys, &actor, &tenant, input)
                .await
                .map_err(tenant_error(&tenant))?;
            let row = &created.row;
            println!(
                "api-keys: created {} ({}) for tenant {}, expires {}, scopes {}",
                row.id,
                row.name,
                row.tenant_id,
                when(row.expires_at),
                row.scopes.join(",")
            );
            println!("api-keys: the key is shown once; store it now:");
            println!("{}", created.plaintext.expose_secret());
        }
        ApiKeysCommand::List { tenant } => {
            let list = api_keys::list(&mut conn, &tenant)
                .await
                .map_err(tenant_error(&tenant))?;
            println!(
                "{:<36}  {:<13}  {:<20}  {:<7}  {:<20}  {:<20}  {:<20}  scopes",
                "id", "prefix", "name", "status", "created", "expires", "last used"
            );
            for k in &list {
                println!(
                    "{:<36}  {:<13}  {:<20}  {:<7}  {:<20}  {:<20}  {:<20}  {}",
                    k.id,
                    k.prefix,
                    k.name,
                    status(k),
                    when(Some(k.created_at)),
                    when(k.expires_at),
                    when(k.last_used_at),
                    k.scopes.join(",")
                );
            }
            println!("api-keys: {} key(s) for tenant {tenant}", list.len());
        }
        ApiKeysCommand::Rotate { key_id } => {
            let pool = crate::store::db::build_pool(&config.database)?;
            let keys = ApiKeys::new(pool, &config.keys);
            let (old, created) = api_keys::rotate(&mut conn, &keys, &actor, key_id)
                .await
                .map_err(|e| match e {
                    AppError::NotFound(_) => format!("no API key with id {key_id}"),
                    AppError::Validation { .. } => {
                        format!("API key {key_id} is revoked already; create a new one instead")
                    }
                    other => error_text(other),
                })?;
            let row = &created.row;
            println!(
                "api-keys: revoked {} ({}); created {} ({}) for tenant {}, expires {}",
                old.id,
                old.prefix,
                row.id,
                row.name,
                row.tenant_id,
                when(row.expires_at)
            );
            println!("api-keys: the new key is shown once; store it now:");
            println!("{}", created.plaintext.expose_secret());
        }
        ApiKeysCommand::Revoke { key_id } => {
            let key = api_keys::revoke(&mut conn, &actor, None, key_id)
                .await
                .map_err(|e| match e {
                    AppError::NotFound(_) => format!("no API key with id {key_id}"),
                    other => error_text(other),
                })?;
            println!(
                "api-keys: {} ({}) of tenant {} is revoked (since {})",
                key.id,
                key.prefix,
                key.tenant_id,
                when(key.revoked_at)
            );
        }
    }
    Ok(())
}
