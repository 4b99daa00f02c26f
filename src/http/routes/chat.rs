//! `POST /chat`: retrieve the tenant's passages for a message, ask the LLM with the tenant's
//! system prompt, answer with the text and its sources, whole or as server-sent events.
//!
//! What goes upstream, in order: one system message (the tenant's prompt, then the retrieved
//! passages, each under its id so the model can cite it), the caller's history, the message.
//! `rag::prompt::assemble` puts them in that order; `/v1/chat/completions` uses it too.
//!
//! Without `OPENAI_API_KEY` the route still retrieves: `answer` is null and `mode` is
//! `"retrieval_only"`. Upstream failures before the answer starts are plain 502/504 responses;
//! once a stream has started they arrive as an `error` event.

use std::borrow::Cow;
use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use uuid::Uuid;

use crate::app::state::AppState;
use crate::errors::{AppError, AppResult, FieldError};
use crate::http::error::{ErrorBody, HttpError};
use crate::http::extractors::{CallerOf, CurrentTenant, SystemPrompt, TenantRetriever};
use crate::http::layers::Caller;
use crate::http::routes::conversations::{Owner, conversation_id};
use crate::http::routes::{ValidJson, found, params};
use crate::rag::llm::{
    ChatChunk, ChatCompletionRequest, ChatMessage, ChatStream, Completion, Llm, StreamEvent,
    StreamOptions,
};
use crate::rag::prompt;
use crate::rag::retrieval::Passage;
use crate::services::conversations::{self as conversations, Answer as StoredAnswer};
use crate::tenancy::TenantContext;

/// Who wrote a message of the history (`MessageRole` in OpenAPI: `Role` is a user's role).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = MessageRole)]
pub enum Role {
    User,
    Assistant,
    System,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
        }
    }

    /// A stored message's role (`None`: one this route does not send upstream).
    fn parse(role: &str) -> Option<Self> {
        match role {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HistoryMessage {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    /// The user's message (not empty).
    pub message: String,
    /// Earlier turns of the conversation, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryMessage>,
    /// How many passages to retrieve (1–50, default 5).
    #[serde(default)]
    pub top_k: Option<i64>,
    /// Answer with server-sent events (`sources`, `delta`…, `done` or `error`).
    #[serde(default)]
    pub stream: bool,
    /// A conversation of the caller's (`POST /conversations`): its stored history replaces
    /// `history`, and this turn is appended to it.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub conversation_id: Option<String>,
}

/// What kind of answer `/chat` gave.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatMode {
    /// The LLM wrote `answer`.
    Generated,
    /// No LLM is configured: `answer` is null, `sources` are still retrieved.
    RetrievalOnly,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatResponse {
    pub answer: Option<String>,
    pub sources: Vec<Passage>,
    /// The model that answered, as the upstream reports it.
    pub model: Option<String>,
    /// Token counts as the upstream reports them (`prompt_tokens`, `completion_tokens`, `total_tokens`).
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    pub mode: ChatMode,
    /// The conversation this turn was stored in (when the request named one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
}

/// The `data` of the `sources` event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SourcesEvent<'a> {
    pub sources: &'a [Passage],
    pub mode: ChatMode,
}

/// The `data` of a `delta` event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeltaEvent<'a> {
    pub content: &'a str,
}

/// The `data` of the `done` event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DoneEvent {
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    pub model: Option<String>,
    pub finish_reason: Option<String>,
    pub mode: ChatMode,
    /// The conversation this turn was stored in (when the request named one); the turn is
    /// stored before this event is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
}

impl ChatRequest {
    /// The fields' errors together, or the `top_k` to retrieve.
    fn validate(&self) -> AppResult<usize> {
        let mut errors = Vec::new();
        if self.message.trim().is_empty() {
            errors.push(FieldError::new("message", "must not be empty"));
        }
        for (i, turn) in self.history.iter().enumerate() {
            if turn.content.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("history[{i}].content"),
                    "must not be empty",
                ));
            }
        }
        let top_k = params::top_k(self.top_k).map_err(|e| errors.push(e)).ok();
        match top_k {
            Some(top_k) if errors.is_empty() => Ok(top_k),
            _ => Err(AppError::invalid_fields(errors)),
        }
    }

    /// What goes upstream: the system message, the history, the message (in the order of
    /// `rag::prompt::assemble`).
    fn upstream<'a>(
        &'a self,
        model: &'a str,
        system_prompt: &str,
        sources: &[Passage],
    ) -> ChatCompletionRequest<'a> {
        let conversation = self
            .history
            .iter()
            .map(|turn| (turn.role.as_str(), turn.content.as_str()))
            .chain(std::iter::once(("user", self.message.as_str())))
            .map(|(role, content)| ChatMessage {
                role,
                content: Cow::Borrowed(content),
            });
        let messages = prompt::assemble(system_prompt, sources, conversation, |role, content| {
            ChatMessage {
                role,
                content: Cow::Owned(content),
            }
        });
        ChatCompletionRequest {
            model,
            messages,
            stream: self.stream,
            stream_options: self.stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }
}

#[utoipa::path(post, path = "/chat", tag = "chat", security(("bearer" = []), ("api_key" = [])),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The answer with its sources; with `stream: true`, server-sent events: \
            `sources` ({sources, mode}), then `delta` ({content}) events, then `done` ({usage, model, finish_reason, mode}), \
            or an `error` event ({detail, code}) if the upstream fails mid-stream.",
            content(
                (ChatResponse = "application/json"),
                (String = "text/event-stream"),
            )),
        (status = 401, body = ErrorBody),
        (status = 403, description = "no_tenant or tenant_unavailable", body = ErrorBody),
        (status = 404, description = "not_found: `conversation_id` names no conversation of the caller's", body = ErrorBody),
        (status = 422, description = "empty message, unknown role, top_k out of range", body = ErrorBody),
        (status = 502, description = "the LLM or the vector store failed", body = ErrorBody),
        (status = 504, description = "the LLM or the vector store timed out", body = ErrorBody),
    ))]
pub async fn chat(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    TenantRetriever(retriever): TenantRetriever,
    SystemPrompt(system_prompt): SystemPrompt,
    ValidJson(mut request): ValidJson<ChatRequest>,
) -> AppResult<Response> {
    let top_k = request.validate()?;
    // A stored conversation: its history replaces the request's, and the turn is kept.
    let conversation = match request.conversation_id.as_deref() {
        None => None,
        Some(raw) => {
            let (target, history) = Conversation::open(&state, &tenant, &caller, raw).await?;
            request.history = history;
            Some(target)
        }
    };
    let sources = prompt::retrieve(retriever.as_ref(), &request.message, top_k).await?;
    state.usage.retrieval(tenant.id.as_str());
    let llm = Llm::new(&state.http, &state.config.llm);
    if !llm.is_configured() {
        // No answer to keep: the conversation records the question alone.
        if let Some(target) = &conversation {
            target.store(&request.message, None).await?;
        }
        let conversation_id = conversation.as_ref().map(|c| c.id);
        return Ok(retrieval_only(sources, request.stream, conversation_id));
    }

    let model = &state.config.llm.chat_model;
    let upstream = request.upstream(model, &system_prompt, &sources);
    if request.stream {
        // Wait for the upstream's headers first, so a refusal is a proper 502/504 status
        // rather than an error event after a 200.
        let events = llm.stream(&upstream).await?;
        let meter = Meter {
            usage: state.usage.clone(),
            tenant_id: tenant.id.clone(),
            model: model.clone(),
        };
        let turn = conversation.map(|target| (target, request.message.clone()));
        return Ok(sse(answer_events(sources, events, meter, turn)));
    }
    let completion = llm.complete(&upstream).await?;
    state
        .usage
        .chat(tenant.id.as_str(), model, completion.usage.as_ref());
    whole_answer(completion, model, sources, &request.message, conversation).await
}

/// A whole (non-streamed) answer as JSON, stored first with its conversation.
async fn whole_answer(
    completion: Completion,
    chat_model: &str,
    sources: Vec<Passage>,
    message: &str,
    conversation: Option<Conversation>,
) -> AppResult<Response> {
    let answer = completion.content().unwrap_or_default().to_owned();
    let model = completion
        .model
        .clone()
        .or_else(|| Some(chat_model.to_owned()));
    if let Some(target) = &conversation {
        let stored_sources = serde_json::to_value(&sources).map_err(AppError::internal)?;
        target
            .store(
                message,
                Some(StoredAnswer {
                    content: &answer,
                    sources: &stored_sources,
                    model: model.as_deref(),
                    usage: completion.usage.as_ref(),
                }),
            )
            .await?;
    }
    Ok(Json(ChatResponse {
        answer: Some(answer),
        model,
        usage: completion.usage,
        sources,
        mode: ChatMode::Generated,
        conversation_id: conversation.map(|c| c.id),
    })
    .into_response())
}

/// The conversation a `/chat` turn is stored in, owned so a stream can store it at its end.
struct Conversation {
    pool: crate::store::db::Pool,
    owner: Owner,
    id: Uuid,
}

impl Conversation {
    /// The caller's conversation `raw` (404 when it is not one), with its stored history (the
    /// last `CHAT_HISTORY_MESSAGES`).
    async fn open(
        state: &AppState,
        tenant: &TenantContext,
        caller: &Caller,
        raw: &str,
    ) -> AppResult<(Self, Vec<HistoryMessage>)> {
        let id = conversation_id(raw)?;
        let target = Self {
            pool: state.pool.clone(),
            owner: Owner::of(tenant, caller)?,
            id,
        };
        let limit = state.config.chat_history_messages;
        let stored = conversations::history(&state.pool, target.owner.scope(), id, limit).await?;
        let history = found(stored, "conversation")?
            .into_iter()
            .filter_map(|(role, content)| {
                Role::parse(&role).map(|role| HistoryMessage { role, content })
            })
            .collect();
        Ok((target, history))
    }

    async fn store(&self, message: &str, answer: Option<StoredAnswer<'_>>) -> AppResult<()> {
        // A conversation deleted while its answer was written keeps nothing; that is no error.
        let scope = self.owner.scope();
        conversations::append_turn(&self.pool, scope, self.id, message, answer).await?;
        Ok(())
    }
}

fn retrieval_only(sources: Vec<Passage>, stream: bool, conversation_id: Option<Uuid>) -> Response {
    if !stream {
        return Json(ChatResponse {
            answer: None,
            sources,
            model: None,
            usage: None,
            mode: ChatMode::RetrievalOnly,
            conversation_id,
        })
        .into_response();
    }
    let mode = ChatMode::RetrievalOnly;
    let events = [
        json_event(
            "sources",
            &SourcesEvent {
                sources: &sources,
                mode,
            },
        ),
        json_event(
            "done",
            &DoneEvent {
                usage: None,
                model: None,
                finish_reason: None,
                mode,
                conversation_id,
            },
        ),
    ];
    sse(futures::stream::iter(events))
}

fn sse(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn json_event(name: &'static str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| {
            // Our own event structs always serialize; this is unreachable in practice.
            Event::default()
                .event("error")
                .data(r#"{"detail":"internal server error","code":"internal_error"}"#)
        })
}

/// Where a streamed answer's usage is counted once the upstream reports it.
struct Meter {
    usage: std::sync::Arc<crate::usage::Usage>,
    tenant_id: crate::domain::TenantId,
    model: String,
}

/// The most of a streamed answer kept for its conversation; a model's answers are far
/// shorter, this only bounds what a misbehaving upstream could make the gateway hold.
const MAX_STORED_ANSWER_BYTES: usize = 1024 * 1024;

/// What is left to send of a streamed answer.
struct Answer {
    upstream: ChatStream,
    meter: Meter,
    model: Option<String>,
    usage: Option<Value>,
    finish_reason: Option<String>,
    /// Where the completed turn goes, with the user's message, its sources and the text so far.
    turn: Option<StreamedTurn>,
}

struct StreamedTurn {
    conversation: Conversation,
    message: String,
    sources: Value,
    text: String,
}

impl StreamedTurn {
    fn push(&mut self, content: &str) {
        if self.text.len() + content.len() <= MAX_STORED_ANSWER_BYTES {
            self.text.push_str(content);
        }
    }
}

impl Answer {
    /// The next event to send, and whether any follow it.
    async fn next_event(&mut self) -> (Event, bool) {
        loop {
            match self.upstream.next().await {
                Some(Ok(StreamEvent::Chunk(chunk))) => {
                    if let Some(delta) = self.read_chunk(&chunk) {
                        return (delta, true);
                    }
                }
                Some(Ok(StreamEvent::Done)) | None => return (self.finish().await, false),
                Some(Err(error)) => {
                    tracing::warn!(detail = %error, "LLM stream failed after it started");
                    return (json_event("error", &error.body()), false);
                }
            }
        }
    }

    /// Keeps what a chunk says of the model, usage and finish; its text as a `delta` event.
    fn read_chunk(&mut self, chunk: &ChatChunk) -> Option<Event> {
        if chunk.model.is_some() {
            self.model.clone_from(&chunk.model);
        }
        if chunk.usage.is_some() {
            self.usage.clone_from(&chunk.usage);
        }
        if let Some(reason) = chunk.finish_reason() {
            self.finish_reason = Some(reason.to_owned());
        }
        let content = chunk.content()?;
        if let Some(turn) = self.turn.as_mut() {
            turn.push(content);
        }
        Some(json_event("delta", &DeltaEvent { content }))
    }

    /// The end of the answer: its usage counted, the turn stored, then `done` (or `error` when
    /// the turn could not be stored).
    async fn finish(&mut self) -> Event {
        let meter = &self.meter;
        meter
            .usage
            .chat(meter.tenant_id.as_str(), &meter.model, self.usage.as_ref());
        let mut conversation_id = None;
        if let Some(turn) = self.turn.take() {
            let answer = StoredAnswer {
                content: &turn.text,
                sources: &turn.sources,
                model: self.model.as_deref(),
                usage: self.usage.as_ref(),
            };
            if let Err(error) = turn.conversation.store(&turn.message, Some(answer)).await {
                tracing::warn!(detail = %error, "could not store a streamed turn");
                return json_event("error", &error.body());
            }
            conversation_id = Some(turn.conversation.id);
        }
        let done = DoneEvent {
            usage: self.usage.take(),
            model: self.model.take(),
            finish_reason: self.finish_reason.take(),
            mode: ChatMode::Generated,
            conversation_id,
        };
        json_event("done", &done)
    }
}

/// `sources`, then one `delta` per upstream chunk with text, then `done` or `error`. With a
/// conversation, the completed turn is stored before `done` is sent; a stream that fails
/// stores nothing.
fn answer_events(
    sources: Vec<Passage>,
    upstream: ChatStream,
    meter: Meter,
    turn: Option<(Conversation, String)>,
) -> impl Stream<Item = Event> + Send {
    let first = json_event(
        "sources",
        &SourcesEvent {
            sources: &sources,
            mode: ChatMode::Generated,
        },
    );
    let turn = turn.map(|(conversation, message)| StreamedTurn {
        conversation,
        message,
        sources: serde_json::to_value(&sources).unwrap_or(Value::Null),
        text: String::new(),
    });
    let state = Answer {
        upstream,
        meter,
        model: None,
        usage: None,
        finish_reason: None,
        turn,
    };
    let rest = futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let (event, more) = state.next_event().await;
        Some((event, more.then_some(state)))
    });
    futures::stream::once(async move { first }).chain(rest)
}
