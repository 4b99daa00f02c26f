//! `tenantgate demo`: the README's "run" command. Needs nothing but a local Postgres.
//!
//! - Without `DATABASE_URL` it uses `postgres://postgres@127.0.0.1:5432/tenantgate_demo`,
//!   creating that database when it is missing.
//! - Without `SECRET_KEY` / `JWT_SECRET_KEY` it makes keys for this run only, and says so.
//!   Without `HOST` it listens on 127.0.0.1 only (the demo prints credentials); tokens it
//!   prints last 12 hours unless `ACCESS_TOKEN_EXPIRE_MINUTES` says otherwise.
//! - It migrates, then creates or refreshes (so a second run starts just as cleanly) a demo
//!   superuser, two tenants on the built-in retriever (`acme`, `globex`) with their own system
//!   prompts and documents, a user and an API key per tenant; prints tokens, keys, the
//!   superuser's credentials and curl lines; then serves until SIGTERM / Ctrl-C.
//!
//! The configuration is filled in a map handed to `Config::from_env`, never by changing the
//! process environment.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use diesel_async::AsyncPgConnection;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use crate::app::state::AppState;
use crate::config::Config;
use crate::errors::AppError;
use crate::secrets::SecretKey;
use crate::services::api_keys::{self, CreateApiKey};
use crate::services::audit::Actor;
use crate::services::caches::NoCaches;
use crate::services::documents::{self, NewDocument};
use crate::services::tenants::{self, CreateTenant, UpdateTenant};
use crate::services::users::{self, CreateUser, UpdateUser};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tenantgate_demo";
const ADMIN_EMAIL: &str = "admin@demo.example.com";
const KEY_NAME: &str = "demo";

struct DemoTenant {
    id: &'static str,
    name: &'static str,
    prompt: &'static str,
    documents: &'static [(&'static str, &'static str, &'static str)],
}

const TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        id: "acme",
        name: "Acme Corporation",
        prompt: "You are Acme's cheerful support assistant. Answer questions about Acme products \
                 from the provided context, cite the passages you use, and never make up prices.",
        documents: &[
            (
                "rocket-skates",
                "Rocket skates",
                "Acme rocket skates reach 90 km/h in four seconds. Each pair ships with a \
                 helmet and a spare fuel cell. Price: 149 dollars. Not for use near cliffs.",
            ),
            (
                "anvils",
                "Anvils",
                "Acme anvils are forged from a single block of steel and weigh 50 kg. They are \
                 shipped by freight only; parachute delivery was discontinued in 1952.",
            ),
            (
                "returns",
                "Return policy",
                "Acme products can be returned within 30 days with the receipt. Products that \
                 exploded are replaced free of charge after an incident report.",
            ),
            (
                "shipping",
                "Shipping",
                "Acme ships anywhere in the desert within two days. Orders above 100 dollars \
                 ship free. Tracking numbers arrive by carrier pigeon and by email.",
            ),
        ],
    },
    DemoTenant {
        id: "globex",
        name: "Globex Corporation",
        prompt: "You are the Globex HR assistant. Answer employees' questions about Globex \
                 policies from the provided context only, in a formal tone.",
        documents: &[
            (
                "vacation",
                "Vacation policy",
                "Globex employees receive 25 vacation days per year. Up to 5 unused days carry \
                 over to the next year. Requests go to your manager two weeks in advance.",
            ),
            (
                "hammocks",
                "Hammock program",
                "Every Globex campus has a hammock room on the third floor. Naps of up to 20 \
                 minutes are encouraged after lunch; book a hammock in the intranet.",
            ),
            (
                "expenses",
                "Travel expenses",
                "Globex reimburses economy flights, trains and hotel nights up to 180 euros. \
                 Submit receipts within 30 days through the expense portal.",
            ),
        ],
    },
];

fn is_set(env: &HashMap<String, String>, name: &str) -> bool {
    env.get(name).is_some_and(|v| !v.trim().is_empty())
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The demo's configuration: the environment with defaults filled in, and what was filled.
fn demo_env() -> (HashMap<String, String>, Vec<&'static str>) {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    let mut notes = Vec::new();
    if !is_set(&env, "DATABASE_URL") {
        env.insert("DATABASE_URL".into(), DEFAULT_DATABASE_URL.into());
    }
    if !is_set(&env, "SECRET_KEY") {
        env.insert("SECRET_KEY".into(), SecretKey::generate_hex());
        notes.push(
            "SECRET_KEY is not set: using a key made for this run only (API keys and Pinecone \
             keys stored now stop working after a restart; set SECRET_KEY to keep them)",
        );
    }
    let hmac = env
        .get("ALGORITHM")
        .is_none_or(|a| a.trim().is_empty() || a.trim().starts_with("HS"));
    if hmac && !is_set(&env, "JWT_SECRET_KEY") {
        env.insert("JWT_SECRET_KEY".into(), SecretKey::generate_hex());
        notes.push(
            "JWT_SECRET_KEY is not set: using a key made for this run only (the tokens below \
             stop working after a restart)",
        );
    }
    env.entry("HOST".into())
        .or_insert_with(|| "127.0.0.1".into());
    env.entry("ACCESS_TOKEN_EXPIRE_MINUTES".into())
        .or_insert_with(|| "720".into());
    (env, notes)
}

async fn upsert_user(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    email: &str,
    password: &str,
    tenant_id: Option<&str>,
    superuser: bool,
) -> Result<Uuid, AppError> {
    match users::find_by_email(conn, email).await {
        Ok(user) => {
            let changes = UpdateUser {
                email: None,
                password: Some(SecretString::from(password.to_owned())),
                tenant_id: Some(tenant_id.map(str::to_owned)),
                is_superuser: Some(superuser),
                is_active: Some(true),
                role: None,
                org_id: None,
            };
            Ok(users::update(conn, &NoCaches, actor, user.id, changes)
                .await?
                .id)
        }
        Err(AppError::NotFound(_)) => {
            let input = CreateUser {
                email: email.to_owned(),
                password: SecretString::from(password.to_owned()),
                tenant_id: tenant_id.map(str::to_owned),
                is_superuser: superuser,
                is_active: Some(true),
                role: None,
                org_id: None,
            };
            Ok(users::create(conn, actor, input).await?.id)
        }
        Err(other) => Err(other),
    }
}

async fn upsert_tenant(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    tenant: &DemoTenant,
) -> Result<(), AppError> {
    let input = CreateTenant {
        id: tenant.id.into(),
        name: tenant.name.into(),
        system_prompt: Some(tenant.prompt.into()),
        retriever: Some("builtin".into()),
        pinecone_environment: None,
        pinecone_index_name: None,
        pinecone_index_host: None,
        pinecone_namespace: None,
        pinecone_api_key: None,
        is_active: Some(true),
        search_language: None,
        requests_per_minute: None,
        monthly_token_budget: None,
        org_id: None,
    };
    match tenants::create(conn, state, &state.config.keys, actor, input).await {
        Ok(_) => {}
        Err(AppError::Conflict(_)) => {
            let changes = UpdateTenant {
                name: Some(Some(tenant.name.into())),
                is_active: Some(Some(true)),
                system_prompt: Some(Some(tenant.prompt.into())),
                retriever: Some(Some("builtin".into())),
                ..UpdateTenant::default()
            };
            tenants::update(conn, state, &state.config.keys, actor, tenant.id, changes).await?;
        }
        Err(other) => return Err(other),
    }
    Ok(())
}

/// A fresh API key named `demo` for the tenant; earlier demo keys are revoked (through the
/// service, like `DELETE …/api-keys/{id}`: audited, and forgotten by the cache).
async fn replace_api_key(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    tenant_id: &str,
) -> Result<SecretString, AppError> {
    api_keys::revoke_named(conn, state, actor, tenant_id, KEY_NAME).await?;
    let input = CreateApiKey {
        name: KEY_NAME.to_owned(),
        expires_at: None,
        requests_per_minute: None,
        scopes: None,
    };
    let created = api_keys::create(conn, &state.api_keys, actor, tenant_id, input).await?;
    Ok(created.plaintext)
}

struct Seeded {
    admin_password: String,
    admin_token: String,
    /// Per tenant: id, token, API key.
    tenants: Vec<(&'static str, String, SecretString)>,
}

async fn seed(state: &AppState) -> Result<Seeded, AppError> {
    let actor = Actor {
        name: "demo".into(),
        request_id: None,
        impersonator: None,
    };
    let mut pooled = state.pool.get().await?;
    let conn: &mut AsyncPgConnection = &mut pooled;
    let admin_password = random_password();
    let admin_id = upsert_user(conn, &actor, ADMIN_EMAIL, &admin_password, None, true).await?;
    let (admin_token, _) = state
        .tokens
        .issue(&admin_id.to_string(), ADMIN_EMAIL, None)?;
    let mut seeded = Vec::new();
    for tenant in &TENANTS {
        upsert_tenant(state, conn, &actor, tenant).await?;
        let email = format!("demo-{}@demo.example.com", tenant.id);
        let user_id = upsert_user(
            conn,
            &actor,
            &email,
            &random_password(),
            Some(tenant.id),
            false,
        )
        .await?;
        let (token, _) = state
            .tokens
            .issue(&user_id.to_string(), &email, Some(tenant.id))?;
        let key = replace_api_key(state, conn, &actor, tenant.id).await?;
        let context = state.tenants.get(tenant.id).await?;
        let docs = tenant
            .documents
            .iter()
            .map(|(id, title, text)| NewDocument {
                id: Some((*id).into()),
                title: Some((*title).into()),
                text: (*text).into(),
                source: Some(format!("demo://{}/{id}", tenant.id)),
                metadata: Some(json!({"demo": true})),
            })
            .collect();
        documents::ingest(context.retriever.as_ref(), docs).await?;
        seeded.push((tenant.id, token, key));
    }
    Ok(Seeded {
        admin_password,
        admin_token,
        tenants: seeded,
    })
}

/// What the demo runs against, for the banner: never the password.
struct Setup<'a> {
    base: &'a str,
    database: String,
    chat_enabled: bool,
}

/// Every `curl` line runs as pasted once the `export` lines above it are (tests/it/demo.rs runs
/// them); the admin curl line comes last.
fn print_banner(setup: &Setup, seeded: &Seeded, notes: &[&str]) {
    for note in notes {
        println!("note: {note}");
    }
    println!();
    println!("tenantgate demo: serving on {}", setup.base);
    println!("database:  {}", setup.database);
    println!();
    println!(
        "superuser: {ADMIN_EMAIL}  password: {}",
        seeded.admin_password
    );
    println!("tenants:   acme, globex (built-in retriever, a few documents each)");
    if setup.chat_enabled {
        println!("chat:      on (OPENAI_API_KEY is set)");
    } else {
        println!(
            "chat:      off; to turn it on, stop the demo and start it again with OPENAI_API_KEY set \
             (and OPENAI_BASE_URL=http://127.0.0.1:11434/v1 or the like for a local \
             OpenAI-compatible model server)"
        );
    }
    println!();
    println!("# paste these into a shell:");
    println!("export TG={}", setup.base);
    for (id, token, key) in &seeded.tenants {
        let upper = id.to_uppercase();
        println!("export {upper}_TOKEN={token}");
        println!("export {upper}_KEY={}", key.expose_secret());
    }
    println!("export ADMIN_TOKEN={}", seeded.admin_token);
    println!();
    println!("curl -s $TG/tenant -H \"Authorization: Bearer $ACME_TOKEN\"");
    println!(
        "curl -s $TG/search -H \"Authorization: Bearer $ACME_TOKEN\" -H 'Content-Type: application/json' -d '{{\"query\": \"rocket skates price\"}}'"
    );
    println!(
        "curl -s $TG/search -H \"Authorization: Bearer $GLOBEX_TOKEN\" -H 'Content-Type: application/json' -d '{{\"query\": \"vacation days\"}}'"
    );
    if setup.chat_enabled {
        println!(
            "curl -s $TG/chat -H \"Authorization: Bearer $GLOBEX_TOKEN\" -H 'Content-Type: application/json' -d '{{\"message\": \"How many vacation days do I get?\"}}'"
        );
    }
    println!(
        "curl -s $TG/documents -H \"X-API-Key: $ACME_KEY\" -H 'Content-Type: application/json' -d '{{\"documents\": [{{\"id\": \"note\", \"title\": \"Note\", \"text\": \"Acme dehydrated boulders: just add water.\"}}]}}'"
    );
    println!("curl -s $TG/documents -H \"X-API-Key: $ACME_KEY\"");
    println!("# the superuser logs in like any user (this prints a fresh access_token):");
    println!(
        "curl -s $TG/auth/token -H 'Content-Type: application/json' -d '{{\"email\": \"{ADMIN_EMAIL}\", \"password\": \"{}\"}}'",
        seeded.admin_password
    );
    println!("curl -s $TG/admin/tenants -H \"Authorization: Bearer $ADMIN_TOKEN\"");
    println!();
}

pub async fn run() -> anyhow::Result<()> {
    let (env, notes) = demo_env();
    let config = Config::from_env(&env)?;
    crate::app::telemetry::init(&config.log);
    let url = config.database.url.expose_secret().to_owned();
    // Like `migrate`: a DATABASE_URL naming a database that does not exist yet is created.
    let created = crate::store::db::create_database_if_missing(&url).await;
    if let Some(name) = created.map_err(anyhow::Error::msg)? {
        println!("demo: created database {name}");
    }
    let applied = crate::store::db::run_migrations(&url)
        .await
        .map_err(anyhow::Error::msg)?;
    if !applied.is_empty() {
        println!("demo: applied {} migration(s)", applied.len());
    }
    let state = AppState::new(config)?;
    let seeded = seed(&state).await?;
    let addr = SocketAddr::new(state.config.host, state.config.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("could not listen on {addr}: {e} (set PORT to use another port)")
    })?;
    let local = listener.local_addr()?;
    let shown = if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), local.port())
    } else {
        local
    };
    let setup = Setup {
        base: &format!("http://{shown}"),
        database: crate::store::db::describe_url(&url),
        chat_enabled: state.config.llm.api_key.is_some(),
    };
    print_banner(&setup, &seeded, &notes);
    let shutdown = crate::http::server::shutdown_signal();
    Ok(crate::http::server::serve_on(listener, state, shutdown).await?)
}
