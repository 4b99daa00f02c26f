//! The two guards of the router.
//!
//! `tenant_layer` (tenant routes), per request: credential → verified token (cached) or API key
//! (cached by prefix) → tenant id → `Arc<TenantContext>` from the tenant cache → request
//! extensions. With everything cached this touches no database and allocates nothing but the
//! extension entry. An API key must hold the scope its route needs, and a write made with an
//! impersonation token is audited with both ids (both declared in `tenant_routes`).
//!
//! `admin_layer` (`/admin/*`): a token whose `sub` is an active user with an administrator's
//! role; the handlers ask `crate::identity::authz` what that role may do.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::tenant_routes::{self, TenantRoute};
use crate::app::state::AppState;
use crate::domain::Role;
use crate::errors::AppError;
use crate::http::middleware::REQUEST_ID;
use crate::identity::api_keys::ApiKeyGrant;
use crate::identity::authz::Principal;
use crate::identity::credentials::{self, Credential};
use crate::identity::jwt::VerifiedToken;
use crate::limits::window::Verdict;
use crate::store::models::audit::NewAuditEntry;
use crate::store::schema::audit_log;
use crate::tenancy::TenantContext;

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
    let (caller, tenant) = authenticate(&state, request.headers()).await?;
    let impersonated_write = check_caller(&request, &caller)?;
    let key = match &caller {
        Caller::ApiKey(grant) => Some((grant.key_id, grant.requests_per_minute)),
        Caller::User(_) => None,
    };
    let verdict = state
        .limiter
        .check(tenant.id.as_str(), tenant.requests_per_minute, key)
        .await;
    if let Some(verdict) = verdict.as_ref().filter(|v| !v.allowed) {
        return Ok(over_request_limit(verdict));
    }
    let budget = Budget::of(&state, &tenant).await;
    if is_chat(&request)
        && let Some(b) = budget.as_ref().filter(|b| b.used >= b.budget)
    {
        return Ok(over_budget(b, verdict.as_ref()));
    }
    let tenant_id = tenant.id.clone();
    request
        .extensions_mut()
        .insert(TenantRequest { tenant, caller });
    let mut response = next.run(request).await;
    if let Some(write) = impersonated_write
        && response.status().is_success()
    {
        Box::pin(write.record(&state, tenant_id.as_str())).await;
    }
    state.usage.request(tenant_id.as_str());
    if let Some(verdict) = verdict {
        verdict.write_headers(response.headers_mut());
    }
    if let Some(b) = budget {
        b.write_headers(response.headers_mut());
    }
    Ok(response)
}

/// The caller (a verified token or API key, both cached) and its tenant's context.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Caller, Arc<TenantContext>), AppError> {
    Ok(match credentials::from_headers(headers)? {
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
    })
}

/// An API key's scope for the route (403 without it); for an impersonation token, the write
/// to audit once it has succeeded. Looked up only for the callers that need it, so a plain
/// token's request pays nothing.
fn check_caller(request: &Request, caller: &Caller) -> Result<Option<ImpersonatedWrite>, AppError> {
    Ok(match caller {
        Caller::ApiKey(grant) => {
            check_scope(request, grant)?;
            None
        }
        Caller::User(token) if token.impersonator.is_some() => route_of(request)
            .and_then(|r| r.audited_write)
            .map(|action| ImpersonatedWrite::new(request, token, action)),
        Caller::User(_) => None,
    })
}

/// The routes a monthly token budget stops.
fn is_chat(request: &Request) -> bool {
    request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| matches!(p.as_str(), "/chat" | "/v1/chat/completions"))
}

/// 429 `rate_limited` with the request limit's headers.
fn over_request_limit(verdict: &Verdict) -> Response {
    metrics::counter!("ratelimit_refused_total", "reason" => "requests").increment(1);
    let mut response = AppError::RequestLimit {
        limit: verdict.limit,
        retry_after_seconds: verdict.reset.as_secs_f64().ceil() as u64,
    }
    .into_response();
    verdict.write_headers(response.headers_mut());
    response
}

/// 429 `quota_exceeded` with the budget's headers (and the request limit's, when one applies).
fn over_budget(budget: &Budget, verdict: Option<&Verdict>) -> Response {
    metrics::counter!("ratelimit_refused_total", "reason" => "budget").increment(1);
    let mut response = AppError::QuotaExceeded.into_response();
    budget.write_headers(response.headers_mut());
    if let Some(verdict) = verdict {
        verdict.write_headers(response.headers_mut());
    }
    response
}

/// The request's entry in the tenant route table (`super::tenant_routes`).
fn route_of(request: &Request) -> Option<&'static TenantRoute> {
    let template = request.extensions().get::<MatchedPath>()?;
    tenant_routes::lookup(request.method(), template.as_str())
}

/// 403 `insufficient_scope` unless the key holds the scope the route needs.
fn check_scope(request: &Request, grant: &ApiKeyGrant) -> Result<(), AppError> {
    // A route missing from the table is a bug (a unit test in `crate::http::router` guards it):
    // refuse rather than let a key through unchecked.
    let Some(route) = route_of(request) else {
        // A tenant path with a method it does not take (`DELETE /conversations`): 405, as the
        // router answers a token holder.
        let known_path = request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|t| tenant_routes::has_path(t.as_str()));
        return Err(if known_path {
            AppError::MethodNotAllowed
        } else {
            AppError::internal("tenant route missing from auth::tenant_routes")
        });
    };
    match route.scope {
        Some(scope) if !grant.scopes.contains(scope) => {
            Err(AppError::InsufficientScope(scope.as_str()))
        }
        _ => Ok(()),
    }
}

/// A write made with an impersonation token, audited with both ids once it has succeeded.
/// (Written here, not through `crate::services::audit`, which sits above `http`.)
struct ImpersonatedWrite(NewAuditEntry);

impl ImpersonatedWrite {
    /// Longest target path kept (the path is the caller's; the audit row stays bounded).
    const MAX_TARGET: usize = 256;

    fn new(request: &Request, token: &VerifiedToken, action: &'static str) -> Self {
        let request_id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let path = request.uri().path();
        // The path is ASCII (percent-encoded), so any byte index is a char boundary.
        let target = format!(
            "{} {}",
            request.method(),
            path.get(..Self::MAX_TARGET).unwrap_or(path)
        );
        Self(NewAuditEntry {
            actor: format!("user:{}", token.sub.as_deref().unwrap_or("unknown")),
            action: action.to_owned(),
            target,
            tenant_id: None,
            request_id,
            changed_fields: Vec::new(),
            impersonator: token.impersonator.map(|i| format!("user:{i}")),
        })
    }

    async fn record(self, state: &AppState, tenant_id: &str) {
        use diesel_async::RunQueryDsl;
        let entry = NewAuditEntry {
            tenant_id: Some(tenant_id.to_owned()),
            ..self.0
        };
        let written = match state.pool.get().await {
            Ok(mut conn) => diesel::insert_into(audit_log::table)
                .values(&entry)
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = written {
            tracing::error!(error = %error, action = %entry.action, "could not audit an impersonated write");
        }
    }
}

/// A tenant's monthly token budget and its use so far, for the `x-ratelimit-*-tokens` headers.
struct Budget {
    budget: i64,
    used: i64,
}

impl Budget {
    /// The tenant's budget and this month's use, when it has a budget.
    async fn of(state: &AppState, tenant: &TenantContext) -> Option<Self> {
        let budget = tenant.monthly_token_budget?;
        match Box::pin(state.usage.month_tokens(tenant.id.as_str())).await {
            Ok(used) => Some(Self { budget, used }),
            Err(error) => {
                // Not knowing the month's total must not stop the tenant: answer, count later.
                tracing::warn!(error = %error, "could not read the month's token usage");
                None
            }
        }
    }

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
