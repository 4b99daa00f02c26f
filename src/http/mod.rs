//! Everything HTTP: the router, the tower stack, the layers that guard routes, the extractors
//! handlers take, the handlers themselves and the server that runs them.
//!
//! - `router`: every route in one place; `tenant_routes`: what each tenant route asks of an
//!   API key; `openapi`: the OpenAPI document.
//! - `middleware`: the tower stack; `client_address`: the caller's address behind proxies.
//! - `layers`: the tenant layer and the admin layer; `extractors`: what handlers ask for
//!   (`CurrentTenant`, `TenantRetriever`, `SystemPrompt`, `CallerOf`, `Admin`); `writers`:
//!   `require_writer`, who may write a tenant's data.
//! - `routes`: the handlers, one module per resource (`routes/admin/` for `/admin/*`).
//! - `server`: binding, connection timeouts, graceful shutdown.
//! - `error`: an `AppError` as the contract's status, `code`, JSON body and headers
//!   (`IntoResponse`).
//!
//! Not here: the rules handlers apply (`crate::services`, `crate::identity::authz`), the
//! error type itself (`crate::errors`, which knows nothing of HTTP).

pub mod client_address;
pub mod error;
pub mod extractors;
pub mod layers;
pub mod middleware;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod server;
pub mod tenant_routes;
pub mod writers;
