use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;
use crate::store::schema::users;

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub tenant_id: Option<String>,
    pub is_superuser: bool,
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub role: String,
    pub org_id: Option<String>,
}

impl User {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Member)
    }
}

/// The hash stays out of `Debug` prints.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("role", &self.role)
            .field("org_id", &self.org_id)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    /// `domain::email_key(email)`: what uniqueness and login match on.
    pub email_key: String,
    pub password_hash: String,
    pub tenant_id: Option<String>,
    pub is_superuser: bool,
    pub is_active: bool,
    pub role: String,
    pub org_id: Option<String>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub password_hash: Option<String>,
    pub tenant_id: Option<Option<String>>,
    pub is_superuser: Option<bool>,
    pub is_active: Option<bool>,
    pub role: Option<String>,
    pub org_id: Option<Option<String>>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl UserChanges {
    pub fn changed_fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        if self.email.is_some() {
            fields.push("email".to_owned());
        }
        if self.password_hash.is_some() {
            fields.push("password".to_owned());
        }
        if self.tenant_id.is_some() {
            fields.push("tenant_id".to_owned());
        }
        if self.is_superuser.is_some() {
            fields.push("is_superuser".to_owned());
        }
        if self.is_active.is_some() {
            fields.push("is_active".to_owned());
        }
        if self.role.is_some() {
            fields.push("role".to_owned());
        }
        if self.org_id.is_some() {
            fields.push("org_id".to_owned());
        }
        fields
    }
}

/// A user as the API shows it: never the password hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub tenant_id: Option<String>,
    /// `superuser`, `org_admin`, `tenant_admin` or `member`.
    pub role: Role,
    /// The organization of an org admin.
    pub org_id: Option<String>,
    /// True exactly when `role` is `superuser`.
    pub is_superuser: bool,
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let role = u.role();
        Self {
            id: u.id,
            email: u.email,
            tenant_id: u.tenant_id,
            role,
            org_id: u.org_id,
            is_superuser: role == Role::Superuser,
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}
