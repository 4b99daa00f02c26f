//! `tenantgate orgs create|list|show|update|activate|deactivate`: organizations from the
//! command line, through the same authorization function (`crate::identity::authz`) and service
//! (`crate::services::orgs`) as `/admin/orgs`, with the same audit entries (actor `cli`).
//! (De)activating an organization reaches running replicas within a second: the change
//! touches its tenants, whose NOTIFY every replica hears.

use clap::Subcommand;

use super::{cli_actor, cli_scope, connect, error_text, load_config};
use crate::errors::AppError;
use crate::identity::authz::Action;
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

pub async fn run(command: OrgsCommand) -> Result<(), String> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let actor = cli_actor();
    let org_error = |id: &str| {
        let id = id.to_owned();
        move |e| match e {
            AppError::NotFound(_) => format!("no organization with id {id}"),
            AppError::Conflict(_) => format!("an organization with id {id} exists already"),
            other => error_text(other),
        }
    };
    match command {
        OrgsCommand::Create { id, name } => {
            cli_scope(Action::OrgCreate)?;
            let input = CreateOrganization {
                id: id.clone(),
                name,
                is_active: None,
            };
            let org = orgs::create(&mut conn, &actor, input)
                .await
                .map_err(org_error(&id))?;
            println!("orgs: created {}", org.id);
            print_org(&org);
        }
        OrgsCommand::List => {
            let list = orgs::list(&mut conn, &cli_scope(Action::OrgList)?)
                .await
                .map_err(error_text)?;
            println!("{:<24}  {:<24}  {:<6}  version", "id", "name", "active");
            for o in &list {
                println!(
                    "{:<24}  {:<24}  {:<6}  {}",
                    o.id, o.name, o.is_active, o.version
                );
            }
            println!("orgs: {} organization(s)", list.len());
        }
        OrgsCommand::Show { id } => {
            cli_scope(Action::OrgRead)?
                .require_org(&id)
                .map_err(org_error(&id))?;
            let org = orgs::get(&mut conn, &id).await.map_err(org_error(&id))?;
            print_org(&org);
            let tenants = orgs::tenants(&mut conn, &id).await.map_err(error_text)?;
            let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
            println!("orgs: {} tenant(s): {}", ids.len(), ids.join(", "));
        }
        OrgsCommand::Update { id, name } => {
            cli_scope(Action::OrgUpdate)?
                .require_org(&id)
                .map_err(org_error(&id))?;
            let before = orgs::get(&mut conn, &id).await.map_err(org_error(&id))?;
            let input = UpdateOrganization {
                name: Some(name),
                is_active: None,
            };
            let org = orgs::update(&mut conn, &actor, &id, input)
                .await
                .map_err(org_error(&id))?;
            let verb = if org.version == before.version {
                "unchanged"
            } else {
                "updated"
            };
            println!("orgs: {verb} {} (version {})", org.id, org.version);
            print_org(&org);
        }
        OrgsCommand::Activate { id } => set_active(&mut conn, &actor, &id, true).await?,
        OrgsCommand::Deactivate { id } => set_active(&mut conn, &actor, &id, false).await?,
    }
    Ok(())
}

async fn set_active(
    conn: &mut diesel_async::AsyncPgConnection,
    actor: &crate::services::audit::Actor,
    id: &str,
    active: bool,
) -> Result<(), String> {
    cli_scope(Action::OrgDeactivate)?
        .require_org(id)
        .map_err(error_text)?;
    let org = orgs::set_active(conn, actor, id, active)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => format!("no organization with id {id}"),
            other => error_text(other),
        })?;
    let tenants = orgs::tenants(conn, id).await.map_err(error_text)?;
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
