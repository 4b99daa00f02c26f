//! Creating and changing users. Emails are unique whatever their case (409 `conflict`).

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use super::audit::{self, Actor};
use super::double_option;
use crate::auth::password;
use crate::domain::Email;
use crate::errors::{AppError, AppResult, FieldError};
use crate::models::lower;
use crate::models::user::{NewUser, User, UserChanges};
use crate::schema::users;

/// Unknown fields are refused here (a misspelt `is_superuser` must not create a plain user
/// silently); updates ignore them, so a user read can be sent back.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub is_superuser: bool,
    pub is_active: Option<bool>,
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
    let tenant_id = input.tenant_id.filter(|t| !t.trim().is_empty());
    let password_hash = password::hash(input.password).await?;
    let new = NewUser {
        id: Uuid::new_v4(),
        email: email.into_inner(),
        password_hash,
        tenant_id,
        is_superuser: input.is_superuser,
        is_active: input.is_active.unwrap_or(true),
    };
    conn.transaction(async |conn| {
        let user: User = diesel::insert_into(users::table)
            .values(&new)
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        let mut fields = vec!["email".to_owned(), "password".to_owned()];
        if user.tenant_id.is_some() {
            fields.push("tenant_id".to_owned());
        }
        if user.is_superuser {
            fields.push("is_superuser".to_owned());
        }
        audit::record(
            conn,
            actor,
            "user.create",
            &user.id.to_string(),
            user.tenant_id.as_deref(),
            fields,
        )
        .await?;
        Ok::<_, AppError>(user)
    })
    .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: Uuid,
    input: UpdateUser,
) -> AppResult<User> {
    let mut errors = Vec::new();
    let mut changes = UserChanges::default();
    if let Some(raw) = &input.email {
        match Email::parse(raw) {
            Ok(email) => changes.email = Some(email.into_inner()),
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
    if let Some(p) = input.password {
        changes.password_hash = Some(password::hash(p).await?);
    }
    changes.tenant_id = input.tenant_id.map(|t| t.filter(|t| !t.trim().is_empty()));
    changes.is_superuser = input.is_superuser;
    changes.is_active = input.is_active;
    let fields = changes.changed_fields();
    changes.updated_at = Some(chrono::Utc::now());
    conn.transaction(async |conn| {
        let user: User = if fields.is_empty() {
            get(conn, id).await?
        } else {
            diesel::update(users::table.find(id))
                .set(&changes)
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .optional()?
                .ok_or_else(|| AppError::not_found("user"))?
        };
        if !fields.is_empty() {
            audit::record(
                conn,
                actor,
                "user.update",
                &user.id.to_string(),
                user.tenant_id.as_deref(),
                fields,
            )
            .await?;
        }
        Ok::<_, AppError>(user)
    })
    .await
}

/// `DELETE /admin/users/{id}`: deactivates; a no-op (no audit entry) when already inactive.
pub async fn deactivate(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid) -> AppResult<User> {
    conn.transaction(async |conn| {
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
            return get(conn, id).await;
        };
        audit::record(
            conn,
            actor,
            "user.deactivate",
            &user.id.to_string(),
            user.tenant_id.as_deref(),
            vec!["is_active".to_owned()],
        )
        .await?;
        Ok::<_, AppError>(user)
    })
    .await
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> AppResult<User> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("user"))
}

pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> AppResult<User> {
    users::table
        .filter(lower(users::email).eq(lower(email.trim())))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("user"))
}

pub async fn list(
    conn: &mut AsyncPgConnection,
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
    Ok(query.load(conn).await?)
}
