//! Creating and changing users. Emails are unique whatever their case (409 `conflict`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use super::OrNotFound;
use super::audit::{self, Actor, Change};
use super::caches::Caches;
use super::double_option;
use crate::domain::Email;
use crate::domain::Role;
use crate::errors::{AppError, AppResult, FieldError};
use crate::identity::authz::{Scope, TenantFilter};
use crate::identity::password;
use crate::store::models::user::{NewUser, User, UserChanges};
use crate::store::schema::{tenants, users};

/// Unknown fields are refused here (a misspelt `is_superuser` must not create a plain user
/// silently); updates ignore them, so a user read can be sent back.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    pub tenant_id: Option<String>,
    /// Same as `role: "superuser"`.
    #[serde(default)]
    pub is_superuser: bool,
    pub is_active: Option<bool>,
    /// `superuser`, `org_admin`, `tenant_admin` or `member` (default; `superuser` when
    /// `is_superuser` is true).
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// The organization of an org admin (required with `role: "org_admin"`).
    #[serde(default)]
    pub org_id: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct UpdateUser {
    pub email: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub tenant_id: Option<Option<String>>,
    pub is_superuser: Option<bool>,
    pub is_active: Option<bool>,
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub org_id: Option<Option<String>>,
}

fn parse_role(errors: &mut Vec<FieldError>, raw: &str) -> Option<Role> {
    let role = Role::parse(raw);
    if role.is_none() {
        errors.push(FieldError::new(
            "role",
            "must be superuser, org_admin, tenant_admin or member",
        ));
    }
    role
}

/// The role a create asks for: `role`, else `superuser` when `is_superuser`, else `member`.
pub fn requested_role(input: &CreateUser) -> AppResult<Role> {
    let mut errors = Vec::new();
    let role = match input.role.as_deref() {
        Some(raw) => parse_role(&mut errors, raw),
        None if input.is_superuser => Some(Role::Superuser),
        None => Some(Role::Member),
    };
    if input.is_superuser && role.is_some_and(|r| r != Role::Superuser) {
        errors.push(FieldError::new(
            "is_superuser",
            "contradicts role (is_superuser is true exactly when role is superuser)",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    role.ok_or_else(|| AppError::validation("role", "is invalid"))
}

/// The role an update leaves: `role`, else what `is_superuser` implies, else `current`.
pub fn updated_role(input: &UpdateUser, current: Role) -> AppResult<Role> {
    let mut errors = Vec::new();
    let role = match (input.role.as_deref(), input.is_superuser) {
        (Some(raw), flag) => {
            let role = parse_role(&mut errors, raw);
            if let (Some(r), Some(flag)) = (role, flag)
                && (r == Role::Superuser) != flag
            {
                errors.push(FieldError::new(
                    "is_superuser",
                    "contradicts role (is_superuser is true exactly when role is superuser)",
                ));
            }
            role
        }
        (None, Some(true)) => Some(Role::Superuser),
        (None, Some(false)) if current == Role::Superuser => Some(Role::Member),
        (None, _) => Some(current),
    };
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    role.ok_or_else(|| AppError::validation("role", "is invalid"))
}

/// A role's required attachments: an org admin names its organization, a tenant admin its
/// tenant.
pub fn check_shape(role: Role, org_id: Option<&str>, tenant_id: Option<&str>) -> AppResult<()> {
    match role {
        Role::OrgAdmin if org_id.is_none() => Err(AppError::validation(
            "org_id",
            "is required for an org_admin",
        )),
        Role::TenantAdmin if tenant_id.is_none() => Err(AppError::validation(
            "tenant_id",
            "is required for a tenant_admin",
        )),
        _ => Ok(()),
    }
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    input: CreateUser,
) -> AppResult<User> {
    let mut errors = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok();
    if let Err(message) = password::check_strength(input.password.expose_secret()) {
        errors.push(FieldError::new("password", message));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    let email = email.ok_or_else(|| AppError::validation("email", "is invalid"))?;
    let role = requested_role(&input)?;
    let tenant_id = input.tenant_id.filter(|t| !t.trim().is_empty());
    let org_id = input.org_id.filter(|t| !t.trim().is_empty());
    check_shape(role, org_id.as_deref(), tenant_id.as_deref())?;
    let password_hash = password::hash(input.password).await?;
    let new = NewUser {
        id: Uuid::new_v4(),
        email_key: email.key(),
        email: email.into_inner(),
        password_hash,
        tenant_id,
        is_superuser: role == Role::Superuser,
        is_active: input.is_active.unwrap_or(true),
        role: role.as_str().to_owned(),
        org_id,
    };
    audit::audited(conn, actor, async |conn| {
        let user: User = diesel::insert_into(users::table)
            .values(&new)
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        let mut fields = vec!["email".to_owned(), "password".to_owned()];
        for (set, field) in [
            (user.tenant_id.is_some(), "tenant_id"),
            (user.is_superuser, "is_superuser"),
            (user.role() != Role::Member, "role"),
            (user.org_id.is_some(), "org_id"),
        ] {
            if set {
                fields.push(field.to_owned());
            }
        }
        let target = user.id.to_string();
        let change = Change::new("user.create", target, user.tenant_id.as_deref(), fields);
        Ok((user, Some(change)))
    })
    .await
}

/// The changes an update writes to user `id` (its role checked against what it keeps), or the
/// field errors of `input`.
async fn user_changes(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    input: UpdateUser,
) -> AppResult<UserChanges> {
    let mut errors = Vec::new();
    let mut changes = UserChanges::default();
    if let Some(raw) = &input.email {
        match Email::parse(raw) {
            Ok(email) => {
                changes.email_key = Some(email.key());
                changes.email = Some(email.into_inner());
            }
            Err(m) => errors.push(FieldError::new("email", m)),
        }
    }
    if let Some(p) = &input.password
        && let Err(m) = password::check_strength(p.expose_secret())
    {
        errors.push(FieldError::new("password", m));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    if let Some(p) = input.password.clone() {
        changes.password_hash = Some(password::hash(p).await?);
    }
    changes.tenant_id = input
        .tenant_id
        .clone()
        .map(|t| t.filter(|t| !t.trim().is_empty()));
    changes.org_id = input
        .org_id
        .clone()
        .map(|t| t.filter(|t| !t.trim().is_empty()));
    changes.is_active = input.is_active;
    let role_sent = input.role.is_some() || input.is_superuser.is_some();
    if role_sent || changes.org_id.is_some() || changes.tenant_id.is_some() {
        let current = get(conn, id).await?;
        let role = if role_sent {
            updated_role(&input, current.role())?
        } else {
            current.role()
        };
        let org_id = changes.org_id.clone().unwrap_or(current.org_id.clone());
        let tenant_id = changes
            .tenant_id
            .clone()
            .unwrap_or(current.tenant_id.clone());
        check_shape(role, org_id.as_deref(), tenant_id.as_deref())?;
        if role_sent {
            changes.role = Some(role.as_str().to_owned());
            changes.is_superuser = Some(role == Role::Superuser);
        }
    }
    Ok(changes)
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    id: Uuid,
    input: UpdateUser,
) -> AppResult<User> {
    let mut changes = user_changes(conn, id, input).await?;
    let fields = changes.changed_fields();
    changes.updated_at = Some(chrono::Utc::now());
    let user = audit::audited(conn, actor, async |conn| {
        if fields.is_empty() {
            return Ok((get(conn, id).await?, None));
        }
        let user: User = diesel::update(users::table.find(id))
            .set(&changes)
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .or_not_found("user")?;
        let target = user.id.to_string();
        let change = Change::new("user.update", target, user.tenant_id.as_deref(), fields);
        Ok((user, Some(change)))
    })
    .await?;
    caches.user_changed(id).await;
    Ok(user)
}

/// `DELETE /admin/users/{id}`: deactivates; a no-op (no audit entry) when already inactive.
pub async fn deactivate(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    id: Uuid,
) -> AppResult<User> {
    let user = audit::audited(conn, actor, async |conn| {
        let updated: Option<User> =
            diesel::update(users::table.find(id).filter(users::is_active.eq(true)))
                .set((
                    users::is_active.eq(false),
                    users::updated_at.eq(chrono::Utc::now()),
                ))
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .optional()?;
        let Some(user) = updated else {
            return Ok((get(conn, id).await?, None));
        };
        let fields = vec!["is_active".to_owned()];
        let target = user.id.to_string();
        let change = Change::new("user.deactivate", target, user.tenant_id.as_deref(), fields);
        Ok((user, Some(change)))
    })
    .await?;
    caches.user_changed(id).await;
    Ok(user)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> AppResult<User> {
    find(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}

/// The user, if any.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> AppResult<Option<User>> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The user logging in with this email key (`crate::domain::email_key`), with its token
/// version, if any (the caller checks the password and `is_active`).
pub async fn login_candidate(
    conn: &mut AsyncPgConnection,
    email_key: &str,
) -> AppResult<Option<(User, i64)>> {
    Ok(users::table
        .filter(users::email_key.eq(email_key))
        .select((User::as_select(), users::token_version))
        .first(conn)
        .await
        .optional()?)
}

pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> AppResult<User> {
    users::table
        .filter(users::email_key.eq(crate::domain::email_key(email)))
        .select(User::as_select())
        .first(conn)
        .await
        .or_not_found("user")
}

/// Users inside `scope` (see `crate::identity::authz::Scope::covers_user`), of one tenant when
/// `tenant_id` is given.
pub async fn list(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
    tenant_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<User>> {
    let mut query = users::table
        .select(User::as_select())
        .order((users::created_at, users::id))
        .limit(limit)
        .offset(offset)
        .into_boxed();
    if let Some(tenant) = tenant_id {
        query = query.filter(users::tenant_id.eq(tenant.to_owned()));
    }
    match scope.tenant_filter() {
        TenantFilter::All => {}
        TenantFilter::InOrg(org) => {
            let org_tenants = super::orgs::tenant_ids(org.to_owned());
            query = query
                .filter(users::role.ne(Role::Superuser.as_str()))
                .filter(
                    users::org_id
                        .eq(org.to_owned())
                        .and(users::role.eq(Role::OrgAdmin.as_str()))
                        .or(users::tenant_id.eq_any(org_tenants.nullable())),
                );
        }
        TenantFilter::Only(tenant) => {
            query = query
                .filter(users::tenant_id.eq(tenant.to_owned()))
                .filter(users::role.eq_any([Role::Member.as_str(), Role::TenantAdmin.as_str()]));
        }
        TenantFilter::None => return Ok(Vec::new()),
    }
    Ok(query.load(conn).await?)
}

/// The organization of a user's tenant (for scope checks).
pub async fn tenant_org(
    conn: &mut AsyncPgConnection,
    tenant_id: Option<&str>,
) -> AppResult<Option<String>> {
    let Some(tenant_id) = tenant_id else {
        return Ok(None);
    };
    Ok(tenants::table
        .find(tenant_id)
        .select(tenants::org_id)
        .first::<Option<String>>(conn)
        .await
        .optional()?
        .flatten())
}
