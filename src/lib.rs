//! tenantgate: a multi-tenant gateway for retrieval-augmented chatbot backends.
//!
//! A map of the crate:
//! - `config`: every environment variable, parsed once; `domain`: validated newtypes.
//! - `db`, `schema`, `models`: Postgres, the tables, the rows and their JSON views.
//! - `secrets`: AES-256-GCM for tenant secrets at rest.
//! - `auth`: tokens, API keys, passwords, and the tenant and superuser layers.
//! - `tenants`: the tenant context, its cache and the cross-replica change listener.
//! - `retrieval`: the `Retriever` trait and its backends; `llm`: the OpenAI-compatible chat client.
//! - `routes`: one module per resource; `router`: every route; `middleware`: the tower stack.
//! - `limits`: request limits per tenant and key (local or shared through Redis).
//! - `usage`: usage metering per tenant, day and model, and monthly token budgets.
//! - `server`: binding, background tasks, graceful shutdown; `cli`: the command line.

pub mod auth;
pub mod authz;
pub mod cli;
pub mod client_address;
pub mod config;
pub mod db;
pub mod domain;
pub mod errors;
pub mod limits;
pub mod llm;
pub mod metrics;
pub mod middleware;
pub mod models;
pub mod openapi;
pub mod redact;
pub mod retrieval;
pub mod router;
pub mod routes;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod tenants;
pub mod usage;
