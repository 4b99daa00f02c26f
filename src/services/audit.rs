//! The audit log: who changed what, when, with which request. Field names only, never values.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::errors::AppResult;
use crate::models::audit::{AuditEntry, NewAuditEntry};
use crate::schema::audit_log;

/// Who acted: a superuser (`user:<uuid>`), an API key (`api_key:<uuid>`) or the CLI (`cli`).
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn cli() -> Self {
        Self {
            name: "cli".to_owned(),
            request_id: None,
        }
    }

    pub fn user(id: uuid::Uuid, request_id: Option<String>) -> Self {
        Self {
            name: format!("user:{id}"),
            request_id,
        }
    }
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
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest `limit` entries, of one tenant when `tenant_id` is given.
pub async fn list(
    conn: &mut AsyncPgConnection,
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
    Ok(query.load(conn).await?)
}
