//! `tenantgate tenants create|update|list|show|activate|deactivate`. Errors name this
//! command's flags (`--pinecone-index-host`), not the API's fields.

use clap::Subcommand;
use secrecy::SecretString;

use super::{
    cli_actor, cli_scope, connect, error_text, flag_error_text, load_config, read_stdin_secret,
};
use crate::identity::authz::Action;
use crate::services::tenants::{self, CreateTenant, UpdateTenant};
use crate::store::models::tenant::{Tenant, TenantView};

/// API fields whose flag is not their name with dashes.
const FLAGS: &[(&str, &str)] = &[("pinecone_api_key", "--pinecone-api-key-stdin")];

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        system_prompt: Option<String>,
        /// builtin, pinecone or none. Default: pinecone with --pinecone-api-key-stdin, else
        /// builtin.
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
        /// Read the tenant's Pinecone API key from standard input (stored encrypted).
        #[arg(long)]
        pinecone_api_key_stdin: bool,
        /// The built-in retriever's text search configuration: english (default), simple,
        /// german, french, spanish, … (docs/retrieval.md).
        #[arg(long)]
        search_language: Option<String>,
        /// Requests per minute for the whole tenant (default: TENANT_REQUESTS_PER_MINUTE).
        #[arg(long)]
        requests_per_minute: Option<i64>,
        /// Prompt + completion tokens per UTC month on the chat routes (default: none).
        #[arg(long)]
        monthly_token_budget: Option<i64>,
        /// The organization the tenant belongs to (`tenantgate orgs create`).
        #[arg(long = "org")]
        org_id: Option<String>,
    },
    /// Change a tenant: only the flags given are changed; an empty value ("") clears a
    /// setting. Running replicas see the change within a second.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        system_prompt: Option<String>,
        /// builtin, pinecone or none.
        #[arg(long)]
        retriever: Option<String>,
        #[arg(long)]
        pinecone_environment: Option<String>,
        #[arg(long)]
        pinecone_index_name: Option<String>,
        #[arg(long)]
        pinecone_index_host: Option<String>,
        #[arg(long)]
        pinecone_namespace: Option<String>,
        /// Read a new Pinecone API key from standard input (an empty line removes the key).
        #[arg(long)]
        pinecone_api_key_stdin: bool,
        /// The built-in retriever's text search configuration: english, simple, german, …
        /// (cannot be cleared; docs/retrieval.md).
        #[arg(long)]
        search_language: Option<String>,
        /// Requests per minute for the whole tenant ("" clears: TENANT_REQUESTS_PER_MINUTE).
        #[arg(long, value_parser = optional_number)]
        requests_per_minute: Option<Option<i64>>,
        /// Prompt + completion tokens per UTC month on the chat routes ("" clears: none).
        #[arg(long, value_parser = optional_number)]
        monthly_token_budget: Option<Option<i64>>,
        /// Move the tenant to this organization ("" takes it out of any).
        #[arg(long = "org")]
        org_id: Option<String>,
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
fn read_optional_stdin_secret() -> Result<Option<SecretString>, String> {
    use std::io::Read;
    let mut buffer = String::new();
    std::io::stdin()
        .read_to_string(&mut buffer)
        .map_err(|e| format!("could not read the Pinecone API key from standard input: {e}"))?;
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

pub async fn run(command: TenantsCommand) -> Result<(), String> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let actor = cli_actor();
    match command {
        TenantsCommand::Create {
            id,
            name,
            system_prompt,
            retriever,
            pinecone_environment,
            pinecone_index_name,
            pinecone_index_host,
            pinecone_namespace,
            pinecone_api_key_stdin,
            search_language,
            requests_per_minute,
            monthly_token_budget,
            org_id,
        } => {
            let pinecone_api_key: Option<SecretString> = if pinecone_api_key_stdin {
                Some(read_stdin_secret("Pinecone API key")?)
            } else {
                None
            };
            let input = CreateTenant {
                id,
                name,
                system_prompt,
                retriever,
                pinecone_environment,
                pinecone_index_name,
                pinecone_index_host,
                pinecone_namespace,
                pinecone_api_key,
                is_active: None,
                search_language,
                requests_per_minute,
                monthly_token_budget,
                org_id,
            };
            let tenant = tenants::create(&mut conn, &config.keys, &actor, input)
                .await
                .map_err(|e| flag_error_text(e, FLAGS))?;
            println!("tenants: created {}", tenant.id);
            print_tenant(tenant);
        }
        TenantsCommand::Update {
            id,
            name,
            system_prompt,
            retriever,
            pinecone_environment,
            pinecone_index_name,
            pinecone_index_host,
            pinecone_namespace,
            pinecone_api_key_stdin,
            search_language,
            requests_per_minute,
            monthly_token_budget,
            org_id,
        } => {
            // "" clears a nullable setting, as `null` does in the API.
            let clearable = |v: Option<String>| v.map(|v| Some(v).filter(|v| !v.is_empty()));
            let pinecone_api_key = if pinecone_api_key_stdin {
                Some(read_optional_stdin_secret()?)
            } else {
                None
            };
            let changes = UpdateTenant {
                name: name.map(Some),
                system_prompt: clearable(system_prompt),
                retriever: retriever.map(Some),
                pinecone_environment: clearable(pinecone_environment),
                pinecone_index_name: clearable(pinecone_index_name),
                pinecone_index_host: clearable(pinecone_index_host),
                pinecone_namespace: clearable(pinecone_namespace),
                pinecone_api_key,
                search_language: search_language.map(Some),
                requests_per_minute,
                monthly_token_budget,
                org_id: clearable(org_id),
                ..UpdateTenant::default()
            };
            let before = tenants::get(&mut conn, &id)
                .await
                .map_err(|_| format!("no tenant with id {id}"))?;
            let tenant = tenants::update(&mut conn, &config.keys, &actor, &id, changes)
                .await
                .map_err(|e| match e {
                    crate::errors::AppError::NotFound(_) => format!("no tenant with id {id}"),
                    other => flag_error_text(other, FLAGS),
                })?;
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
        }
        TenantsCommand::List => {
            let list = tenants::list(
                &mut conn,
                &cli_scope(Action::TenantList)?,
                true,
                i64::MAX,
                0,
            )
            .await
            .map_err(error_text)?;
            println!(
                "{:<24}  {:<24}  {:<9}  {:<6}  version",
                "id", "name", "retriever", "active"
            );
            for t in &list {
                println!(
                    "{:<24}  {:<24}  {:<9}  {:<6}  {}",
                    t.id, t.name, t.retriever, t.is_active, t.version
                );
            }
            println!("tenants: {} tenant(s)", list.len());
        }
        TenantsCommand::Show { id } => {
            let tenant = tenants::get(&mut conn, &id)
                .await
                .map_err(|_| format!("no tenant with id {id}"))?;
            print_tenant(tenant);
        }
        TenantsCommand::Activate { id } => {
            let tenant = tenants::set_active(&mut conn, &actor, &id, true)
                .await
                .map_err(|e| match e {
                    crate::errors::AppError::NotFound(_) => format!("no tenant with id {id}"),
                    other => error_text(other),
                })?;
            println!(
                "tenants: {} is active (version {})",
                tenant.id, tenant.version
            );
        }
        TenantsCommand::Deactivate { id } => {
            let tenant = tenants::set_active(&mut conn, &actor, &id, false)
                .await
                .map_err(|e| match e {
                    crate::errors::AppError::NotFound(_) => format!("no tenant with id {id}"),
                    other => error_text(other),
                })?;
            println!(
                "tenants: {} is inactive (version {})",
                tenant.id, tenant.version
            );
        }
    }
    Ok(())
}
