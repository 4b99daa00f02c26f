//! The tenant context (what a request of a tenant works with) and the cache that holds it.
//!
//! - `context`: `TenantContext`, built once per cache entry: the row's settings, the decrypted
//!   Pinecone key, the effective system prompt and the tenant's retriever.
//! - `cache`: the per-process cache (TTL, bounded, single-flight, negative entries, versions).
//!
//! Not here: resolving a request to its tenant (`crate::http::layers`), the listener that drops
//! stale entries on changes from other replicas (`crate::app::listener`, which also keeps the
//! identity caches coherent, so this module imports nothing from `crate::identity`).

pub mod cache;
pub mod context;

pub use cache::TenantCache;
pub use context::TenantContext;
