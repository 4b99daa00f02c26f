//! `/admin/*`: what superusers manage, one module per resource (`crate::router` mounts them
//! behind `superuser_layer`). Mutating handlers take `Superuser` for the audit log.

pub mod api_keys;
pub mod audit;
pub mod tenants;
pub mod usage;
pub mod users;

use axum::http::HeaderMap;

use crate::auth::layers::AdminActor;
use crate::middleware::REQUEST_ID;
use crate::services::audit::Actor;

/// The audit actor of an admin request: the superuser and the request id (always present:
/// the request-id layer sets one when the caller did not).
pub fn actor(admin: AdminActor, headers: &HeaderMap) -> Actor {
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Actor::user(admin.user_id, request_id)
}
