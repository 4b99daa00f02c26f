//! Integration tests: one binary (one link) with a module per area. Each test gets its own
//! database from a migrated template (see `harness::db`).

mod harness;

mod auth_tokens;
mod demo;
mod documents;
mod foundation;
mod pinecone;
mod retrieval;
