use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::schema::organizations;

/// An organization: a customer owning several tenants (DESIGN §10). Also its JSON shape.
#[derive(
    Debug, Clone, Queryable, Selectable, Identifiable, Serialize, Deserialize, utoipa::ToSchema,
)]
#[diesel(table_name = organizations)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Organization {
    pub id: String,
    pub name: String,
    /// An inactive organization's tenants answer 403 `tenant_unavailable`.
    pub is_active: bool,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization {
    pub id: String,
    pub name: String,
    pub is_active: bool,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub is_active: Option<bool>,
}
