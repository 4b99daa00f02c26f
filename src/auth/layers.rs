//! The two guards of the router.
//!
//! `tenant_layer` (tenant routes), per request: credential → verified token (cached) or API key
//! (cached by prefix) → tenant id → `Arc<TenantContext>` from the tenant cache → request
//! extensions. With everything cached this touches no database and allocates nothing but the
//! extension entry.
//!
//! `superuser_layer` (`/admin/*`): a token whose `sub` is an active superuser.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::api_keys::ApiKeyGrant;
use super::credentials::{self, Credential};
use super::jwt::VerifiedToken;
use crate::errors::AppError;
use crate::state::AppState;
use crate::tenants::TenantContext;

/// Who made a request on a tenant route.
#[derive(Clone, Debug)]
pub enum Caller {
    User(Arc<VerifiedToken>),
    ApiKey(ApiKeyGrant),
}

/// What the tenant layer leaves in the request for the extractors.
#[derive(Clone)]
pub struct TenantRequest {
    pub tenant: Arc<TenantContext>,
    pub caller: Caller,
}

/// The superuser behind an admin request (for the audit log).
#[derive(Clone, Copy, Debug)]
pub struct AdminActor {
    pub user_id: Uuid,
}

pub async fn tenant_layer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let (caller, tenant) = match credentials::from_headers(request.headers())? {
        Credential::Jwt(token) => {
            let verified = state.tokens.verify(token).await?;
            let tenant_id = verified.tenant_id.as_deref().ok_or(AppError::NoTenant)?;
            let tenant = state.tenants.get(tenant_id).await?;
            (Caller::User(verified), tenant)
        }
        Credential::ApiKey(key) => {
            let grant = state.api_keys.authenticate(key).await?;
            let tenant = state.tenants.get(&grant.tenant_id).await?;
            (Caller::ApiKey(grant), tenant)
        }
    };
    let key = match &caller {
        Caller::ApiKey(grant) => Some((grant.key_id, grant.requests_per_minute)),
        Caller::User(_) => None,
    };
    let verdict = state
        .limiter
        .check(tenant.id.as_str(), tenant.requests_per_minute, key)
        .await;
    if let Some(verdict) = verdict
        && !verdict.allowed
    {
        metrics::counter!("ratelimit_refused_total", "reason" => "requests").increment(1);
        let mut response = AppError::RequestLimit {
            limit: verdict.limit,
            retry_after_seconds: verdict.reset.as_secs_f64().ceil() as u64,
        }
        .into_response();
        verdict.write_headers(response.headers_mut());
        return Ok(response);
    }
    request
        .extensions_mut()
        .insert(TenantRequest { tenant, caller });
    let mut response = next.run(request).await;
    if let Some(verdict) = verdict {
        verdict.write_headers(response.headers_mut());
    }
    Ok(response)
}

pub async fn superuser_layer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let actor = match credentials::from_headers(request.headers())? {
        Credential::ApiKey(key) => {
            // A valid tenant key is a real caller, just not an administrator.
            state.api_keys.authenticate(key).await?;
            return Err(AppError::Forbidden("superuser privileges are required"));
        }
        Credential::Jwt(token) => {
            let verified = state.tokens.verify(token).await?;
            let user_id = verified
                .sub
                .as_deref()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or(AppError::Forbidden("superuser privileges are required"))?;
            if !state.superusers.is_active_superuser(user_id).await? {
                return Err(AppError::Forbidden("superuser privileges are required"));
            }
            AdminActor { user_id }
        }
    };
    request.extensions_mut().insert(actor);
    Ok(next.run(request).await)
}
