//! `tenantgate tenants create|list|show|activate|deactivate`.

use clap::Subcommand;
use secrecy::SecretString;

use super::{cli_actor, connect, error_text, load_config, read_stdin_secret};
use crate::models::tenant::{Tenant, TenantView};
use crate::services::tenants::{self, CreateTenant};

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
        /// builtin (default), pinecone or none.
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
        /// Read the tenant's Pinecone API key from standard input (stored encrypted).
        #[arg(long)]
        pinecone_api_key_stdin: bool,
        /// Requests per minute for the whole tenant (default: TENANT_REQUESTS_PER_MINUTE).
        #[arg(long)]
        requests_per_minute: Option<i64>,
        /// Prompt + completion tokens per UTC month on the chat routes (default: none).
        #[arg(long)]
        monthly_token_budget: Option<i64>,
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
            requests_per_minute,
            monthly_token_budget,
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
                requests_per_minute,
                monthly_token_budget,
            };
            let tenant = tenants::create(&mut conn, &config.keys, &actor, input)
                .await
                .map_err(error_text)?;
            println!("tenants: created {}", tenant.id);
            print_tenant(tenant);
        }
        TenantsCommand::List => {
            let list = tenants::list(&mut conn, true, i64::MAX, 0)
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
