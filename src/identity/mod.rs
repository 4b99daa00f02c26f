//! Who is calling and what their role allows: credentials, tokens, API keys, passwords, roles.
//!
//! - `credentials`: reading `Authorization` / `X-API-Key` into a `Credential`.
//! - `jwt`: verifying and issuing tokens (with the verified-token cache).
//! - `api_keys`: tenant API keys (and their cache).
//! - `password`: argon2id hashing.
//! - `login_throttle`: slowing down repeated failed logins.
//! - `revocations`: refusing tokens of users who changed (deactivated, moved, …).
//! - `superusers`: the cached "is this user still a superuser?" answer.
//! - `scopes`: API key scopes (`chat`, `search`, …).
//! - `authz`: who may do what on `/admin/*` (the table of DESIGN §10).
//!
//! Not here: the layers that guard routes, the extractors and the per-route scope table
//! (`crate::http`), the tenant context (`crate::tenancy`).

pub mod api_keys;
pub mod authz;
pub mod credentials;
pub mod jwt;
pub mod login_throttle;
pub mod password;
pub mod revocations;
pub mod scopes;
pub mod superusers;
