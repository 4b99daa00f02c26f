//! The command line (`tenantgate --help`): one module per command group. Every command reads
//! the same configuration as `serve` (environment and `.env`) and says plainly what it did.
//! A failure prints one `error: …` line and exits with code 1.

mod api_keys;
mod demo;
mod ingest;
mod orgs;
mod secrets;
mod tenants;
mod usage;
mod users;

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::config::{self, Config, DatabaseConfig, ProcessEnv};
use crate::identity::authz::{self, Action, Principal, Scope};
use crate::services::audit::Actor;

#[derive(Parser)]
#[command(
    name = "tenantgate",
    version,
    about = "Multi-tenant gateway for retrieval-augmented chatbot backends"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (HOST, PORT and the rest of the configuration from the environment).
    Serve {
        /// Apply pending migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Apply pending database migrations (a no-op when there are none). Needs DATABASE_URL only.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// Manage organizations (groups of tenants with their own administrators).
    #[command(subcommand)]
    Orgs(orgs::OrgsCommand),
    /// Manage the encryption of tenant secrets.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Manage tenant API keys (server-to-server credentials).
    #[command(subcommand)]
    ApiKeys(api_keys::ApiKeysCommand),
    /// Print a new random SECRET_KEY (64 hex characters).
    GenSecret,
    /// Usage per tenant (requests, chat requests, retrievals, tokens) from the usage table.
    Usage(usage::UsageArgs),
    /// Store .txt and .md files (folders: recursively) as a tenant's documents.
    Ingest(ingest::IngestArgs),
    /// Run a demo: migrate, create a superuser and two tenants with documents, print tokens
    /// and curl lines, then serve. Needs only a local Postgres (DATABASE_URL optional).
    Demo,
}

pub fn main() -> ExitCode {
    config::load_dotenv();
    let cli = Cli::parse();
    if let Command::GenSecret = cli.command {
        println!("{}", crate::secrets::SecretKey::generate_hex());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("could not start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { migrate } => {
            let config = load_config()?;
            crate::app::telemetry::init(&config.log);
            if migrate {
                migrate_database(&config.database).await?;
            }
            let state = crate::app::state::AppState::new(config)?;
            crate::http::server::serve(state).await
        }
        Command::Migrate => {
            let database = DatabaseConfig::from_env(&ProcessEnv).map_err(|e| e.to_string())?;
            migrate_database(&database).await
        }
        Command::Users(command) => users::run(command).await,
        Command::Tenants(command) => tenants::run(command).await,
        Command::Orgs(command) => orgs::run(command).await,
        Command::Secrets(command) => secrets::run(command).await,
        Command::ApiKeys(command) => api_keys::run(command).await,
        Command::GenSecret => Ok(()),
        Command::Ingest(args) => ingest::run(args).await,
        Command::Usage(args) => usage::run(args).await,
        Command::Demo => demo::run().await,
    }
}

pub(crate) fn load_config() -> Result<Config, String> {
    Config::from_env(&ProcessEnv).map_err(|e| e.to_string())
}

async fn migrate_database(database: &DatabaseConfig) -> Result<(), String> {
    use secrecy::ExposeSecret;
    // The advisory lock is a session lock: migrate over the direct connection.
    let url = database.direct_url().expose_secret();
    // A fresh server has no database yet: make it rather than fail on `does not exist`. When
    // the maintenance database is out of reach (a managed Postgres), the migration itself says
    // what is wrong.
    match crate::store::db::create_database_if_missing(url).await {
        Ok(Some(name)) => println!("migrate: created database {name} (it did not exist)"),
        Ok(None) => {}
        Err(e) if e.contains("could not be created") => return Err(e),
        Err(_) => {}
    }
    let applied = crate::store::db::run_migrations(url).await?;
    let target = crate::store::db::describe_url(url);
    if applied.is_empty() {
        println!("migrate: {target} is up to date (nothing to apply)");
    } else {
        for version in &applied {
            println!("migrate: applied {version}");
        }
        println!(
            "migrate: {target} now has {} new migration(s)",
            applied.len()
        );
    }
    Ok(())
}

/// A connection for a one-off command.
pub(crate) async fn connect(
    database: &DatabaseConfig,
) -> Result<diesel_async::AsyncPgConnection, String> {
    use secrecy::ExposeSecret;
    crate::store::db::establish_with(database.url.expose_secret().to_owned(), database.pool_mode)
        .await
        .map_err(|e| {
            format!(
                "could not connect to {}: {e}",
                crate::store::db::describe_url(database.url.expose_secret())
            )
        })
}

/// Reads one secret line from standard input (for `--password-stdin` and the like).
pub(crate) fn read_stdin_secret(what: &str) -> Result<SecretString, String> {
    let mut buffer = String::new();
    std::io::stdin()
        .read_to_string(&mut buffer)
        .map_err(|e| format!("could not read the {what} from standard input: {e}"))?;
    let line = buffer.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        return Err(format!("no {what} on standard input"));
    }
    Ok(SecretString::from(line))
}

pub(crate) fn cli_actor() -> Actor {
    Actor::cli()
}

/// Like `error_text`, but a field error names the command's flag (`--pinecone-index-host`),
/// not the API field: `field_a_b` reads `--field-a-b` unless `flags` maps it otherwise.
pub(crate) fn flag_error_text(error: crate::errors::AppError, flags: &[(&str, &str)]) -> String {
    match error {
        crate::errors::AppError::Validation { errors, .. } => errors
            .iter()
            .map(|e| {
                let flag = flags
                    .iter()
                    .find(|(field, _)| *field == e.field)
                    .map(|(_, flag)| (*flag).to_owned())
                    .unwrap_or_else(|| format!("--{}", e.field.replace('_', "-")));
                format!("{flag} {}", e.message)
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => error_text(other),
    }
}

/// What the operator at the command line may touch with `action`: asked of the same
/// authorization function as the admin API (the CLI's principal reaches everything).
pub(crate) fn cli_scope(action: Action) -> Result<Scope, String> {
    authz::authorize(&Principal::cli(), action).map_err(error_text)
}

pub(crate) fn error_text(error: crate::errors::AppError) -> String {
    match error {
        crate::errors::AppError::Validation { errors, .. } => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        crate::errors::AppError::Internal(cause) => cause,
        other => other.to_string(),
    }
}
