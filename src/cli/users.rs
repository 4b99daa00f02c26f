//! `tenantgate users create|promote|deactivate|set-password|list`. Errors name this command's
//! flags, not the API's fields.

use clap::Subcommand;
use secrecy::SecretString;

use super::{cli_actor, cli_scope, connect, error_text, flag_error_text, read_stdin_secret};
use crate::config::{DatabaseConfig, ProcessEnv};
use crate::identity::authz::Action;
use crate::services::users::{self, CreateUser, UpdateUser};

/// API fields whose flag is not their name with dashes.
const FLAGS: &[(&str, &str)] = &[
    ("tenant_id", "--tenant"),
    ("password", "--password/--password-stdin"),
    ("is_superuser", "--superuser"),
];

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user: `users create --email E --password-stdin [--tenant ID] [--superuser]`.
    Create {
        #[arg(long)]
        email: String,
        /// The password (visible in shell history; prefer --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The tenant the user belongs to (its tokens carry this tenant_id).
        #[arg(long)]
        tenant: Option<String>,
        /// Make the user a superuser (admin API).
        #[arg(long)]
        superuser: bool,
    },
    /// Make an existing user an active superuser (says so when nothing changed).
    Promote {
        #[arg(long)]
        email: String,
    },
    /// Deactivate a user: logging in and the admin API stop working for them.
    Deactivate {
        #[arg(long)]
        email: String,
    },
    /// Set a user's password (e.g. a forgotten admin password): `--password-stdin` or
    /// `--password`.
    SetPassword {
        #[arg(long)]
        email: String,
        /// The password (visible in shell history; prefer --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Only users of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn run(command: UsersCommand) -> Result<(), String> {
    let database = DatabaseConfig::from_env(&ProcessEnv).map_err(|e| e.to_string())?;
    let mut conn = connect(&database).await?;
    let actor = cli_actor();
    match command {
        UsersCommand::Create {
            email,
            password,
            password_stdin,
            tenant,
            superuser,
        } => {
            let password = match (password, password_stdin) {
                (_, true) => read_stdin_secret("password")?,
                (Some(p), false) => SecretString::from(p),
                (None, false) => return Err("give --password or --password-stdin".to_owned()),
            };
            let input = CreateUser {
                email,
                password,
                tenant_id: tenant,
                is_superuser: superuser,
                is_active: None,
                role: None,
                org_id: None,
            };
            let user = users::create(&mut conn, &actor, input)
                .await
                .map_err(|e| flag_error_text(e, FLAGS))?;
            println!(
                "users: created {} ({}){}{}",
                user.email,
                user.id,
                user.tenant_id
                    .as_deref()
                    .map(|t| format!(", tenant {t}"))
                    .unwrap_or_default(),
                if user.is_superuser { ", superuser" } else { "" }
            );
        }
        UsersCommand::Promote { email } => {
            let user = find(&mut conn, &email).await?;
            if user.is_superuser && user.is_active {
                println!(
                    "users: {} ({}) is already an active superuser; nothing changed",
                    user.email, user.id
                );
                return Ok(());
            }
            let update = UpdateUser {
                is_superuser: Some(true),
                is_active: Some(true),
                role: None,
                org_id: None,
                ..Default::default()
            };
            let user = users::update(&mut conn, &actor, user.id, update)
                .await
                .map_err(error_text)?;
            println!(
                "users: {} ({}) is now an active superuser",
                user.email, user.id
            );
        }
        UsersCommand::Deactivate { email } => {
            let user = find(&mut conn, &email).await?;
            if !user.is_active {
                println!(
                    "users: {} ({}) is already inactive; nothing changed",
                    user.email, user.id
                );
                return Ok(());
            }
            let user = users::deactivate(&mut conn, &actor, user.id)
                .await
                .map_err(error_text)?;
            println!("users: {} ({}) is now inactive", user.email, user.id);
        }
        UsersCommand::SetPassword {
            email,
            password,
            password_stdin,
        } => {
            let password = match (password, password_stdin) {
                (_, true) => read_stdin_secret("password")?,
                (Some(p), false) => SecretString::from(p),
                (None, false) => return Err("give --password or --password-stdin".to_owned()),
            };
            let user = find(&mut conn, &email).await?;
            let update = UpdateUser {
                password: Some(password),
                ..Default::default()
            };
            let user = users::update(&mut conn, &actor, user.id, update)
                .await
                .map_err(|e| flag_error_text(e, FLAGS))?;
            println!("users: new password set for {} ({})", user.email, user.id);
        }
        UsersCommand::List { tenant } => {
            let list = users::list(
                &mut conn,
                &cli_scope(Action::UserList)?,
                tenant.as_deref(),
                i64::MAX,
                0,
            )
            .await
            .map_err(error_text)?;
            println!(
                "{:<36}  {:<32}  {:<16}  {:<9}  active",
                "id", "email", "tenant", "superuser"
            );
            for u in &list {
                println!(
                    "{:<36}  {:<32}  {:<16}  {:<9}  {}",
                    u.id,
                    u.email,
                    u.tenant_id.as_deref().unwrap_or("-"),
                    u.is_superuser,
                    u.is_active
                );
            }
            println!("users: {} user(s)", list.len());
        }
    }
    Ok(())
}

async fn find(
    conn: &mut diesel_async::AsyncPgConnection,
    email: &str,
) -> Result<crate::store::models::user::User, String> {
    users::find_by_email(conn, email)
        .await
        .map_err(|_| format!("no user with email {email}"))
}
