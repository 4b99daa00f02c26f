//! `tenantgate api-keys create|list|revoke|rotate`: tenant API keys from the command line, through
//! the same service as `/admin/tenants/{id}/api-keys` (and with the same audit entries, actor
//! `cli`). A revocation reaches running replicas through the database's NOTIFY.

use chrono::{Duration, Utc};
use clap::Subcommand;
use secrecy::ExposeSecret;
use uuid::Uuid;

use diesel_async::AsyncPgConnection;

use super::{CliResult, Missing, cli_actor, connect, load_config};
use crate::config::Config;
use crate::errors::AppError;
use crate::identity::api_keys::ApiKeys;
use crate::services::api_keys::{self, CreateApiKey};
use crate::services::caches::NoCaches;
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

pub async fn run(command: ApiKeysCommand) -> anyhow::Result<()> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let conn = &mut conn;
    match command {
        ApiKeysCommand::Create {
            tenant,
            name,
            expires_in_days,
            requests_per_minute,
            scopes,
        } => {
            let input = CreateApiKey {
                name,
                expires_at: expires_in_days.map(|d| Utc::now() + Duration::days(i64::from(d))),
                requests_per_minute,
                scopes: (!scopes.is_empty()).then_some(scopes),
            };
            create(conn, &config, &tenant, input).await
        }
        ApiKeysCommand::List { tenant } => list(conn, &tenant).await,
        ApiKeysCommand::Rotate { key_id } => rotate(conn, &config, key_id).await,
        ApiKeysCommand::Revoke { key_id } => revoke(conn, key_id).await,
    }
}

/// The key service, for deriving new keys only: its pool stays unopened.
fn key_service(config: &Config) -> anyhow::Result<ApiKeys> {
    let pool = crate::store::db::build_pool(&config.database).map_err(anyhow::Error::msg)?;
    Ok(ApiKeys::new(pool, &config.keys))
}

async fn create(
    conn: &mut AsyncPgConnection,
    config: &Config,
    tenant: &str,
    input: CreateApiKey,
) -> anyhow::Result<()> {
    let keys = key_service(config)?;
    let created = api_keys::create(conn, &keys, &cli_actor(), tenant, input)
        .await
        .or_missing(Missing::Tenant(tenant))?;
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
    Ok(())
}

async fn list(conn: &mut AsyncPgConnection, tenant: &str) -> anyhow::Result<()> {
    let list = api_keys::list(conn, tenant)
        .await
        .or_missing(Missing::Tenant(tenant))?;
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
    Ok(())
}

async fn rotate(conn: &mut AsyncPgConnection, config: &Config, key_id: Uuid) -> anyhow::Result<()> {
    let keys = key_service(config)?;
    let rotated = api_keys::rotate(conn, &NoCaches, &keys, &cli_actor(), key_id).await;
    // The service refuses to rotate a revoked key as a validation error of the key id.
    let rotated = match rotated {
        Err(AppError::Validation { .. }) => {
            anyhow::bail!("API key {key_id} is revoked already; create a new one instead")
        }
        other => other.or_missing(Missing::ApiKey(key_id))?,
    };
    let (old, created) = rotated;
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
    Ok(())
}

async fn revoke(conn: &mut AsyncPgConnection, key_id: Uuid) -> anyhow::Result<()> {
    let key = api_keys::revoke(conn, &NoCaches, &cli_actor(), None, key_id)
        .await
        .or_missing(Missing::ApiKey(key_id))?;
    println!(
        "api-keys: {} ({}) of tenant {} is revoked (since {})",
        key.id,
        key.prefix,
        key.tenant_id,
        when(key.revoked_at)
    );
    Ok(())
}
