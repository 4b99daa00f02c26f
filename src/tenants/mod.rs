//! The tenant context (what a request of a tenant works with) and the cache that holds it.
//!
//! - `context`: `TenantContext`, built once per cache entry: the row's settings, the decrypted
//!   Pinecone key, the effective system prompt and the tenant's retriever.
//! - `cache`: the per-process cache (TTL, bounded, single-flight, negative entries, versions).
//! - `listener`: `LISTEN`s for changes made by any replica and drops stale entries.

pub mod cache;
pub mod context;
pub mod listener;

pub use cache::TenantCache;
pub use context::{PineconeSettings, TenantContext, TenantSettings};
