//! The core error type: what went wrong, in the words of the domain, with no HTTP in it.
//!
//! Services, identity, retrieval and the tenant cache return `AppError`; the command line and
//! the HTTP layer both report it. Each variant is one kind of failure of the contract
//! (`missing_token`, `not_found`, `validation_error`, …) and its `Display` is the sentence a
//! caller may read (its `detail`). Causes the caller must not see (database, upstream, bugs)
//! are kept in `Internal`, `Upstream` and `UpstreamTimeout` for the log, never in a `detail`;
//! nothing in a variant ever carries a token, key or password. Database errors become variants
//! here (`From<DieselError>`: unique violations become `Conflict` by constraint name, a closed
//! connection and an exhausted pool `Unavailable`).
//!
//! Not here: the status, `code`, JSON body and headers of an error response, and the logging
//! of the hidden causes: `crate::http::error` maps `AppError` to the contract once, at the edge.
//! The command line prints the `Display` (an internal error: its cause) after `error: `
//! (`crate::cli`).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

/// One invalid field of a request body, in the 422 body's `errors` list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("missing credentials")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("token has expired")]
    TokenExpired,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("incorrect email or password")]
    InvalidCredentials,
    #[error("token carries no usable tenant claim")]
    NoTenant,
    #[error("tenant is unknown or inactive")]
    TenantUnavailable,
    #[error("{0}")]
    Forbidden(&'static str),
    /// An API key without the scope the route needs (DESIGN §10).
    #[error("this API key lacks the scope `{0}` that this route needs")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The client did not send its announced body in time (`BODY_READ_TIMEOUT_SECONDS`).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("too many failed attempts; retry later")]
    RateLimited { retry_after_seconds: u64 },
    #[error("request limit reached ({limit} per minute); retry later")]
    RequestLimit {
        limit: u32,
        retry_after_seconds: u64,
    },
    #[error("the tenant's monthly token budget is spent")]
    QuotaExceeded,
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("database is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Validation { detail, errors }
    }

    /// An opaque 500 that keeps `cause` for the log: it is logged when the error becomes a
    /// response (`crate::http::error`), never shown to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::NotFound => Self::NotFound("not found".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let what = match info.constraint_name() {
                    Some("tenants_pkey") => "a tenant with this id already exists",
                    Some("tenants_id_lower_key") => {
                        "a tenant with this id in another case already exists"
                    }
                    Some("users_email_key") => "a user with this email already exists",
                    Some("documents_pkey") => "a document with this id already exists",
                    _ => "a record with these values already exists",
                };
                Self::Conflict(what.into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                match info.constraint_name() {
                    Some(name) if name.contains("tenant_id") => {
                        Self::validation("tenant_id", "no tenant with this id")
                    }
                    Some(name) if name.contains("org_id") => {
                        Self::validation("org_id", "no organization with this id")
                    }
                    _ => Self::internal(&error),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                match info.constraint_name() {
                    Some("tenants_id_format") => Self::validation("id", "invalid tenant id"),
                    Some("tenants_retriever_kind") => {
                        Self::validation("retriever", "must be builtin, pinecone or none")
                    }
                    _ => Self::internal(&error),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Self::Unavailable,
            DieselError::DatabaseError(_, info) => {
                let message = info.message();
                if message.contains("statement timeout") {
                    // `RETRIEVAL_STATEMENT_TIMEOUT_MS` cut a retrieval query short.
                    Self::UpstreamTimeout("the search took longer than the gateway allows".into())
                } else if message.contains("stack depth limit exceeded")
                    || message.contains("too big in tsquery")
                    || message.contains("too long for tsvector")
                {
                    Self::validation("query", "is too complex to search")
                } else {
                    Self::internal(&error)
                }
            }
            _ => Self::internal(&error),
        }
    }
}

impl From<crate::store::db::PoolError> for AppError {
    fn from(error: crate::store::db::PoolError) -> Self {
        tracing::warn!(error = %error, "could not get a database connection");
        Self::Unavailable
    }
}

impl AppError {
    /// Rebuilds an error shared by a single-flight cache load (moka hands out `Arc<AppError>`).
    pub fn from_shared(shared: std::sync::Arc<AppError>) -> Self {
        match &*shared {
            Self::Unavailable => Self::Unavailable,
            Self::Upstream(detail) => Self::Upstream(detail.clone()),
            Self::UpstreamTimeout(detail) => Self::UpstreamTimeout(detail.clone()),
            // The cause, not the variant's "internal error": a tenant whose secret does not
            // decrypt must be logged with its id and the reason (never the value).
            Self::Internal(cause) => Self::Internal(cause.clone()),
            other => Self::Internal(other.to_string()),
        }
    }
}
