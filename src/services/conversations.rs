//! Conversations kept by the gateway (DESIGN.md §11): every read and write of `conversations`
//! and `messages`, for the `/conversations` routes, `/chat` and the retention task.
//!
//! Two fences keep callers apart. Row-level security (the same as `documents`): each
//! transaction is [`store::scoped`], so another tenant's rows are invisible even to
//! a query that forgets its filter. And the owner: every query also says `owner = …`, so two
//! users of one tenant never see each other's conversations; for the caller, another owner's
//! conversation is missing (404), exactly like one that does not exist.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::errors::{AppError, AppResult};
use crate::store::db::Pool;
use crate::store::models::conversation::{
    ConversationDetail, ConversationView, MessageView, NewConversation, NewMessage,
};
use crate::store::schema::{conversations, messages};
use crate::store::{self, scope_to_tenant};

diesel::define_sql_function! {
    fn coalesce(x: Nullable<Text>, y: Nullable<Text>) -> Nullable<Text>;
}

/// Titles are labels in a list, not documents.
pub const MAX_TITLE_CHARS: usize = 200;
/// A conversation without a title takes this much of its first message.
const AUTO_TITLE_CHARS: usize = 80;

/// Whose conversations a request may touch: its tenant and its caller.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub tenant_id: &'a TenantId,
    /// `user:<token sub>` or `key:<api key id>` (see `http::routes::conversations::owner_of`).
    pub owner: &'a str,
}

/// The answer of one turn, as stored on the assistant's message.
pub struct Answer<'a> {
    pub content: &'a str,
    pub sources: &'a serde_json::Value,
    pub model: Option<&'a str>,
    pub usage: Option<&'a serde_json::Value>,
}

/// Checks a title: trimmed, not empty, at most [`MAX_TITLE_CHARS`], no NUL.
pub fn validate_title(title: Option<String>) -> AppResult<Option<String>> {
    let Some(title) = title else { return Ok(None) };
    let title = title.trim();
    if title.is_empty() {
        return Ok(None);
    }
    if title.contains('\0') {
        return Err(AppError::validation(
            "title",
            "must not contain NUL characters",
        ));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::validation(
            "title",
            format!("must be at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(Some(title.to_owned()))
}

pub async fn create(
    pool: &Pool,
    scope: Scope<'_>,
    title: Option<&str>,
) -> AppResult<ConversationView> {
    store::scoped(pool, scope.tenant_id, async |conn| {
        diesel::insert_into(conversations::table)
            .values(NewConversation {
                id: Uuid::new_v4(),
                tenant_id: scope.tenant_id,
                owner: scope.owner,
                title,
            })
            .returning(ConversationView::as_returning())
            .get_result(conn)
            .await
            .map_err(AppError::from)
    })
    .await
}

/// The caller's conversations, newest first.
pub async fn list(
    pool: &Pool,
    scope: Scope<'_>,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<ConversationView>> {
    store::scoped(pool, scope.tenant_id, async |conn| {
        conversations::table
            .filter(conversations::tenant_id.eq(scope.tenant_id))
            .filter(conversations::owner.eq(scope.owner))
            .order((conversations::created_at.desc(), conversations::id.desc()))
            .limit(limit)
            .offset(offset)
            .select(ConversationView::as_select())
            .load(conn)
            .await
            .map_err(AppError::from)
    })
    .await
}

async fn find(
    conn: &mut AsyncPgConnection,
    scope: Scope<'_>,
    id: Uuid,
) -> QueryResult<Option<ConversationView>> {
    conversations::table
        .filter(conversations::id.eq(id))
        .filter(conversations::tenant_id.eq(scope.tenant_id))
        .filter(conversations::owner.eq(scope.owner))
        .select(ConversationView::as_select())
        .first(conn)
        .await
        .optional()
}

/// The conversation with every message, oldest first; `None` when it is not the caller's.
pub async fn get(pool: &Pool, scope: Scope<'_>, id: Uuid) -> AppResult<Option<ConversationDetail>> {
    store::scoped(pool, scope.tenant_id, async |conn| {
        let Some(conversation) = find(conn, scope, id).await? else {
            return Ok(None);
        };
        let messages = messages::table
            .filter(messages::conversation_id.eq(id))
            .filter(messages::tenant_id.eq(scope.tenant_id))
            .order(messages::seq)
            .select(MessageView::as_select())
            .load(conn)
            .await?;
        Ok::<_, AppError>(Some(ConversationDetail {
            conversation,
            messages,
        }))
    })
    .await
}

/// Deletes the caller's conversation and its messages; false when it is not the caller's.
pub async fn delete(pool: &Pool, scope: Scope<'_>, id: Uuid) -> AppResult<bool> {
    let deleted = store::scoped(pool, scope.tenant_id, async |conn| {
        diesel::delete(
            conversations::table
                .filter(conversations::id.eq(id))
                .filter(conversations::tenant_id.eq(scope.tenant_id))
                .filter(conversations::owner.eq(scope.owner)),
        )
        .execute(conn)
        .await
        .map_err(AppError::from)
    })
    .await?;
    Ok(deleted > 0)
}

/// The last `last` messages as (role, content), oldest first; `None` when the conversation is
/// not the caller's.
pub async fn history(
    pool: &Pool,
    scope: Scope<'_>,
    id: Uuid,
    last: i64,
) -> AppResult<Option<Vec<(String, String)>>> {
    store::scoped(pool, scope.tenant_id, async |conn| {
        if find(conn, scope, id).await?.is_none() {
            return Ok(None);
        }
        let mut turns: Vec<(String, String)> = messages::table
            .filter(messages::conversation_id.eq(id))
            .filter(messages::tenant_id.eq(scope.tenant_id))
            .order(messages::seq.desc())
            .limit(last)
            .select((messages::role, messages::content))
            .load(conn)
            .await?;
        turns.reverse();
        Ok::<_, AppError>(Some(turns))
    })
    .await
}

/// Appends one turn: the user's message and, when there is one, the answer. A conversation
/// without a title takes the start of its first message. Returns false (and writes nothing)
/// when the conversation is no longer the caller's, e.g. deleted while the answer streamed.
pub async fn append_turn(
    pool: &Pool,
    scope: Scope<'_>,
    id: Uuid,
    user_message: &str,
    answer: Option<Answer<'_>>,
) -> AppResult<bool> {
    let auto_title: String = user_message.trim().chars().take(AUTO_TITLE_CHARS).collect();
    store::scoped(pool, scope.tenant_id, async |conn| {
        let touched = diesel::update(
            conversations::table
                .filter(conversations::id.eq(id))
                .filter(conversations::tenant_id.eq(scope.tenant_id))
                .filter(conversations::owner.eq(scope.owner)),
        )
        .set((
            conversations::updated_at.eq(diesel::dsl::now),
            conversations::title.eq(coalesce(conversations::title, Some(auto_title.as_str()))),
        ))
        .execute(conn)
        .await?;
        if touched == 0 {
            return Ok(false);
        }
        let mut rows = vec![NewMessage {
            id: Uuid::new_v4(),
            conversation_id: id,
            tenant_id: scope.tenant_id,
            role: "user",
            content: user_message,
            sources: None,
            model: None,
            usage: None,
        }];
        if let Some(answer) = &answer {
            rows.push(NewMessage {
                id: Uuid::new_v4(),
                conversation_id: id,
                tenant_id: scope.tenant_id,
                role: "assistant",
                content: answer.content,
                sources: Some(answer.sources),
                model: answer.model,
                usage: answer.usage,
            });
        }
        diesel::insert_into(messages::table)
            .values(&rows)
            .execute(conn)
            .await?;
        Ok::<_, AppError>(true)
    })
    .await
}

/// An arbitrary constant naming the retention task's advisory lock.
pub const RETENTION_LOCK: i64 = 0x7467_5f72_6574_6e31; // "tg_retn1"

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct TenantRow {
    #[diesel(sql_type = Text)]
    id: TenantId,
}

/// Deletes every conversation (with its messages) last updated before `cutoff`, in every
/// tenant. Returns how many, or `None` when another replica holds the lock (it is doing the
/// same work right now).
///
/// One transaction: `pg_try_advisory_xact_lock` is released by its end, so a replica that
/// dies half-way frees the lock and loses nothing (the deletions roll back). The rows sit
/// behind row-level security, so the deletion walks the tenants, scoping to each in turn.
pub async fn delete_older_than(pool: &Pool, cutoff: DateTime<Utc>) -> AppResult<Option<u64>> {
    let mut conn = pool.get().await?;
    let conn: &mut AsyncPgConnection = &mut conn;
    conn.transaction(async |conn| {
        let lock: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<BigInt, _>(RETENTION_LOCK)
            .get_result(conn)
            .await?;
        if !lock.locked {
            return Ok(None);
        }
        let tenants: Vec<TenantRow> = diesel::sql_query("SELECT id FROM tenants ORDER BY id")
            .load(conn)
            .await?;
        let mut deleted = 0u64;
        for tenant in &tenants {
            scope_to_tenant(conn, &tenant.id).await?;
            let n = diesel::sql_query(
                "DELETE FROM conversations WHERE tenant_id = $1 AND updated_at < $2",
            )
            .bind::<Text, _>(&tenant.id)
            .bind::<Timestamptz, _>(cutoff)
            .execute(conn)
            .await?;
            deleted += n as u64;
        }
        Ok::<_, AppError>(Some(deleted))
    })
    .await
}

/// `CONVERSATION_RETENTION_DAYS`: once at start-up, then daily, deletes the conversations not
/// updated for `retention`. Every replica runs it; the advisory lock lets one at a time work,
/// and a replica that finds it taken skips that round (the other is doing the same deletion).
pub async fn retention_task(pool: Pool, retention: chrono::TimeDelta) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(24 * 60 * 60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let cutoff = Utc::now() - retention;
        match delete_older_than(&pool, cutoff).await {
            Ok(Some(deleted)) => {
                tracing::info!(deleted, %cutoff, "conversation retention: deleted idle conversations");
            }
            Ok(None) => {
                tracing::info!("conversation retention: another replica holds the lock; skipped");
            }
            Err(error) => {
                tracing::warn!(detail = %error, "conversation retention failed; retrying tomorrow");
            }
        }
    }
}
