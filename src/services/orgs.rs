//! Creating, reading, updating and (de)activating organizations (shared by `/admin/orgs` and
//! `tenantgate orgs …`). Every write runs in a transaction with its audit entry. Changing
//! `is_active` touches the organization's tenants in the same transaction (a trigger; see the
//! migration), so their `tenant_changed` notifications reach every replica on commit; the
//! service announces them on this replica once committed (`Caches`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;

use super::OrNotFound;
use super::audit::{self, Actor, Change};
use super::caches::Caches;
use super::check_name;
use crate::domain::TenantId;
use crate::errors::{AppError, AppResult, FieldError};
use crate::identity::authz::Scope;
use crate::store::models::organization::{NewOrganization, Organization, OrganizationChanges};
use crate::store::models::tenant::Tenant;
use crate::store::schema::{organizations, tenants};

/// `POST /admin/orgs` and `tenantgate orgs create`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateOrganization {
    /// 1–64 of `A-Z a-z 0-9 _ - .`, first a letter or digit (the tenant id rules).
    pub id: String,
    pub name: String,
    pub is_active: Option<bool>,
}

/// `PUT`/`PATCH /admin/orgs/{id}`: absent fields are kept.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct UpdateOrganization {
    pub name: Option<String>,
    pub is_active: Option<bool>,
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    input: CreateOrganization,
) -> AppResult<Organization> {
    let mut errors = Vec::new();
    if let Err(message) = TenantId::parse(&input.id) {
        errors.push(FieldError::new("id", message));
    }
    let name = input.name.trim().to_owned();
    check_name(&mut errors, &name);
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    let new = NewOrganization {
        id: input.id,
        name,
        is_active: input.is_active.unwrap_or(true),
    };
    audit::audited(conn, actor, async |conn| {
        let org: Organization = diesel::insert_into(organizations::table)
            .values(&new)
            .returning(Organization::as_returning())
            .get_result(conn)
            .await?;
        let fields = vec!["id".to_owned(), "name".to_owned()];
        let change = Change::new("org.create", &org.id, None, fields);
        Ok((org, Some(change)))
    })
    .await
}

/// Changes the organization; its tenants are announced on this replica after the commit.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    id: &str,
    input: UpdateOrganization,
) -> AppResult<Organization> {
    let mut errors = Vec::new();
    let mut changes = OrganizationChanges::default();
    if let Some(name) = input.name {
        let name = name.trim().to_owned();
        check_name(&mut errors, &name);
        changes.name = Some(name);
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    let org = audit::audited(conn, actor, async |conn| {
        let current = get(conn, id).await?;
        // Only what really changes is written (and audited): an unchanged `is_active` must
        // not touch the tenants.
        if changes.name.as_deref() == Some(current.name.as_str()) {
            changes.name = None;
        }
        if let Some(active) = input.is_active
            && active != current.is_active
        {
            changes.is_active = Some(active);
        }
        let mut fields = Vec::new();
        if changes.name.is_some() {
            fields.push("name".to_owned());
        }
        if changes.is_active.is_some() {
            fields.push("is_active".to_owned());
        }
        if fields.is_empty() {
            return Ok((current, None));
        }
        let org: Organization = diesel::update(organizations::table.find(id))
            .set(&changes)
            .returning(Organization::as_returning())
            .get_result(conn)
            .await?;
        let action = match changes.is_active {
            Some(true) if changes.name.is_none() => "org.activate",
            Some(false) if changes.name.is_none() => "org.deactivate",
            _ => "org.update",
        };
        let change = Change::new(action, &org.id, None, fields);
        Ok((org, Some(change)))
    })
    .await?;
    // The change bumped the tenants' versions: announce them, so it holds here before the
    // notifications arrive.
    for tenant in tenants(conn, &org.id).await? {
        caches.tenant_changed(&tenant.id, tenant.version).await;
    }
    Ok(org)
}

pub async fn set_active(
    conn: &mut AsyncPgConnection,
    caches: &impl Caches,
    actor: &Actor,
    id: &str,
    active: bool,
) -> AppResult<Organization> {
    let input = UpdateOrganization {
        name: None,
        is_active: Some(active),
    };
    update(conn, caches, actor, id, input).await
}

pub async fn get(conn: &mut AsyncPgConnection, id: &str) -> AppResult<Organization> {
    organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(conn)
        .await
        .or_not_found("organization")
}

/// Organizations inside `scope` (an org scope: its own), by id.
pub async fn list(conn: &mut AsyncPgConnection, scope: &Scope) -> AppResult<Vec<Organization>> {
    let mut query = organizations::table
        .select(Organization::as_select())
        .order(organizations::id)
        .into_boxed();
    match scope {
        Scope::All => {}
        Scope::Org(org) => query = query.filter(organizations::id.eq(org.clone())),
        Scope::Tenant(_) | Scope::Nothing => return Ok(Vec::new()),
    }
    Ok(query.load(conn).await?)
}

/// The ids of the organization's tenants, as a subquery (`….eq_any(tenant_ids(org).nullable())`).
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn tenant_ids(org: String) -> _ {
    tenants::table
        .filter(tenants::org_id.eq(org))
        .select(tenants::id)
}

/// The organization's tenants, by id.
pub async fn tenants(conn: &mut AsyncPgConnection, id: &str) -> AppResult<Vec<Tenant>> {
    Ok(tenants::table
        .filter(tenants::org_id.eq(id))
        .select(Tenant::as_select())
        .order(tenants::id)
        .load(conn)
        .await?)
}
