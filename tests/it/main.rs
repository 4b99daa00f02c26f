//! Integration tests: one binary (one link) with a module per area. Each test gets its own
//! database from a migrated template (see `harness::db`).

mod harness;

mod auth_tokens;
mod foundation;
mod documents;
mod retrieval;
mod pinecone;
mod demo;
