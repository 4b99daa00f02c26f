//! The two guards of the router.
//!
//! `tenant_layer` (tenant routes), per request: credential → verified token (cached) or API key
//! (cached by prefix) → tenant id → `Arc<TenantContext>` from the tenant cache → request
//! extensions. With everything cached this touches no database and allocates nothing but the
//! extension entry.
//!
//! `admin_layer` (`/admin/*`): a token whose `sub` is an active user with an administrator's
//! role; the handlers ask `crate::authz` what that role may do.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::api_keys::ApiKeyGrant;
use super::credentials::{self, Credential};
use super::jwt::VerifiedToken;
use crate::authz::{Principal, Role};
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
    let budget = match tenant.monthly_token_budget {
        None => None,
        Some(budget) => match state.usage.month_tokens(tenant.id.as_str()).await {
            Ok(used) => Some(Budget { budget, used }),
            Err(error) => {
                // Not knowing the month's total must not stop the tenant: answer, count later.
                tracing::warn!(error = %error, "could not read the month's token usage");
                None
            }
        },
    };
    let is_chat = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| matches!(p.as_str(), "/chat" | "/v1/chat/completions"));
    if is_chat && let Some(b) = budget.as_ref().filter(|b| b.used >= b.budget) {
        metrics::counter!("ratelimit_refused_total", "reason" => "budget").increment(1);
        let mut response = AppError::QuotaExceeded.into_response();
        b.write_headers(response.headers_mut());
        if let Some(verdict) = verdict {
            verdict.write_headers(response.headers_mut());
        }
        return Ok(response);
    }
    let tenant_id = tenant.id.clone();
    request
        .extensions_mut()
        .insert(TenantRequest { tenant, caller });
    let mut response = next.run(request).await;
    state.usage.request(tenant_id.as_str());
    if let Some(verdict) = verdict {
        verdict.write_headers(response.headers_mut());
    }
    if let Some(b) = budget {
        b.write_headers(response.headers_mut());
    }
    Ok(response)
}

/// A tenant's monthly token budget and its use so far, for the `x-ratelimit-*-tokens` headers.
struct Budget {
    budget: i64,
    used: i64,
}

impl Budget {
    fn write_headers(&self, headers: &mut axum::http::HeaderMap) {
        use crate::limits::{LIMIT_TOKENS, REMAINING_TOKENS, RESET_TOKENS, format_reset};
        use axum::http::HeaderValue;
        headers.insert(LIMIT_TOKENS.clone(), HeaderValue::from(self.budget));
        headers.insert(
            REMAINING_TOKENS.clone(),
            HeaderValue::from((self.budget - self.used).max(0)),
        );
        let reset = crate::usage::until_next_month();
        if let Ok(value) = HeaderValue::from_str(&format_reset(reset)) {
            headers.insert(RESET_TOKENS.clone(), value);
        }
    }
}

pub async fn admin_layer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    const REFUSED: AppError = AppError::Forbidden("administrator privileges are required");
    let principal = match credentials::from_headers(request.headers())? {
        Credential::ApiKey(key) => {
            // A valid tenant key is a real caller, just not an administrator.
            state.api_keys.authenticate(key).await?;
            return Err(REFUSED);
        }
        Credential::Jwt(token) => {
            let verified = state.tokens.verify(token).await?;
            let user_id = verified
                .sub
                .as_deref()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or(REFUSED)?;
            let standing = state.superusers.standing(user_id).await?.ok_or(REFUSED)?;
            if standing.role == Role::Member {
                return Err(REFUSED);
            }
            Principal {
                user_id: Some(user_id),
                role: standing.role,
                org_id: standing.org_id.clone(),
                tenant_id: standing.tenant_id.clone(),
                impersonator: verified.impersonator,
            }
        }
    };
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}
