//! `tenantgate tenants create|update|list|show|activate|deactivate`. Errors name this
//! command's flags (`--pinecone-index-host`), not the API's fields.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::{CliResult, Missing, cli_actor, cli_scope, connect, load_config, read_stdin_secret};
use crate::identity::authz::Action;
use crate::services::caches::NoCaches;
use crate::services::tenants::{self, CreateTenant, UpdateTenant};
use crate::store::models::tenant::{Tenant, TenantView};

/// API fields whose flag is not their name with dashes.
const FLAGS: &[(&str, &str)] = &[("pinecone_api_key", "--pinecone-api-key-stdin")];

/// The settings `create` and `update` share. On update only the flags given are changed and
/// an empty value ("") clears a nullable setting.
#[derive(Args)]
pub struct TenantSettings {
    #[arg(long)]
    system_prompt: Option<String>,
    /// builtin, pinecone or none. Default: pinecone with --pinecone-api-key-stdin, else
    /// builtin (update: kept as it is).
    #[arg(long)]
    retriever: Option<String>,
    /// Not needed by the gateway (kept for the Python original's settings).
    #[arg(long)]
    pinecone_environment: Option<String>,
    /// The tenant's index; without it and without --pinecone-index-host, the server's
    /// PINECONE_INDEX_NAME.
    #[arg(long)]
    pinecone_index_name: Option<String>,
    /// The index's host name (https implied) or a full URL.
    #[arg(long)]
    pinecone_index_host: Option<String>,
    #[arg(long)]
    pinecone_namespace: Option<String>,
    /// Read the tenant's Pinecone API key from standard input (stored encrypted; on update an
    /// empty line removes the key).
    #[arg(long)]
    pinecone_api_key_stdin: bool,
    /// The built-in retriever's text search configuration: english (default), simple,
    /// german, french, spanish, … (cannot be cleared; docs/retrieval.md).
    #[arg(long)]
    search_language: Option<String>,
    /// Requests per minute for the whole tenant (default, or "" on update:
    /// TENANT_REQUESTS_PER_MINUTE).
    #[arg(long, value_parser = optional_number)]
    requests_per_minute: Option<Option<i64>>,
    /// Prompt + completion tokens per UTC month on the chat routes (default, or "" on
    /// update: none).
    #[arg(long, value_parser = optional_number)]
    monthly_token_budget: Option<Option<i64>>,
    /// The organization the tenant belongs to (`tenantgate orgs create`; "" on update takes
    /// it out of any).
    #[arg(long = "org")]
    org_id: Option<String>,
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: TenantSettings,
    },
    /// Change a tenant: only the flags given are changed; an empty value ("") clears a
    /// setting. Running replicas see the change within a second.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: TenantSettings,
    },
    /// List tenants (inactive ones included).
    List,
    /// Show one tenant (never its secrets).
    Show { id: String },
    /// Activate a tenant.
    Activate { id: String },
    /// Deactivate a tenant: its users and keys get 403 tenant_unavailable on every replica.
    Deactivate { id: String },
}

/// A whole number, or "" for "none".
fn optional_number(raw: &str) -> Result<Option<i64>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| format!("must be a whole number, or \"\" to clear; got {raw:?}"))
}

/// A secret line from standard input; an empty one means "none" (`None` inside).
fn read_optional_stdin_secret() -> anyhow::Result<Option<SecretString>> {
    use std::io::Read;
    let mut buffer = String::new();
    std::io::stdin()
        .read_to_string(&mut buffer)
        .context("could not read the Pinecone API key from standard input")?;
    let line = buffer.lines().next().unwrap_or("").trim().to_owned();
    Ok((!line.is_empty()).then(|| SecretString::from(line)))
}

fn print_tenant(tenant: Tenant) {
    let view = TenantView::from(tenant);
    match serde_json::to_string_pretty(&view) {
        Ok(json) => println!("{json}"),
        Err(_) => println!("{}", view.id),
    }
}

fn create_input(
    id: String,
    name: String,
    settings: TenantSettings,
) -> anyhow::Result<CreateTenant> {
    let pinecone_api_key = if settings.pinecone_api_key_stdin {
        Some(read_stdin_secret("Pinecone API key")?)
    } else {
        None
    };
    Ok(CreateTenant {
        id,
        name,
        system_prompt: settings.system_prompt,
        retriever: settings.retriever,
        pinecone_environment: settings.pinecone_environment,
        pinecone_index_name: settings.pinecone_index_name,
        pinecone_index_host: settings.pinecone_index_host,
        pinecone_namespace: settings.pinecone_namespace,
        pinecone_api_key,
        is_active: None,
        search_language: settings.search_language,
        requests_per_minute: settings.requests_per_minute.flatten(),
        monthly_token_budget: settings.monthly_token_budget.flatten(),
        org_id: settings.org_id,
    })
}

fn update_input(name: Option<String>, settings: TenantSettings) -> anyhow::Result<UpdateTenant> {
    // "" clears a nullable setting, as `null` does in the API.
    let clearable = |v: Option<String>| v.map(|v| Some(v).filter(|v| !v.is_empty()));
    let pinecone_api_key = if settings.pinecone_api_key_stdin {
        Some(read_optional_stdin_secret()?)
    } else {
        None
    };
    Ok(UpdateTenant {
        name: name.map(Some),
        system_prompt: clearable(settings.system_prompt),
        retriever: settings.retriever.map(Some),
        pinecone_environment: clearable(settings.pinecone_environment),
        pinecone_index_name: clearable(settings.pinecone_index_name),
        pinecone_index_host: clearable(settings.pinecone_index_host),
        pinecone_namespace: clearable(settings.pinecone_namespace),
        pinecone_api_key,
        search_language: settings.search_language.map(Some),
        requests_per_minute: settings.requests_per_minute,
        monthly_token_budget: settings.monthly_token_budget,
        org_id: clearable(settings.org_id),
        ..UpdateTenant::default()
    })
}

async fn update(
    conn: &mut diesel_async::AsyncPgConnection,
    keys: &crate::secrets::KeyRing,
    id: String,
    changes: UpdateTenant,
) -> anyhow::Result<()> {
    let before = tenants::get(conn, &id)
        .await
        .or_missing(Missing::Tenant(&id))?;
    let tenant = tenants::update(conn, &NoCaches, keys, &cli_actor(), &id, changes)
        .await
        .flags(FLAGS)
        .or_missing(Missing::Tenant(&id))?;
    if tenant.version == before.version {
        println!(
            "tenants: {} unchanged (version {})",
            tenant.id, tenant.version
        );
    } else {
        println!(
            "tenants: updated {} (version {})",
            tenant.id, tenant.version
        );
    }
    print_tenant(tenant);
    Ok(())
}

async fn set_active(
    conn: &mut diesel_async::AsyncPgConnection,
    id: &str,
    active: bool,
) -> anyhow::Result<()> {
    let tenant = tenants::set_active(conn, &NoCaches, &cli_actor(), id, active)
        .await
        .or_missing(Missing::Tenant(id))?;
    let state = if active { "active" } else { "inactive" };
    println!(
        "tenants: {} is {state} (version {})",
        tenant.id, tenant.version
    );
    Ok(())
}

fn list(list: &[Tenant]) {
    println!(
        "{:<24}  {:<24}  {:<9}  {:<6}  version",
        "id", "name", "retriever", "active"
    );
    for t in list {
        println!(
            "{:<24}  {:<24}  {:<9}  {:<6}  {}",
            t.id, t.name, t.retriever, t.is_active, t.version
        );
    }
    println!("tenants: {} tenant(s)", list.len());
}

pub async fn run(command: TenantsCommand) -> anyhow::Result<()> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let actor = cli_actor();
    match command {
        TenantsCommand::Create { id, name, settings } => {
            let input = create_input(id, name, settings)?;
            let tenant = tenants::create(&mut conn, &NoCaches, &config.keys, &actor, input)
                .await
                .flags(FLAGS)?;
            println!("tenants: created {}", tenant.id);
            print_tenant(tenant);
        }
        TenantsCommand::Update { id, name, settings } => {
            let changes = update_input(name, settings)?;
            update(&mut conn, &config.keys, id, changes).await?;
        }
        TenantsCommand::List => {
            let scope = cli_scope(Action::TenantList)?;
            let all = tenants::list(&mut conn, &scope, true, i64::MAX, 0).await?;
            list(&all);
        }
        TenantsCommand::Show { id } => {
            let tenant = tenants::get(&mut conn, &id)
                .await
                .or_missing(Missing::Tenant(&id))?;
            print_tenant(tenant);
        }
        TenantsCommand::Activate { id } => set_active(&mut conn, &id, true).await?,
        TenantsCommand::Deactivate { id } => set_active(&mut conn, &id, false).await?,
    }
    Ok(())
}
