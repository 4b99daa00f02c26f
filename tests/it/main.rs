//! Integration tests: one binary (one link) with a module per area. Each test gets its own
//! database from a migrated template (see `harness::db`).

mod harness;

mod admin;
mod api_keys;
mod architecture;
mod auth_hardening;
mod auth_tokens;
mod chat;
mod console;
mod conversations;
mod db_restart;
mod demo;
mod documents;
mod foundation;
mod identity_provider;
mod impersonation;
mod input_edge;
mod key_rotation;
mod limits;
mod log_secrets;
mod metrics;
mod newcomer;
mod openai;
mod openapi;
mod orgs;
mod pgbouncer;
mod pinecone;
mod properties;
mod retrieval;
mod retrieval_limits;
mod roles;
mod scopes;
mod sdk;
mod search_queries;
mod tenant_cache;
mod token_revocation;
mod transport_timeouts;
mod usage;
mod walkthrough;
