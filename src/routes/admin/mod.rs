//! `/admin/*`: what superusers manage. Every route here sits behind `superuser_layer`
//! (see `crate::router`); handlers take `Superuser` for the audit log.

pub mod tenants;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;

use crate::auth::layers::AdminActor;
use crate::middleware::REQUEST_ID;
use crate::services::audit::Actor;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/tenants/{id}",
            get(tenants::show)
                .put(tenants::update)
                .patch(tenants::update)
                .delete(tenants::deactivate),
        )
}

/// The audit actor of an admin request: the superuser and the request id.
pub fn actor(admin: AdminActor, headers: &HeaderMap) -> Actor {
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Actor::user(admin.user_id, request_id)
}
