//! `tenantgate orgs create|list|show|update|activate|deactivate`: organizations from the
//! command line, through the same authorization function (`crate::identity::authz`) and service
//! (`crate::services::orgs`) as `/admin/orgs`, with the same audit entries (actor `cli`).
//! (De)activating an organization reaches running replicas within a second: the change
//! touches its tenants, whose NOTIFY every replica hears.

use clap::Subcommand;
use diesel_async::AsyncPgConnection;

use super::{CliResult, Missing, cli_actor, cli_scope, connect, load_config};
use crate::errors::AppError;
use crate::identity::authz::Action;
use crate::services::caches::NoCaches;
use crate::services::orgs::{self, CreateOrganization, UpdateOrganization};
use crate::store::models::organization::Organization;

#[derive(Subcommand)]
pub enum OrgsCommand {
    /// Create an organization (id: 1–64 of A-Z a-z 0-9 _ - ., first a letter or digit).
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
    },
    /// List organizations (inactive ones included).
    List,
    /// Show one organization and its tenants.
    Show { id: String },
    /// Rename an organization.
    Update {
        id: String,
        #[arg(long)]
        name: String,
    },
    /// Activate an organization: its tenants answer again.
    Activate { id: String },
    /// Deactivate an organization: every tenant in it answers 403 tenant_unavailable on every
    /// replica within a second.
    Deactivate { id: String },
}

fn print_org(org: &Organization) {
    match serde_json::to_string_pretty(org) {
        Ok(json) => println!("{json}"),
        Err(_) => println!("{}", org.id),
    }
}

pub async fn run(command: OrgsCommand) -> anyhow::Result<()> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let conn = &mut conn;
    match command {
        OrgsCommand::Create { id, name } => create(conn, id, name).await,
        OrgsCommand::List => list(conn).await,
        OrgsCommand::Show { id } => show(conn, &id).await,
        OrgsCommand::Update { id, name } => update(conn, &id, name).await,
        OrgsCommand::Activate { id } => set_active(conn, &id, true).await,
        OrgsCommand::Deactivate { id } => set_active(conn, &id, false).await,
    }
}

async fn create(conn: &mut AsyncPgConnection, id: String, name: String) -> anyhow::Result<()> {
    cli_scope(Action::OrgCreate)?;
    let input = CreateOrganization {
        id: id.clone(),
        name,
        is_active: None,
    };
    let org = match orgs::create(conn, &cli_actor(), input).await {
        Err(AppError::Conflict(_)) => anyhow::bail!("an organization with id {id} exists already"),
        other => other?,
    };
    println!("orgs: created {}", org.id);
    print_org(&org);
    Ok(())
}

async fn list(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let list = orgs::list(conn, &cli_scope(Action::OrgList)?).await?;
    println!("{:<24}  {:<24}  {:<6}  version", "id", "name", "active");
    for o in &list {
        println!(
            "{:<24}  {:<24}  {:<6}  {}",
            o.id, o.name, o.is_active, o.version
        );
    }
    println!("orgs: {} organization(s)", list.len());
    Ok(())
}

async fn show(conn: &mut AsyncPgConnection, id: &str) -> anyhow::Result<()> {
    cli_scope(Action::OrgRead)?
        .require_org(id)
        .or_missing(Missing::Org(id))?;
    let org = orgs::get(conn, id).await.or_missing(Missing::Org(id))?;
    print_org(&org);
    let tenants = orgs::tenants(conn, id).await?;
    let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
    println!("orgs: {} tenant(s): {}", ids.len(), ids.join(", "));
    Ok(())
}

async fn update(conn: &mut AsyncPgConnection, id: &str, name: String) -> anyhow::Result<()> {
    cli_scope(Action::OrgUpdate)?
        .require_org(id)
        .or_missing(Missing::Org(id))?;
    let before = orgs::get(conn, id).await.or_missing(Missing::Org(id))?;
    let input = UpdateOrganization {
        name: Some(name),
        is_active: None,
    };
    let org = orgs::update(conn, &NoCaches, &cli_actor(), id, input)
        .await
        .or_missing(Missing::Org(id))?;
    let verb = if org.version == before.version {
        "unchanged"
    } else {
        "updated"
    };
    println!("orgs: {verb} {} (version {})", org.id, org.version);
    print_org(&org);
    Ok(())
}

async fn set_active(conn: &mut AsyncPgConnection, id: &str, active: bool) -> anyhow::Result<()> {
    cli_scope(Action::OrgDeactivate)?.require_org(id)?;
    let org = orgs::set_active(conn, &NoCaches, &cli_actor(), id, active)
        .await
        .or_missing(Missing::Org(id))?;
    let tenants = orgs::tenants(conn, id).await?;
    println!(
        "orgs: {} is {} (version {}); {} tenant(s) {}",
        org.id,
        if org.is_active { "active" } else { "inactive" },
        org.version,
        tenants.len(),
        if org.is_active {
            "answer again"
        } else {
            "answer 403 tenant_unavailable"
        }
    );
    Ok(())
}
