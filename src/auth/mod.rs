//! Who is calling: credentials, tokens, API keys, passwords, and the layers that guard routes.
//!
//! - `credentials`: reading `Authorization` / `X-API-Key` into a `Credential`.
//! - `jwt`: verifying and issuing tokens (with the verified-token cache).
//! - `api_keys`: tenant API keys.
//! - `password`: argon2id hashing.
//! - `login_throttle`: slowing down repeated failed logins.
//! - `revocations`: refusing tokens of users who changed (deactivated, moved, …).
//! - `scopes`: API key scopes (`chat`, `search`, …).
//! - `tenant_routes`: the scope each tenant route needs, and which routes write.
//! - `layers`: the tenant layer and the admin layer.
//! - `extractors`: what handlers ask for (`Tenant`, `Retriever`, `SystemPrompt`, `CallerOf`, `Superuser`).
//! - `writers`: `require_writer`, who may write a tenant's data.

pub mod api_keys;
pub mod credentials;
pub mod extractors;
pub mod jwt;
pub mod layers;
pub mod login_throttle;
pub mod password;
pub mod revocations;
pub mod scopes;
pub mod superusers;
pub mod tenant_routes;
pub mod writers;

pub use writers::require_writer;
