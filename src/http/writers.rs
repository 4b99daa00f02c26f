//! Who may write a tenant's data (`POST /documents`, `DELETE /documents/{id}`): the tenant's
//! own API key (server-to-server ingestion), or an active superuser. A tenant user's token
//! reads (search, chat) but does not write: frontends hold those tokens, and a leaked
//! frontend token should not be able to rewrite the tenant's knowledge base.

use uuid::Uuid;

use super::layers::Caller;
use crate::app::state::AppState;
use crate::errors::{AppError, AppResult};

const FORBIDDEN: &str = "writing needs the tenant's API key or a superuser's token";

/// Ok for a tenant API key (the tenant layer has already matched it to the request's tenant)
/// and for a token whose `sub` is an active superuser (read through `state.superusers`, so a
/// demotion takes effect as it does on `/admin/*`); 403 `forbidden` otherwise.
pub async fn require_writer(state: &AppState, caller: &Caller) -> AppResult<()> {
    match caller {
        Caller::ApiKey(_) => Ok(()),
        Caller::User(token) => {
            let user_id = token
                .sub
                .as_deref()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or(AppError::Forbidden(FORBIDDEN))?;
            if state.superusers.is_active_superuser(user_id).await? {
                Ok(())
            } else {
                Err(AppError::Forbidden(FORBIDDEN))
            }
        }
    }
}
