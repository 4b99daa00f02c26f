//! `GET /admin/audit`: the audit log, newest first: the entries about the tenants the caller
//! may administer (a superuser: all).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::app::state::AppState;
use crate::errors::AppResult;
use crate::http::error::ErrorBody;
use crate::http::extractors::Admin;
use crate::http::routes::{ValidQuery, params};
use crate::identity::authz::{self, Action};
use crate::services::audit;
use crate::store::models::audit::AuditEntry;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this tenant.
    pub tenant_id: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/admin/audit", operation_id = "list_audit_entries", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "newest first; changed field names only, never values", body = Vec<AuditEntry>),
        (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ValidQuery(query): ValidQuery<AuditQuery>,
) -> AppResult<Json<Vec<AuditEntry>>> {
    let scope = authz::authorize(&admin, Action::AuditRead)?;
    let limit = params::limit(query.limit)?;
    let tenant_id = query.tenant_id.as_deref().filter(|t| !t.is_empty());
    let mut conn = state.pool.get().await?;
    Ok(Json(
        audit::list(&mut conn, &scope, tenant_id, limit).await?,
    ))
}
