//! HTTP handlers, one module per resource; `crate::http::router` says which path goes where.

pub mod admin;
pub mod chat;
pub mod console;
pub mod conversations;
pub mod documents;
pub mod health;
pub mod openai;
pub mod params;
pub mod search;
pub mod session;
pub mod tenant;
pub mod usage;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::errors::{AppError, AppResult, FieldError};

/// `Json<T>` whose rejections speak the contract: malformed JSON, a wrong content type or a
/// field of the wrong type is 422 `validation_error` with the offending field when known;
/// an oversized body is 413.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        // Read the bytes first (under the body limit, which the extractor reads from the
        // request's extensions) so a NUL can be refused before anything is parsed into `T`.
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    AppError::validation("body", "request body could not be read")
                }
            })?;
        refuse_nul_in_json(&bytes)?;
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// The message of every field refused for holding a NUL character.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (\\u0000)";

/// Postgres stores no NUL in `text` or `jsonb` (tokio-postgres fails the whole statement, which
/// would be a 500), so a JSON body holding one anywhere is refused as a 422 naming the field.
/// The scan is a byte search for the escape `\u0000` (the only way JSON can carry a NUL); the
/// body is parsed a second time only to name the field when one is found.
pub fn refuse_nul_in_json(bytes: &[u8]) -> AppResult<()> {
    if !has_nul_escape(bytes) {
        return Ok(());
    }
    let field = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|value| nul_path(&value, String::new()));
    match field {
        Some(field) => Err(AppError::validation(&field, NUL_MESSAGE)),
        // Not valid JSON after all (or `\\u0000`, an escaped backslash): let the parser say.
        None => Ok(()),
    }
}

/// Whether `bytes` hold a `\u0000` escape: a backslash preceded by an even number of
/// backslashes (an odd number would make it an escaped backslash followed by text).
fn has_nul_escape(bytes: &[u8]) -> bool {
    memchr::memmem::find_iter(bytes, b"\\u0000").any(|at| {
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        backslashes % 2 == 0
    })
}

/// The path (`documents[0].metadata.note`) of the first string or key holding a NUL.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let join = |path: &str, key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                // The key itself cannot be quoted back; name where it sits.
                return Some(if path.is_empty() {
                    "body".to_owned()
                } else {
                    path.clone()
                });
            }
            nul_path(item, join(&path, key))
        }),
        _ => None,
    }
}

pub fn json_rejection(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::PayloadTooLarge;
    }
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body (Content-Type: application/json)".to_owned()
        }
        JsonRejection::JsonSyntaxError(_) => "body is not valid JSON".to_owned(),
        JsonRejection::JsonDataError(e) => data_error_message(&e.body_text()),
        _ => "request body could not be read".to_owned(),
    };
    let field = field_of(&rejection).unwrap_or_else(|| "body".to_owned());
    AppError::invalid_fields(vec![FieldError::new(field, message)])
}

/// serde's messages read "Failed to deserialize the JSON body into the target type: name:
/// invalid type ... at line 1 column 10"; keep the part after the path.
fn data_error_message(text: &str) -> String {
    let text =
        text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
    match text.split_once(": ") {
        Some((_, rest)) if !rest.is_empty() => rest.to_owned(),
        _ => text.to_owned(),
    }
}

fn field_of(rejection: &JsonRejection) -> Option<String> {
    let JsonRejection::JsonDataError(e) = rejection else {
        return None;
    };
    let text = e.body_text();
    let text =
        text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
    // `#[serde(deny_unknown_fields)]`: "unknown field `nmae`, expected one of …".
    if let Some(rest) = text.find("unknown field `").map(|i| &text[i + 15..]) {
        return rest.split('`').next().map(str::to_owned);
    }
    if let Some(rest) = text.strip_prefix("missing field `") {
        return rest.split('`').next().map(str::to_owned);
    }
    if let Some(rest) = text.find("missing field `").map(|i| &text[i + 15..]) {
        return rest.split('`').next().map(str::to_owned);
    }
    let (path, _) = text.split_once(": ")?;
    (path != "." && !path.contains(' ')).then(|| path.to_owned())
}

/// Query strings with the same error shape as bodies.
pub struct ValidQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ValidQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(AppError::validation("query", rejection.body_text())),
        }
    }
}

/// A looked-up object, or 404 `not_found` naming `what` when there is none.
pub fn found<T>(object: Option<T>, what: &str) -> AppResult<T> {
    object.ok_or_else(|| AppError::not_found(what))
}

/// The answer of a `DELETE`: 204, or 404 `not_found` naming `what` when nothing was deleted.
pub fn deleted(deleted: bool, what: &str) -> AppResult<StatusCode> {
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(what))
    }
}
