//! Extractors: the API of the layers. Handlers name what they need in their signature; the
//! layer has done the work, the extractor only reads the request's extensions.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::layers::{Caller, TenantRequest};
use crate::errors::AppError;
use crate::identity::authz::Principal;
use crate::rag::retrieval::Retriever;
use crate::tenancy::TenantContext;

fn tenant_request(parts: &Parts) -> Result<&TenantRequest, AppError> {
    // Only missing when a route was mounted outside the tenant layer: a bug, not a client error.
    parts
        .extensions
        .get::<TenantRequest>()
        .ok_or_else(|| AppError::internal("tenant route mounted without the tenant layer"))
}

/// The request's tenant (its cached context; not the `tenants` row, `store::models::tenant::Tenant`).
pub struct CurrentTenant(pub Arc<TenantContext>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(tenant_request(parts)?.tenant.clone()))
    }
}

/// The system prompt to use: the tenant's own, or `DEFAULT_SYSTEM_PROMPT`.
pub struct SystemPrompt(pub Arc<str>);

impl<S: Send + Sync> FromRequestParts<S> for SystemPrompt {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(tenant_request(parts)?.tenant.effective_prompt.clone()))
    }
}

/// Who is calling a tenant route: a user's token or a tenant API key.
pub struct CallerOf(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for CallerOf {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(tenant_request(parts)?.caller.clone()))
    }
}

/// The administrator behind an admin request; handlers ask `crate::identity::authz::authorize` with it.
pub struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Self)
            .ok_or_else(|| AppError::internal("admin route mounted without the admin layer"))
    }
}

/// The request's tenant's retriever (built once per tenant-cache entry, shared by requests).
pub struct TenantRetriever(pub Arc<dyn Retriever>);

impl<S: Send + Sync> FromRequestParts<S> for TenantRetriever {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(tenant_request(parts)?.tenant.retriever.clone()))
    }
}
