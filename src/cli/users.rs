//! `tenantgate users create|promote|deactivate|set-password|list`. Errors name this command's
//! flags, not the API's fields.

use clap::{Args, Subcommand};
use diesel_async::AsyncPgConnection;
use secrecy::SecretString;

use super::{CliResult, Missing, cli_actor, cli_scope, connect, read_stdin_secret};
use crate::config::{DatabaseConfig, ProcessEnv};
use crate::identity::authz::Action;
use crate::services::caches::NoCaches;
use crate::services::users::{self, CreateUser, UpdateUser};
use crate::store::models::user::User;

/// API fields whose flag is not their name with dashes.
const FLAGS: &[(&str, &str)] = &[
    ("tenant_id", "--tenant"),
    ("password", "--password/--password-stdin"),
    ("is_superuser", "--superuser"),
];

/// `--password P` or `--password-stdin`, exactly one (create and set-password).
#[derive(Args)]
pub struct PasswordInput {
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
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user: `users create --email E --password-stdin [--tenant ID] [--superuser]`.
    Create {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordInput,
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
        #[command(flatten)]
        password: PasswordInput,
    },
    /// List users.
    List {
        /// Only users of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn run(command: UsersCommand) -> anyhow::Result<()> {
    let database = DatabaseConfig::from_env(&ProcessEnv)?;
    let mut conn = connect(&database).await?;
    let conn = &mut conn;
    match command {
        UsersCommand::Create {
            email,
            password,
            tenant,
            superuser,
        } => create(conn, email, password.read()?, tenant, superuser).await,
        UsersCommand::Promote { email } => promote(conn, &email).await,
        UsersCommand::Deactivate { email } => deactivate(conn, &email).await,
        UsersCommand::SetPassword { email, password } => {
            set_password(conn, &email, password.read()?).await
        }
        UsersCommand::List { tenant } => list(conn, tenant.as_deref()).await,
    }
}

impl PasswordInput {
    /// The password of `--password-stdin` (read now) or `--password`.
    fn read(self) -> anyhow::Result<SecretString> {
        match (self.password, self.password_stdin) {
            (_, true) => read_stdin_secret("password"),
            (Some(p), false) => Ok(SecretString::from(p)),
            (None, false) => anyhow::bail!("give --password or --password-stdin"),
        }
    }
}

async fn create(
    conn: &mut AsyncPgConnection,
    email: String,
    password: SecretString,
    tenant: Option<String>,
    superuser: bool,
) -> anyhow::Result<()> {
    let input = CreateUser {
        email,
        password,
        tenant_id: tenant,
        is_superuser: superuser,
        is_active: None,
        role: None,
        org_id: None,
    };
    let user = users::create(conn, &cli_actor(), input)
        .await
        .flags(FLAGS)?;
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
    Ok(())
}

async fn promote(conn: &mut AsyncPgConnection, email: &str) -> anyhow::Result<()> {
    let user = find(conn, email).await?;
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
    let user = users::update(conn, &NoCaches, &cli_actor(), user.id, update).await?;
    println!(
        "users: {} ({}) is now an active superuser",
        user.email, user.id
    );
    Ok(())
}

async fn deactivate(conn: &mut AsyncPgConnection, email: &str) -> anyhow::Result<()> {
    let user = find(conn, email).await?;
    if !user.is_active {
        println!(
            "users: {} ({}) is already inactive; nothing changed",
            user.email, user.id
        );
        return Ok(());
    }
    let user = users::deactivate(conn, &NoCaches, &cli_actor(), user.id).await?;
    println!("users: {} ({}) is now inactive", user.email, user.id);
    Ok(())
}

async fn set_password(
    conn: &mut AsyncPgConnection,
    email: &str,
    password: SecretString,
) -> anyhow::Result<()> {
    let user = find(conn, email).await?;
    let update = UpdateUser {
        password: Some(password),
        ..Default::default()
    };
    let user = users::update(conn, &NoCaches, &cli_actor(), user.id, update)
        .await
        .flags(FLAGS)?;
    println!("users: new password set for {} ({})", user.email, user.id);
    Ok(())
}

async fn list(conn: &mut AsyncPgConnection, tenant: Option<&str>) -> anyhow::Result<()> {
    let scope = cli_scope(Action::UserList)?;
    let list = users::list(conn, &scope, tenant, i64::MAX, 0).await?;
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
    Ok(())
}

async fn find(conn: &mut AsyncPgConnection, email: &str) -> anyhow::Result<User> {
    users::find_by_email(conn, email)
        .await
        .or_missing(Missing::User(email))
}
