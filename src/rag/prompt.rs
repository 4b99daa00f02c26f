//! What `/chat` and `/v1/chat/completions` share about the prompt: what is retrieved for a
//! message (`retrieve`, the query clipped first), the messages that go upstream (`assemble`:
//! one system message with the tenant's prompt, then the retrieved passages under their ids,
//! in front of the conversation), and the bounds of `top_k`.
//!
//! Not here: the HTTP shapes of either route (`crate::http::routes::{chat, openai}`), the
//! check of a request's `top_k` (`crate::http::routes::params`), the LLM client (`super::llm`).

use std::fmt::Write as _;

use crate::errors::AppResult;
use crate::rag::retrieval::{Passage, Retriever};

pub const DEFAULT_TOP_K: usize = 5;
pub const MAX_TOP_K: i64 = 50;
pub const MAX_QUERY_CHARS: usize = 4000;

/// At most the first `MAX_QUERY_CHARS` characters of `text`: what `/chat` and
/// `/v1/chat/completions` hand to retrieval. A whole 100,000-character message made one
/// full-text query hold a connection for seconds (and 60 KB of `w1 w1 …` exceeded Postgres'
/// stack depth); the start of a message says enough about what to retrieve.
pub fn clip_query(text: &str) -> &str {
    match text.char_indices().nth(MAX_QUERY_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The passages retrieved for a chat message: the `top_k` best for its start (`clip_query`).
pub async fn retrieve(
    retriever: &dyn Retriever,
    message: &str,
    top_k: usize,
) -> AppResult<Vec<Passage>> {
    retriever.search(clip_query(message.trim()), top_k).await
}

/// The messages that go upstream, in order: the one system message (`system_message`), then
/// the conversation as the caller gave it. `message(role, content)` makes a message of the
/// caller's kind (`/chat`'s typed messages, `/v1/chat/completions`' JSON objects).
pub fn assemble<M>(
    prompt: &str,
    passages: &[Passage],
    conversation: impl IntoIterator<Item = M>,
    message: impl FnOnce(&'static str, String) -> M,
) -> Vec<M> {
    let conversation = conversation.into_iter();
    let mut messages = Vec::with_capacity(conversation.size_hint().0 + 1);
    messages.push(message("system", system_message(prompt, passages)));
    messages.extend(conversation);
    messages
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

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
    fn the_system_message_goes_first() {
        let messages = assemble(
            "Be brief.",
            &[passage("doc-1", "Alpha facts.")],
            [("user", "hi".to_owned())],
            |role, content| (role, content),
        );
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].0, "system");
        assert!(
            messages[0].1.starts_with("Be brief.\n\n"),
            "{}",
            messages[0].1
        );
        assert_eq!(messages[1], ("user", "hi".to_owned()));
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
