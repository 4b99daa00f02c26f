//! Who may do what on `/admin/*` (DESIGN §10): the one authorization function every admin
//! handler and CLI command asks, and the table it reads (mirrored in `docs/admin.md`).
//!
//! Two questions, always in this order:
//! 1. May this role use the route at all? [`authorize`] reads [`reach`]; "no" is 403
//!    `forbidden`, "yes" is a [`Scope`]: everything, one organization, or one tenant.
//! 2. Is this object inside the scope? The `Scope::*` methods answer; an object outside it is
//!    404 `not_found`, exactly as if it did not exist, so an org admin cannot probe for the
//!    ids of other customers.
//!
//! Lists are filtered by the same scope (see `Scope::tenant_filter`). No handler decides scope
//! on its own; the table-driven test `tests/it/roles.rs` calls every admin route as every role
//! on its own and on others' objects.
//!
//! Not here: who may call tenant routes (the tenant layer and API key scopes, `crate::identity`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use crate::store::schema::tenants;

/// Everything an admin route can do, one variant per (resource, verb).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    OrgCreate,
    OrgList,
    OrgRead,
    OrgUpdate,
    OrgDeactivate,
    TenantCreate,
    TenantList,
    TenantRead,
    TenantUpdate,
    TenantDeactivate,
    UserCreate,
    UserList,
    UserRead,
    UserUpdate,
    UserDeactivate,
    UserImpersonate,
    ApiKeyCreate,
    ApiKeyList,
    ApiKeyRevoke,
    UsageRead,
    AuditRead,
}

/// How far a role reaches with an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    All,
    OwnOrg,
    OwnTenant,
    /// 403 `forbidden`: the role may not use the route at all.
    Denied,
}

/// THE TABLE (DESIGN §10). Keep `docs/admin.md` in step with it.
pub const fn reach(role: Role, action: Action) -> Reach {
    use Action::*;
    use Reach::*;
    match role {
        Role::Superuser => All,
        Role::Member => Denied,
        Role::OrgAdmin => match action {
            // Organizations: read its own only.
            OrgList | OrgRead => OwnOrg,
            OrgCreate | OrgUpdate | OrgDeactivate => Denied,
            // Everything else, inside its own organization.
            _ => OwnOrg,
        },
        Role::TenantAdmin => match action {
            OrgCreate | OrgList | OrgRead | OrgUpdate | OrgDeactivate => Denied,
            // Its own tenant: read, and update `name` / `system_prompt` only (see
            // `TENANT_ADMIN_TENANT_FIELDS`); no creating, no deactivating.
            TenantList | TenantRead | TenantUpdate => OwnTenant,
            TenantCreate | TenantDeactivate => Denied,
            UserCreate | UserList | UserRead | UserUpdate | UserDeactivate => OwnTenant,
            UserImpersonate => Denied,
            ApiKeyCreate | ApiKeyList | ApiKeyRevoke | UsageRead | AuditRead => OwnTenant,
        },
    }
}

/// The tenant fields a tenant admin may change.
pub const TENANT_ADMIN_TENANT_FIELDS: &[&str] = &["name", "system_prompt"];

/// The highest role each role may grant (and so the highest it may see among users).
pub const fn highest_grantable(role: Role) -> Option<Role> {
    match role {
        Role::Superuser => Some(Role::Superuser),
        Role::OrgAdmin => Some(Role::OrgAdmin),
        Role::TenantAdmin => Some(Role::TenantAdmin),
        Role::Member => None,
    }
}

/// The administrator behind a request (read from the database, cached briefly).
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Option<Uuid>,
    pub role: Role,
    pub org_id: Option<String>,
    pub tenant_id: Option<String>,
    /// The `act.sub` of an impersonation token: who is really acting.
    pub impersonator: Option<Uuid>,
}

impl Principal {
    /// The operator at the command line: the database's owner, so everything.
    pub fn cli() -> Self {
        Self {
            user_id: None,
            role: Role::Superuser,
            org_id: None,
            tenant_id: None,
            impersonator: None,
        }
    }
}

/// What a permitted action may touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Org(String),
    Tenant(String),
    /// An org admin without an organization, a tenant admin without a tenant: may use the
    /// route, sees nothing.
    Nothing,
}

/// Question 1: may `principal` use the route of `action`? 403 `forbidden` when not.
pub fn authorize(principal: &Principal, action: Action) -> AppResult<Scope> {
    Ok(match reach(principal.role, action) {
        Reach::All => Scope::All,
        Reach::OwnOrg => principal.org_id.clone().map_or(Scope::Nothing, Scope::Org),
        Reach::OwnTenant => principal
            .tenant_id
            .clone()
            .map_or(Scope::Nothing, Scope::Tenant),
        Reach::Denied => return Err(AppError::Forbidden("your role may not do this")),
    })
}

/// Which tenants a list may show.
pub enum TenantFilter<'a> {
    All,
    InOrg(&'a str),
    Only(&'a str),
    None,
}

impl Scope {
    pub fn tenant_filter(&self) -> TenantFilter<'_> {
        match self {
            Self::All => TenantFilter::All,
            Self::Org(org) => TenantFilter::InOrg(org),
            Self::Tenant(t) => TenantFilter::Only(t),
            Self::Nothing => TenantFilter::None,
        }
    }

    /// Is a tenant (its id and organization) inside the scope?
    pub fn covers_tenant(&self, tenant_id: &str, org_id: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::Org(org) => org_id == Some(org.as_str()),
            Self::Tenant(t) => t == tenant_id,
            Self::Nothing => false,
        }
    }

    /// Is an organization inside the scope?
    pub fn covers_org(&self, org_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Org(org) => org == org_id,
            Self::Tenant(_) | Self::Nothing => false,
        }
    }

    /// Is a user inside the scope? `tenant_org` is the organization of the user's tenant.
    /// An org scope sees its tenants' users and its own org admins, a tenant scope its
    /// tenant's members and tenant admins; neither ever sees a superuser.
    pub fn covers_user(&self, user: &UserFacts<'_>) -> bool {
        match self {
            Self::All => true,
            Self::Org(org) => {
                user.role <= Role::OrgAdmin
                    && (user.tenant_org == Some(org.as_str())
                        || (user.role == Role::OrgAdmin && user.org_id == Some(org.as_str())))
            }
            Self::Tenant(t) => user.role <= Role::TenantAdmin && user.tenant_id == Some(t.as_str()),
            Self::Nothing => false,
        }
    }

    /// 404 unless the tenant exists and is inside the scope; returns its organization.
    pub async fn require_tenant(
        &self,
        conn: &mut AsyncPgConnection,
        tenant_id: &str,
    ) -> AppResult<Option<String>> {
        let row: Option<Option<String>> = tenants::table
            .find(tenant_id)
            .select(tenants::org_id)
            .first(conn)
            .await
            .optional()?;
        match row {
            Some(org) if self.covers_tenant(tenant_id, org.as_deref()) => Ok(org),
            _ => Err(AppError::not_found("tenant")),
        }
    }

    /// 404 unless the organization is inside the scope (existence is the handler's check).
    pub fn require_org(&self, org_id: &str) -> AppResult<()> {
        if self.covers_org(org_id) {
            Ok(())
        } else {
            Err(AppError::not_found("organization"))
        }
    }
}

/// What the scope rules need to know of a user.
pub struct UserFacts<'a> {
    pub role: Role,
    pub org_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub tenant_org: Option<&'a str>,
}

/// May `principal` (acting in `scope`) give a user this role, organization and tenant?
/// `tenant_org` is the organization of `tenant_id`. A role above the principal's reach is
/// 403 `forbidden`; an organization or tenant outside its scope is answered like an unknown
/// one (422 on the field), so nothing is learnt about other customers.
pub fn check_assignment(
    principal: &Principal,
    scope: &Scope,
    target: &UserFacts<'_>,
) -> AppResult<()> {
    let highest = highest_grantable(principal.role)
        .ok_or(AppError::Forbidden("your role may not do this"))?;
    if target.role > highest {
        return Err(AppError::Forbidden("your role may not grant this role"));
    }
    if let Some(tenant_id) = target.tenant_id
        && !scope.covers_tenant(tenant_id, target.tenant_org)
    {
        return Err(AppError::validation("tenant_id", "no tenant with this id"));
    }
    if let Some(org_id) = target.org_id
        && !scope.covers_org(org_id)
    {
        return Err(AppError::validation(
            "org_id",
            "no organization with this id",
        ));
    }
    match scope {
        Scope::All => Ok(()),
        // An org admin's users belong to its organization: through a tenant of it, or (org
        // admins) through `org_id`.
        Scope::Org(org) => {
            let in_org = target.tenant_org == Some(org.as_str())
                || (target.role == Role::OrgAdmin && target.org_id == Some(org.as_str()));
            if in_org {
                Ok(())
            } else {
                Err(AppError::validation(
                    "tenant_id",
                    "must be a tenant of your organization",
                ))
            }
        }
        Scope::Tenant(t) => {
            if target.tenant_id == Some(t.as_str()) && target.org_id.is_none() {
                Ok(())
            } else {
                Err(AppError::validation("tenant_id", "must be your tenant"))
            }
        }
        Scope::Nothing => Err(AppError::validation("tenant_id", "no tenant with this id")),
    }
}

/// The names `GET /auth/me` lists under `permissions`: what the caller may do.
pub fn permissions(role: Role) -> Vec<&'static str> {
    let mut names = vec!["chat", "search", "documents:read", "usage:read"];
    if role == Role::Superuser {
        names.push("documents:write");
    }
    for (name, action) in ADMIN_PERMISSIONS {
        if reach(role, *action) != Reach::Denied {
            names.push(name);
        }
    }
    names
}

/// `admin:*` permission names and the action each stands for (docs/admin.md lists them).
pub const ADMIN_PERMISSIONS: &[(&str, Action)] = &[
    ("admin:orgs:read", Action::OrgRead),
    ("admin:orgs:write", Action::OrgUpdate),
    ("admin:tenants:read", Action::TenantRead),
    ("admin:tenants:create", Action::TenantCreate),
    ("admin:tenants:write", Action::TenantUpdate),
    ("admin:tenants:deactivate", Action::TenantDeactivate),
    ("admin:users:read", Action::UserRead),
    ("admin:users:write", Action::UserUpdate),
    ("admin:users:impersonate", Action::UserImpersonate),
    ("admin:api_keys", Action::ApiKeyList),
    ("admin:usage", Action::UsageRead),
    ("admin:audit", Action::AuditRead),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_by_privilege_and_round_trip() {
        assert!(Role::Superuser > Role::OrgAdmin);
        assert!(Role::OrgAdmin > Role::TenantAdmin);
        assert!(Role::TenantAdmin > Role::Member);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn members_may_do_nothing_and_superusers_everything() {
        for (_, action) in ADMIN_PERMISSIONS {
            assert_eq!(reach(Role::Member, *action), Reach::Denied);
            assert_eq!(reach(Role::Superuser, *action), Reach::All);
        }
    }
}
