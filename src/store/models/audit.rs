use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::schema::audit_log;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, utoipa::ToSchema)]
#[diesel(table_name = audit_log)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub tenant_id: Option<String>,
    pub request_id: Option<String>,
    pub changed_fields: Vec<String>,
    /// With an impersonation token: the user really acting (`user:<uuid>`); `actor` is the
    /// user impersonated.
    pub impersonator: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub tenant_id: Option<String>,
    pub request_id: Option<String>,
    pub changed_fields: Vec<String>,
    pub impersonator: Option<String>,
}
