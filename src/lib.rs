//! tenantgate: a multi-tenant gateway for retrieval-augmented chatbot backends.
//!
//! A map of the crate (docs/architecture.md draws it). Every top-level module imports only
//! modules listed above it here, never one below: `tests/it/architecture.rs` fails on a cycle.
//! - `domain`: validated newtypes and the user `Role`; `secrets`: AES-256-GCM for tenant secrets
//!   at rest; `redact`: scrubbing secrets out of upstream text; `metrics`: Prometheus metrics.
//! - `config`: every environment variable, parsed once.
//! - `store`: Postgres: the pool, the tables (`schema`), the rows and their JSON views.
//! - `errors`: `AppError`, the one error type, without HTTP (`http::error` maps it to the
//!   contract's status, code and JSON body).
//! - `limits`: request and failed-login limits, counted locally or through Redis; `usage`:
//!   metering and monthly token budgets.
//! - `identity`: who is calling: credentials, tokens, API keys, passwords, roles.
//! - `rag`: retrieval backends, the LLM client, and the prompt shared by `/chat` and `/v1`.
//! - `tenancy`: the tenant context and its cache.
//! - `services`: every write, shared by the admin API and the command line.
//! - `app`: the process's shared state, the cross-replica change listener, logging.
//! - `http`: the router, the tower stack, the tenant and admin layers, extractors, handlers, the
//!   server, and errors as HTTP responses.
//! - `cli`: the command line.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod errors;
pub mod http;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod rag;
pub mod redact;
pub mod secrets;
pub mod services;
pub mod store;
pub mod tenancy;
pub mod usage;
