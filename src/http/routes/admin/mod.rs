//! `/admin/*`: what administrators manage, one module per resource (`crate::http::router` mounts
//! them behind `admin_layer`). Every handler takes `Admin` and first asks
//! `crate::identity::authz::authorize` what the caller's role may do; objects outside the answer's scope
//! are 404.

pub mod api_keys;
pub mod audit;
pub mod orgs;
pub mod tenants;
pub mod usage;
pub mod users;

use axum::http::HeaderMap;

use crate::http::middleware::REQUEST_ID;
use crate::identity::authz::Principal;
use crate::services::audit::Actor;

/// The audit actor of an admin request: the user, the impersonator when the token is an
/// impersonation token, and the request id (always present: the request-id layer sets one
/// when the caller did not).
pub fn actor(admin: &Principal, headers: &HeaderMap) -> Actor {
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match admin.user_id {
        Some(id) => Actor::impersonated(id, admin.impersonator, request_id),
        None => Actor::cli(),
    }
}
