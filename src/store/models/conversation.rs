//! Rows of `conversations` and `messages` (DESIGN.md §11) and the JSON the API shows of them.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::store::schema::{conversations, messages};

/// A conversation as the API shows it (never its owner or tenant: the caller is both).
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, utoipa::ToSchema)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ConversationView {
    pub id: Uuid,
    pub title: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One stored message, oldest first in a conversation.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, utoipa::ToSchema)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct MessageView {
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// The passages the answer was given (assistant messages).
    #[schema(value_type = Option<Object>)]
    pub sources: Option<serde_json::Value>,
    /// The model that answered (assistant messages).
    pub model: Option<String>,
    /// Token counts as the upstream reported them (assistant messages).
    #[schema(value_type = Option<Object>)]
    pub usage: Option<serde_json::Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /conversations/{id}`: the conversation and every message, oldest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub messages: Vec<MessageView>,
}

#[derive(Insertable)]
#[diesel(table_name = conversations)]
pub struct NewConversation<'a> {
    pub id: Uuid,
    pub tenant_id: &'a TenantId,
    pub owner: &'a str,
    pub title: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub tenant_id: &'a TenantId,
    pub role: &'a str,
    pub content: &'a str,
    pub sources: Option<&'a serde_json::Value>,
    pub model: Option<&'a str>,
    pub usage: Option<&'a serde_json::Value>,
}
