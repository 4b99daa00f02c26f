//! `POST /chat`: retrieve the tenant's passages for a message, ask the LLM with the tenant's
//! system prompt, answer with the text and its sources, whole or as server-sent events.
//!
//! What goes upstream, in order: one system message (the tenant's prompt, then the retrieved
//! passages, each under its id so the model can cite it), the caller's history, the message.
//! `system_message` builds that first message; `/v1/chat/completions` uses it too.
//!
//! Without `OPENAI_API_KEY` the route still retrieves: `answer` is null and `mode` is
//! `"retrieval_only"`. Upstream failures before the answer starts are plain 502/504 responses;
//! once a stream has started they arrive as an `error` event.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::extractors::{Retriever, SystemPrompt};
use crate::errors::{AppError, AppResult, ErrorBody, FieldError};
use crate::llm::{ChatCompletionRequest, ChatMessage, ChatStream, Llm, StreamEvent, StreamOptions};
use crate::retrieval::Passage;
use crate::routes::ValidJson;
use crate::routes::search::{DEFAULT_TOP_K, MAX_TOP_K};
use crate::state::AppState;

/// Who wrote a message of the history.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
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
}

impl ChatRequest {
    fn top_k(&self) -> AppResult<usize> {
        match self.top_k {
            None => Ok(DEFAULT_TOP_K),
            Some(k) if (1..=MAX_TOP_K).contains(&k) => {
                Ok(usize::try_from(k).unwrap_or(DEFAULT_TOP_K))
            }
            Some(_) => Err(AppError::validation(
                "top_k",
                format!("must be between 1 and {MAX_TOP_K}"),
            )),
        }
    }

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
        let top_k = self.top_k();
        if let Err(AppError::Validation { errors: more, .. }) = &top_k {
            errors.extend(more.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(AppError::invalid_fields(errors));
        }
        top_k
    }
}

/// The one system message in front of a conversation: the tenant's prompt, then the passages.
pub fn system_message(prompt: &str, passages: &[Passage]) -> String {
    if passages.is_empty() {
        return prompt.to_owned();
    }
    let mut text = String::with_capacity(
        prompt.len() + 200 + passages.iter().map(|p| p.text.len() + 80).sum::<usize>(),
    );
    text.push_str(prompt);
    text.push_str(
        "\n\nUse the passages below when they help answer. Each starts with its id in square \
         brackets; cite the passages you use by that id, e.g. [",
    );
    text.push_str(&passages[0].id);
    text.push_str("].\n");
    for passage in passages {
        let _ = write!(text, "\n[{}]", passage.id);
        if let Some(title) = passage.title.as_deref().filter(|t| !t.is_empty()) {
            let _ = write!(text, " {title}");
        }
        if let Some(source) = passage.source.as_deref().filter(|s| !s.is_empty()) {
            let _ = write!(text, " ({source})");
        }
        text.push('\n');
        text.push_str(passage.text.trim());
        text.push('\n');
    }
    text
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
        (status = 422, description = "empty message, unknown role, top_k out of range", body = ErrorBody),
        (status = 502, description = "the LLM or the vector store failed", body = ErrorBody),
        (status = 504, description = "the LLM or the vector store timed out", body = ErrorBody),
    ))]
pub async fn chat(
    State(state): State<AppState>,
    Retriever(retriever): Retriever,
    SystemPrompt(prompt): SystemPrompt,
    ValidJson(request): ValidJson<ChatRequest>,
) -> AppResult<Response> {
    let top_k = request.validate()?;
    let query = crate::routes::search::clip_query(request.message.trim());
    let sources = retriever.search(query, top_k).await?;
    let llm = Llm::new(&state.http, &state.config.llm);
    if !llm.is_configured() {
        return Ok(retrieval_only(sources, request.stream));
    }

    let system = system_message(&prompt, &sources);
    let mut messages = Vec::with_capacity(request.history.len() + 2);
    messages.push(ChatMessage {
        role: "system",
        content: Cow::Owned(system),
    });
    messages.extend(request.history.iter().map(|turn| ChatMessage {
        role: turn.role.as_str(),
        content: Cow::Borrowed(turn.content.as_str()),
    }));
    messages.push(ChatMessage {
        role: "user",
        content: Cow::Borrowed(request.message.as_str()),
    });
    let upstream = ChatCompletionRequest {
        model: &state.config.llm.chat_model,
        messages,
        stream: request.stream,
        stream_options: request.stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };

    if request.stream {
        // Wait for the upstream's headers first, so a refusal is a proper 502/504 status
        // rather than an error event after a 200.
        let events = llm.stream(&upstream).await?;
        return Ok(sse(answer_events(sources, events)));
    }
    let completion = llm.complete(&upstream).await?;
    Ok(Json(ChatResponse {
        answer: Some(completion.content().unwrap_or_default().to_owned()),
        model: completion
            .model
            .clone()
            .or_else(|| Some(state.config.llm.chat_model.clone())),
        usage: completion.usage,
        sources,
        mode: ChatMode::Generated,
    })
    .into_response())
}

fn retrieval_only(sources: Vec<Passage>, stream: bool) -> Response {
    if !stream {
        return Json(ChatResponse {
            answer: None,
            sources,
            model: None,
            usage: None,
            mode: ChatMode::RetrievalOnly,
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

/// What is left to send of a streamed answer.
struct Answer {
    upstream: ChatStream,
    model: Option<String>,
    usage: Option<Value>,
    finish_reason: Option<String>,
}

/// `sources`, then one `delta` per upstream chunk with text, then `done` or `error`.
fn answer_events(sources: Vec<Passage>, upstream: ChatStream) -> impl Stream<Item = Event> + Send {
    let first = json_event(
        "sources",
        &SourcesEvent {
            sources: &sources,
            mode: ChatMode::Generated,
        },
    );
    let state = Answer {
        upstream,
        model: None,
        usage: None,
        finish_reason: None,
    };
    let rest = futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            match state.upstream.next().await {
                Some(Ok(StreamEvent::Chunk(chunk))) => {
                    if chunk.model.is_some() {
                        state.model.clone_from(&chunk.model);
                    }
                    if chunk.usage.is_some() {
                        state.usage.clone_from(&chunk.usage);
                    }
                    if let Some(reason) = chunk.finish_reason() {
                        state.finish_reason = Some(reason.to_owned());
                    }
                    if let Some(content) = chunk.content() {
                        let event = json_event("delta", &DeltaEvent { content });
                        return Some((event, Some(state)));
                    }
                }
                Some(Ok(StreamEvent::Done)) | None => {
                    let done = DoneEvent {
                        usage: state.usage.take(),
                        model: state.model.take(),
                        finish_reason: state.finish_reason.take(),
                        mode: ChatMode::Generated,
                    };
                    return Some((json_event("done", &done), None));
                }
                Some(Err(error)) => {
                    tracing::warn!(detail = %error, "LLM stream failed after it started");
                    return Some((json_event("error", &error.body()), None));
                }
            }
        }
    });
    futures::stream::once(async move { first }).chain(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(id: &str, text: &str) -> Passage {
        Passage {
            id: id.into(),
            score: 1.0,
            title: Some(format!("Title {id}")),
            source: Some("handbook.md".into()),
            text: text.into(),
            metadata: Value::Null,
        }
    }

    #[test]
    fn system_message_is_the_prompt_alone_without_passages() {
        assert_eq!(system_message("Be brief.", &[]), "Be brief.");
    }

    #[test]
    fn system_message_lists_passages_under_their_ids() {
        let text = system_message(
            "Be brief.",
            &[
                passage("doc-1", "Alpha facts."),
                passage("doc-2", " Beta facts.\n"),
            ],
        );
        assert!(text.starts_with("Be brief.\n\n"), "{text}");
        assert!(
            text.contains("[doc-1] Title doc-1 (handbook.md)\nAlpha facts.\n"),
            "{text}"
        );
        assert!(
            text.contains("[doc-2] Title doc-2 (handbook.md)\nBeta facts.\n"),
            "{text}"
        );
        assert!(text.find("[doc-1] Title").unwrap() < text.find("[doc-2] Title").unwrap());
    }
}
