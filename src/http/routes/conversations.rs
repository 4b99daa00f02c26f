//! `POST|GET /conversations`, `GET|DELETE /conversations/{id}`: conversations kept by the
//! gateway (DESIGN.md §11), so a frontend need not resend the history with every `/chat`.
//!
//! A conversation belongs to the caller that created it: the user behind a token (its `sub`)
//! or the API key. Another caller's conversation, in the same tenant or another, answers 404
//! like a missing one; so does an id that is not a UUID (as `/admin/users/{id}` does).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::state::AppState;
use crate::errors::{AppError, AppResult};
use crate::http::error::ErrorBody;
use crate::http::extractors::{CallerOf, CurrentTenant};
use crate::http::layers::Caller;
use crate::http::routes::params::{ConversationPath, Page};
use crate::http::routes::{ValidQuery, deleted, found};
use crate::services::conversations::{self as service, Scope};
use crate::store::models::conversation::{ConversationDetail, ConversationView};
use crate::tenancy::TenantContext;

/// Who owns what a caller creates: `user:<sub>` for a token, `key:<id>` for an API key. The
/// prefixes keep a token whose `sub` happens to equal a key id from reaching that key's rows.
pub fn owner_of(caller: &Caller) -> AppResult<String> {
    match caller {
        Caller::User(token) => token
            .sub
            .as_deref()
            .filter(|sub| !sub.is_empty())
            .map(|sub| format!("user:{sub}"))
            .ok_or(AppError::Forbidden(
                "conversations need a token with a `sub` claim or an API key",
            )),
        Caller::ApiKey(grant) => Ok(format!("key:{}", grant.key_id)),
    }
}

/// A path id: anything but a UUID cannot name a conversation, so it is simply not found.
pub fn conversation_id(raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| AppError::not_found("conversation"))
}

/// The conversations a caller reaches: its own, in its tenant. Owned, so a streamed `/chat`
/// answer can keep it until the turn is stored.
pub struct Owner {
    tenant_id: crate::domain::TenantId,
    owner: String,
}

impl Owner {
    pub fn of(tenant: &TenantContext, caller: &Caller) -> AppResult<Self> {
        Ok(Self {
            tenant_id: tenant.id.clone(),
            owner: owner_of(caller)?,
        })
    }

    pub fn scope(&self) -> Scope<'_> {
        Scope {
            tenant_id: &self.tenant_id,
            owner: &self.owner,
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CreateConversation {
    /// A label for lists (at most 200 characters). Absent: the start of the first message.
    #[serde(default)]
    pub title: Option<String>,
}

#[utoipa::path(post, path = "/conversations", tag = "conversations", security(("bearer" = []), ("api_key" = [])),
    request_body = CreateConversation,
    responses(
        (status = 201, body = ConversationView),
        (status = 422, description = "validation_error (title too long)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<ConversationView>)> {
    let owner = Owner::of(&tenant, &caller)?;
    // The body is optional: `POST /conversations` with nothing (or `{}`) starts an untitled one.
    let input: CreateConversation = if body.iter().all(u8::is_ascii_whitespace) {
        CreateConversation::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::validation("body", format!("body is not valid JSON: {e}")))?
    };
    let title = service::validate_title(input.title)?;
    let conversation = service::create(&state.pool, owner.scope(), title.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(conversation)))
}

#[utoipa::path(get, path = "/conversations", tag = "conversations", security(("bearer" = []), ("api_key" = [])),
    params(Page),
    responses((status = 200, description = "the caller's conversations, newest first", body = [ConversationView])))]
pub async fn list(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    ValidQuery(page): ValidQuery<Page>,
) -> AppResult<Json<Vec<ConversationView>>> {
    let owner = Owner::of(&tenant, &caller)?;
    let (limit, offset) = page.checked()?;
    let list = service::list(&state.pool, owner.scope(), limit, offset).await?;
    Ok(Json(list))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", security(("bearer" = []), ("api_key" = [])),
    params(ConversationPath),
    responses(
        (status = 200, description = "the conversation with its messages, oldest first", body = ConversationDetail),
        (status = 404, description = "not_found (also another caller's conversation)", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    Path(ConversationPath { id }): Path<ConversationPath>,
) -> AppResult<Json<ConversationDetail>> {
    let owner = Owner::of(&tenant, &caller)?;
    let id = conversation_id(&id)?;
    let conversation = service::get(&state.pool, owner.scope(), id).await?;
    found(conversation, "conversation").map(Json)
}

#[utoipa::path(delete, path = "/conversations/{id}", tag = "conversations", security(("bearer" = []), ("api_key" = [])),
    params(ConversationPath),
    responses(
        (status = 204, description = "deleted, with its messages"),
        (status = 404, description = "not_found (also another caller's conversation)", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    Path(ConversationPath { id }): Path<ConversationPath>,
) -> AppResult<StatusCode> {
    let owner = Owner::of(&tenant, &caller)?;
    let id = conversation_id(&id)?;
    deleted(
        service::delete(&state.pool, owner.scope(), id).await?,
        "conversation",
    )
}
