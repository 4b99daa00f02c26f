//! The audit log: who changed what, when, with which request. Field names only, never values.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::domain::TenantId;
use crate::errors::AppResult;
use crate::identity::authz::{Scope, TenantFilter};
use crate::store::models::audit::{AuditEntry, NewAuditEntry};
use crate::store::rls::WriteFn;
use crate::store::schema::audit_log;

/// Who acted: a user (`user:<uuid>`), an API key (`api_key:<uuid>`) or the CLI (`cli`); with
/// an impersonation token, `impersonator` is the user really acting (`user:<uuid>`).
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub request_id: Option<String>,
    pub impersonator: Option<String>,
}

impl Actor {
    pub fn cli() -> Self {
        Self {
            name: "cli".to_owned(),
            request_id: None,
            impersonator: None,
        }
    }

    pub fn user(id: uuid::Uuid, request_id: Option<String>) -> Self {
        Self {
            name: format!("user:{id}"),
            request_id,
            impersonator: None,
        }
    }

    /// A user acting, possibly through an impersonation token (`act.sub`).
    pub fn impersonated(
        id: uuid::Uuid,
        impersonator: Option<uuid::Uuid>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            name: format!("user:{id}"),
            request_id,
            impersonator: impersonator.map(|i| format!("user:{i}")),
        }
    }
}

/// One audit entry as a write describes it: the action, its object, the object's tenant and
/// the names of the fields it set.
pub struct Change {
    pub action: &'static str,
    pub target: String,
    pub tenant_id: Option<String>,
    pub fields: Vec<String>,
}

impl Change {
    pub fn new(
        action: &'static str,
        target: impl Into<String>,
        tenant_id: Option<&str>,
        fields: Vec<String>,
    ) -> Self {
        Self {
            action,
            target: target.into(),
            tenant_id: tenant_id.map(str::to_owned),
            fields,
        }
    }

    /// A change to a tenant itself: the tenant is both the target and the entry's tenant.
    pub fn of_tenant(action: &'static str, id: &TenantId, fields: Vec<String>) -> Self {
        Self::new(action, id.as_str(), Some(id.as_str()), fields)
    }
}

/// Runs `write` in a transaction and records the audit entry it describes in the same
/// transaction. A write that changed nothing returns no entry and leaves no trace.
pub async fn audited<T, F>(conn: &mut AsyncPgConnection, actor: &Actor, write: F) -> AppResult<T>
where
    T: Send,
    for<'r> F: AsyncFnOnce(&'r mut AsyncPgConnection) -> AppResult<(T, Option<Change>)>
        + WriteFn<&'r mut AsyncPgConnection, AppResult<(T, Option<Change>)>, Fut: Send>
        + Send,
{
    conn.transaction(async move |conn| {
        let (value, change) = write(conn).await?;
        if let Some(change) = change {
            record(
                conn,
                actor,
                change.action,
                &change.target,
                change.tenant_id.as_deref(),
                change.fields,
            )
            .await?;
        }
        Ok(value)
    })
    .await
}

pub async fn record(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    tenant_id: Option<&str>,
    changed_fields: Vec<String>,
) -> AppResult<()> {
    diesel::insert_into(audit_log::table)
        .values(NewAuditEntry {
            actor: actor.name.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            tenant_id: tenant_id.map(str::to_owned),
            request_id: actor.request_id.clone(),
            changed_fields,
            impersonator: actor.impersonator.clone(),
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest `limit` entries, of one tenant when `tenant_id` is given.
/// Entries outside `scope` are left out: an org scope sees entries about its tenants, a
/// tenant scope about its tenant (entries about no tenant are a superuser's only).
pub async fn list(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
    tenant_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .select(AuditEntry::as_select())
        // `id` breaks ties between entries of one transaction (same `now()`).
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(audit_log::tenant_id.eq(tenant_id.to_owned()));
    }
    match scope.tenant_filter() {
        TenantFilter::All => {}
        TenantFilter::InOrg(org) => {
            let org_tenants = super::orgs::tenant_ids(org.to_owned());
            query = query.filter(audit_log::tenant_id.eq_any(org_tenants.nullable()));
        }
        TenantFilter::Only(t) => query = query.filter(audit_log::tenant_id.eq(t.to_owned())),
        TenantFilter::None => return Ok(Vec::new()),
    }
    Ok(query.load(conn).await?)
}
