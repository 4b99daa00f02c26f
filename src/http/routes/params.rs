//! The parameters handlers share, each checked in one place: a list's `limit` and `offset`
//! (`Page`, `page`, `limit`), a search's `top_k` (`top_k`), and the `{id}` of a path
//! (`TenantPath`, `OrgPath`, `UserPath`, `ConversationPath`).
//!
//! A path type describes its parameter for OpenAPI (`params(TenantPath)`) and is what the
//! handler extracts (`Path(TenantPath { id })`). Ids stay strings: one that is not a UUID is a
//! 404 of the handler's (as an unknown one is), not a rejection of the extractor.
//!
//! Not here: query types of a single route (`UsageQuery`, `AuditQuery`, the admin lists with
//! their filters), which call `page`/`limit` for their bounds.

use serde::Deserialize;

use crate::errors::{AppError, AppResult, FieldError};
use crate::rag::prompt::{DEFAULT_TOP_K, MAX_TOP_K};

/// The bounds of `limit`, and its default.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// `?limit=&offset=` of a plain list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Page {
    /// `(limit, offset)`, checked as `page` does.
    pub fn checked(&self) -> AppResult<(i64, i64)> {
        page(self.limit, self.offset)
    }
}

/// `limit` (default 100, 1–1000) of a list.
pub fn limit(limit: Option<i64>) -> AppResult<i64> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// `limit` (default 100, 1–1000) and `offset` (default 0) of a list.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> AppResult<(i64, i64)> {
    let limit = self::limit(limit)?;
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::validation("offset", "must not be negative"));
    }
    Ok((limit, offset))
}

/// `top_k` of `/search` and `/chat`: default 5, 1–50. The error is the field's, so a route
/// can report it with its other fields.
pub fn top_k(top_k: Option<i64>) -> Result<usize, FieldError> {
    match top_k {
        None => Ok(DEFAULT_TOP_K),
        Some(k) if (1..=MAX_TOP_K).contains(&k) => Ok(usize::try_from(k).unwrap_or(DEFAULT_TOP_K)),
        Some(_) => Err(FieldError::new(
            "top_k",
            format!("must be between 1 and {MAX_TOP_K}"),
        )),
    }
}

/// `{id}` of `/admin/tenants/{id}…`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// tenant id
    pub id: String,
}

/// `{id}` of `/admin/orgs/{id}…`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// organization id
    pub id: String,
}

/// `{id}` of `/admin/users/{id}…`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// user id
    #[param(value_type = uuid::Uuid)]
    pub id: String,
}

/// `{id}` of `/conversations/{id}`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConversationPath {
    /// conversation id
    #[param(value_type = uuid::Uuid)]
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::HttpError;

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None).expect("defaults"), (100, 0));
        assert_eq!(page(Some(1000), Some(5)).expect("in range"), (1000, 5));
        for (limit, offset) in [(Some(0), None), (Some(1001), None), (None, Some(-1))] {
            let error = page(limit, offset).expect_err("out of range");
            assert_eq!(error.code(), "validation_error");
        }
    }

    #[test]
    fn top_k_is_bounded() {
        assert_eq!(top_k(None).ok(), Some(DEFAULT_TOP_K));
        assert_eq!(top_k(Some(50)).ok(), Some(50));
        for bad in [0, 51] {
            let error = top_k(Some(bad)).expect_err("out of range");
            assert_eq!(
                (error.field.as_str(), error.message.as_str()),
                ("top_k", "must be between 1 and 50")
            );
        }
    }
}
