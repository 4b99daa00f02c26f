//! The command line (`tenantgate --help`): one module per command group. Every command reads
//! the same configuration as `serve` (environment and `.env`) and says plainly what it did.
//! A failure prints one `error: …` line and exits with code 1.
//!
//! Commands return `anyhow::Result`: a service's `AppError` goes up with `?` and reads as its
//! `detail`; `.context(..)` puts the command's words in front (`tenant acme: …`). Two cases get
//! a sentence of their own, each said in one place here: a lookup that finds nothing
//! ([`Missing`]: `no tenant with id acme`, not `not found`) and a validation error, which names
//! the command's flags ([`CliResult::flags`]: `--pinecone-index-host must be …`).

mod api_keys;
mod demo;
mod ingest;
mod orgs;
mod secrets;
mod tenants;
mod usage;
mod users;

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use uuid::Uuid;

use crate::config::{self, Config, DatabaseConfig, ProcessEnv};
use crate::errors::{AppError, AppResult};
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
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", sentence(&error));
            ExitCode::from(1)
        }
    }
}

/// What the operator reads: the context chain, outermost first, joined by ": " (as anyhow's
/// `{:#}` prints it), except that an internal error shows its cause. The API keeps that cause
/// from its callers; at the command line the operator is the one who needs it.
pub(crate) fn sentence(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(|cause| match cause.downcast_ref::<AppError>() {
            Some(AppError::Internal(cause)) => cause.clone(),
            _ => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { migrate } => {
            let config = load_config()?;
            crate::app::telemetry::init(&config.log);
            if migrate {
                migrate_database(&config.database).await?;
            }
            let state = crate::app::state::AppState::new(config)?;
            let addr = SocketAddr::new(state.config.host, state.config.port);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen on {addr}"))?;
            let shutdown = crate::http::server::shutdown_signal();
            Ok(crate::http::server::serve_on(listener, state, shutdown).await?)
        }
        Command::Migrate => migrate_database(&DatabaseConfig::from_env(&ProcessEnv)?).await,
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

pub(crate) fn load_config() -> anyhow::Result<Config> {
    Ok(Config::from_env(&ProcessEnv)?)
}

async fn migrate_database(database: &DatabaseConfig) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    // The advisory lock is a session lock: migrate over the direct connection.
    let url = database.direct_url().expose_secret();
    // A fresh server has no database yet: make it rather than fail on `does not exist`. When
    // the maintenance database is out of reach (a managed Postgres), the migration itself says
    // what is wrong.
    match crate::store::db::create_database_if_missing(url).await {
        Ok(Some(name)) => println!("migrate: created database {name} (it did not exist)"),
        Ok(None) => {}
        Err(e) if e.contains("could not be created") => anyhow::bail!(e),
        Err(_) => {}
    }
    let applied = crate::store::db::run_migrations(url)
        .await
        .map_err(anyhow::Error::msg)?;
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
) -> anyhow::Result<diesel_async::AsyncPgConnection> {
    use secrecy::ExposeSecret;
    let url = database.url.expose_secret();
    crate::store::db::establish_with(url.to_owned(), database.pool_mode)
        .await
        .with_context(|| {
            format!(
                "could not connect to {}",
                crate::store::db::describe_url(url)
            )
        })
}

/// Reads one secret line from standard input (for `--password-stdin` and the like).
pub(crate) fn read_stdin_secret(what: &str) -> anyhow::Result<SecretString> {
    let mut buffer = String::new();
    std::io::stdin()
        .read_to_string(&mut buffer)
        .with_context(|| format!("could not read the {what} from standard input"))?;
    let line = buffer.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        anyhow::bail!("no {what} on standard input");
    }
    Ok(SecretString::from(line))
}

pub(crate) fn cli_actor() -> Actor {
    Actor::cli()
}

/// What the operator at the command line may touch with `action`: asked of the same
/// authorization function as the admin API (the CLI's principal reaches everything).
pub(crate) fn cli_scope(action: Action) -> anyhow::Result<Scope> {
    Ok(authz::authorize(&Principal::cli(), action)?)
}

/// What a command looked up, for the sentence it says when there is no such thing.
#[derive(Clone, Copy)]
pub(crate) enum Missing<'a> {
    Tenant(&'a str),
    Org(&'a str),
    ApiKey(Uuid),
    User(&'a str),
}

impl std::fmt::Display for Missing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tenant(id) => write!(f, "no tenant with id {id}"),
            Self::Org(id) => write!(f, "no organization with id {id}"),
            Self::ApiKey(id) => write!(f, "no API key with id {id}"),
            Self::User(email) => write!(f, "no user with email {email}"),
        }
    }
}

/// A service's result as a command reports it.
pub(crate) trait CliResult<T> {
    /// `NotFound` reads as `missing` (`no tenant with id acme`); other errors keep their text.
    fn or_missing(self, missing: Missing<'_>) -> anyhow::Result<T>;

    /// A validation error names the command's flags, not the API's fields: `field_a_b` reads
    /// `--field-a-b message` unless `flags` maps the field to another flag.
    fn flags(self, flags: &[(&str, &str)]) -> AppResult<T>;
}

impl<T> CliResult<T> for AppResult<T> {
    fn or_missing(self, missing: Missing<'_>) -> anyhow::Result<T> {
        self.map_err(|error| match error {
            AppError::NotFound(_) => anyhow::anyhow!("{missing}"),
            other => other.into(),
        })
    }

    fn flags(self, flags: &[(&str, &str)]) -> AppResult<T> {
        self.map_err(|error| match error {
            AppError::Validation { errors, .. } => {
                let detail = errors
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
                    .join("; ");
                AppError::Validation { detail, errors }
            }
            other => other,
        })
    }
}
