//! Ingesting documents, shared by `POST /documents` and `tenantgate ingest`: validation,
//! ids, splitting text into overlapping chunks, and the write through the tenant's retriever.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use text_splitter::{ChunkConfig, TextSplitter};

use crate::errors::{AppError, AppResult, FieldError};
use crate::rag::retrieval::{ChunkedDocument, Retriever};

/// Characters per chunk at most, and how many of them repeat from the previous chunk, so a
/// sentence cut at a boundary is still whole in one of the two.
pub const CHUNK_CHARS: usize = 1000;
pub const CHUNK_OVERLAP: usize = 200;
pub const MAX_DOCUMENTS: usize = 1000;
const MAX_ID: usize = 200;
const MAX_TITLE: usize = 1000;
const MAX_SOURCE: usize = 2048;

static SPLITTER: LazyLock<TextSplitter<text_splitter::Characters>> = LazyLock::new(|| {
    let config = ChunkConfig::new(CHUNK_CHARS)
        .with_overlap(CHUNK_OVERLAP)
        .unwrap_or_else(|_| ChunkConfig::new(CHUNK_CHARS));
    TextSplitter::new(config)
});

/// The body of `POST /documents`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct IngestRequest {
    pub documents: Vec<NewDocument>,
}

/// One document to store. Posting an `id` again replaces that document.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewDocument {
    /// Scoped to the tenant; generated (a UUID) when absent.
    pub id: Option<String>,
    pub title: Option<String>,
    #[serde(alias = "content")]
    pub text: String,
    /// Where the text comes from (a URL, a file name); returned with passages.
    pub source: Option<String>,
    /// A JSON object, returned with passages.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// The answer of `POST /documents`: the ids in input order and the number of chunks stored.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub ids: Vec<String>,
    pub chunks: usize,
}

/// Splits `text` into chunks of at most `CHUNK_CHARS` characters, on sentence and word
/// boundaries where it can, consecutive chunks sharing up to `CHUNK_OVERLAP` characters.
pub fn split(text: &str) -> Vec<String> {
    SPLITTER.chunks(text).map(str::to_owned).collect()
}

fn optional_text(
    errors: &mut Vec<FieldError>,
    field: String,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    let value = value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Some(value)
}

/// A document's id: the caller's, trimmed and checked, or a new UUID.
fn document_id(errors: &mut Vec<FieldError>, field: String, id: Option<String>) -> String {
    let Some(id) = id else {
        return uuid::Uuid::new_v4().to_string();
    };
    let id = id.trim().to_owned();
    if id.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if id.chars().count() > MAX_ID {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_ID} characters"),
        ));
    } else if id.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    id
}

/// A document's metadata: a JSON object (absent or null: an empty one).
fn metadata_object(
    errors: &mut Vec<FieldError>,
    field: String,
    metadata: Option<serde_json::Value>,
) -> serde_json::Value {
    match metadata {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(value @ serde_json::Value::Object(_)) => value,
        Some(_) => {
            errors.push(FieldError::new(field, "must be a JSON object"));
            serde_json::Value::Null
        }
    }
}

/// Validates and chunks; every problem of every document is reported at once.
pub fn prepare(documents: Vec<NewDocument>) -> AppResult<Vec<ChunkedDocument>> {
    let mut errors = Vec::new();
    if documents.is_empty() {
        errors.push(FieldError::new("documents", "must not be empty"));
    }
    if documents.len() > MAX_DOCUMENTS {
        errors.push(FieldError::new(
            "documents",
            format!("at most {MAX_DOCUMENTS} documents per request"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut prepared = Vec::with_capacity(documents.len());
    for (i, doc) in documents.into_iter().enumerate() {
        let field = |name: &str| format!("documents[{i}].{name}");
        let id = document_id(&mut errors, field("id"), doc.id);
        if !seen.insert(id.clone()) {
            errors.push(FieldError::new(
                field("id"),
                "appears more than once in this request",
            ));
        }
        let title = optional_text(&mut errors, field("title"), doc.title, MAX_TITLE);
        let source = optional_text(&mut errors, field("source"), doc.source, MAX_SOURCE);
        let metadata = metadata_object(&mut errors, field("metadata"), doc.metadata);
        // Postgres text cannot hold NUL; such input is a client error, not a 500.
        if doc.text.contains('\0') {
            errors.push(FieldError::new(
                field("text"),
                "must not contain NUL characters",
            ));
        }
        let chunks = split(&doc.text);
        if chunks.is_empty() {
            errors.push(FieldError::new(field("text"), "must not be empty"));
        }
        prepared.push(ChunkedDocument {
            id,
            title,
            source,
            metadata,
            chunks,
        });
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok(prepared)
}

/// Validates, chunks and stores documents through the tenant's retriever.
pub async fn ingest(
    retriever: &dyn Retriever,
    documents: Vec<NewDocument>,
) -> AppResult<IngestOutcome> {
    let prepared = prepare(documents)?;
    retriever.upsert(&prepared).await?;
    Ok(IngestOutcome {
        chunks: prepared.iter().map(|d| d.chunks.len()).sum(),
        ids: prepared.into_iter().map(|d| d.id).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_overlaps_within_bounds() {
        let sentence = "The quick brown fox jumps over the lazy dog near the river bank. ";
        let text = sentence.repeat(60);
        let chunks = split(&text);
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for chunk in &chunks {
            assert!(chunk.chars().count() <= CHUNK_CHARS);
        }
        // Consecutive chunks share text: the start of each is inside the one before.
        for pair in chunks.windows(2) {
            let head: String = pair[1].chars().take(40).collect();
            assert!(pair[0].contains(&head), "no overlap between chunks");
        }
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split("  hello world  "), vec!["hello world"]);
        assert!(split("   \n ").is_empty());
    }

    #[test]
    fn problems_are_reported_per_document() {
        let docs = vec![
            NewDocument {
                id: Some("a".into()),
                title: None,
                text: "x".into(),
                source: None,
                metadata: Some(serde_json::json!([1])),
            },
            NewDocument {
                id: Some("a".into()),
                title: None,
                text: " ".into(),
                source: None,
                metadata: None,
            },
        ];
        let Err(AppError::Validation { errors, .. }) = prepare(docs) else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "documents[0].metadata",
                "documents[1].id",
                "documents[1].text"
            ]
        );
    }
}
