//! `/admin/*`: what superusers manage, one module per resource (`crate::router` mounts them
//! behind `superuser_layer`). Mutating handlers take `Superuser` for the audit log.

pub mod api_keys;
pub mod audit;
pub mod tenants;
pub mod users;

use axum::http::HeaderMap;

use crate::auth::layers::AdminActor;
use crate::errors::{AppError, AppResult};
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

/// `limit` (default 100, 1–1000) and `offset` (default 0) of a list.
pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> AppResult<(i64, i64)> {
    let limit = limit.unwrap_or(100);
    let offset = offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 1000"));
    }
    if offset < 0 {
        return Err(AppError::validation("offset", "must not be negative"));
    }
    Ok((limit, offset))
}
